"""The report's one HTML file: styles and SVG charts inline, no script that runs, no request
to anywhere. Every figure shown is also in a `<script type="application/json" id="tally-data">`
block, and each headline number carries its exact value in `data-value`, so that a program (or
a test) reads back exactly what a person sees."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from html import escape

from tally.report import charts
from tally.report.figures import Figures

SHOWN_MODELS = 8  # models drawn in their own color; the rest stack as "other"
ERROR_MODELS = 15  # the busiest models in the error ratio chart

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 0; background: #f6f8fa; }
main { max-width: 920px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 0 0 10px; }
.sub { color: #57606a; margin: 0 0 18px; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 16px 18px;
          margin: 0 0 16px; }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.kpi { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 12px 14px; }
.kpi b { display: block; font-size: 20px; } .kpi small { color: #57606a; }
.verdict-ok { color: #1a7f37; } .verdict-mismatch, .verdict-missing { color: #cf222e; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid #eaeef2; }
th:first-child, td:first-child { text-align: left; }
.legend { list-style: none; padding: 0; margin: 6px 0 0; display: flex; flex-wrap: wrap;
          gap: 4px 14px; color: #57606a; font-size: 12px; }
.legend span { display: inline-block; width: 10px; height: 10px; margin-right: 5px;
               border-radius: 2px; }
svg .grid { stroke: #eaeef2; } svg .tick { fill: #57606a; font-size: 11px; }
svg .name, svg .value { fill: #1f2328; font-size: 12px; }
.note { color: #57606a; font-size: 12px; margin: 8px 0 0; }
"""


def money(value) -> str:
    return f"${Decimal(value or 0):,.2f}"


def _number(name: str, value, shown: str) -> str:
    return f'<b data-metric="{name}" data-value="{escape(str(value))}">{escape(shown)}</b>'


def _ratio(errors, requests) -> float:
    return float(errors) / float(requests) if requests else 0.0


def _series(figures: Figures, measure: str) -> tuple[list[str], list, list[tuple[str, str]]]:
    """Dates of the period, one series per shown model (+ other), and the legend."""
    days = (figures.last_date - figures.first_date).days + 1
    dates = [
        datetime.fromordinal(figures.first_date.toordinal() + i).date().isoformat()
        for i in range(days)
    ]
    shown = [m["model_id"] for m in figures.models[:SHOWN_MODELS]]
    names = [*shown, "other"] if len(figures.models) > SHOWN_MODELS else shown
    values = {name: [0.0] * days for name in names}
    for row in figures.by_day_and_model:
        name = row["model_id"] if row["model_id"] in shown else "other"
        values[name][dates.index(row["usage_date"].isoformat())] += float(row[measure] or 0)
    colors = {name: charts.color(i) for i, name in enumerate(shown)} | {
        "other": charts.OTHER_COLOR
    }
    series = [(name, colors[name], values[name]) for name in names]
    return dates, series, [(name, colors[name]) for name in names]


def _kpis(figures: Figures) -> str:
    totals, recon = figures.totals, figures.reconciliation
    requests = totals["request_count"] or 0
    error_ratio = _ratio(totals["error_count"], requests)
    verdict = {
        "ok": f"agree on all {recon['compared']:,} organization-days",
        "mismatch": f"{recon['mismatched']:,} of {recon['compared']:,} organization-days differ",
        "missing": "no reconciliation report: run tally rollup",
    }[recon["verdict"]]
    return (
        '<div class="kpis">'
        f'<div class="kpi"><small>Cost (priced requests)</small>'
        f'{_number("cost_usd", totals["priced_cost_usd"] or 0, money(totals["priced_cost_usd"]))}'
        "</div>"
        f'<div class="kpi"><small>Requests</small>'
        f'{_number("request_count", requests, f"{requests:,}")}'
        "</div>"
        f'<div class="kpi"><small>Error ratio</small>'
        f'{_number("error_ratio", round(error_ratio, 6), f"{error_ratio:.2%}")}</div>'
        f'<div class="kpi"><small>Reconciliation with raw events</small>'
        f'<b class="verdict-{recon["verdict"]}" data-metric="reconciliation"'
        f' data-value="{recon["verdict"]}">{recon["verdict"]}</b><small>{verdict}</small></div>'
        "</div>"
    )


def _usage_by_day(figures: Figures) -> str:
    parts = []
    for measure, title, unit in (
        ("priced_cost_usd", "Cost by day and model", "$"),
        ("request_count", "Requests by day and model", ""),
    ):
        dates, series, legend = _series(figures, measure)
        parts.append(
            f"<section><h2>{title}</h2>"
            + charts.stacked_bars(dates, series, unit, title)
            + charts.legend(legend)
            + "</section>"
        )
    return "".join(parts)


def _organizations(figures: Figures) -> str:
    if figures.org_id is not None:
        rows = "".join(
            f"<tr><td>{escape(m['model_id'])}</td><td>{m['request_count']:,}</td>"
            f"<td>{m['total_tokens']:,}</td><td>{money(m['priced_cost_usd'])}</td>"
            f"<td>{m['unpriced_request_count']:,}</td></tr>"
            for m in figures.models
        )
        return (
            f"<section><h2>The month's bill of {escape(figures.org_id)}, by model</h2>"
            "<table><tr><th>model</th><th>requests</th><th>tokens</th><th>cost</th>"
            f"<th>unpriced requests</th></tr>{rows}</table></section>"
        )
    bars = [
        (o["org_id"], float(o["priced_cost_usd"]), money(o["priced_cost_usd"]))
        for o in figures.organizations
    ]
    return (
        f"<section><h2>Top {len(bars)} organizations by cost</h2>"
        + charts.horizontal_bars(bars, "$", "Top organizations by cost")
        + "</section>"
    )


def _errors(figures: Figures) -> str:
    busiest = sorted(figures.models, key=lambda m: -m["request_count"])[:ERROR_MODELS]
    bars = [
        (
            m["model_id"],
            _ratio(m["error_count"], m["request_count"]),
            f"{_ratio(m['error_count'], m['request_count']):.2%}"
            f" of {m['request_count']:,}",
        )
        for m in sorted(busiest, key=lambda m: -_ratio(m["error_count"], m["request_count"]))
    ]
    title = (
        f"Error ratio of the {len(busiest)} busiest models"
        if len(figures.models) > ERROR_MODELS
        else "Error ratio by model"
    )
    return (
        f"<section><h2>{title}</h2>"
        + charts.horizontal_bars(bars, "", "Error ratio by model")
        + "</section>"
    )


def _lateness(figures: Figures) -> str:
    buckets = [(b["bucket"], b["event_count"]) for b in figures.lateness]
    return (
        "<section><h2>How late events arrive</h2>"
        + charts.histogram(buckets, "Events by lateness")
        + '<p class="note">Lateness = when the event\'s file was loaded minus its event time,'
        " every event ever loaded (log scale). A rollup counts late events whatever their age;"
        " this is what it had to catch up on.</p></section>"
    )


def _unpriced(figures: Figures) -> str:
    if not figures.unpriced:
        body = '<p data-metric="unpriced_request_count" data-value="0">Every request is priced.</p>'
    else:
        total = sum(u["unpriced_request_count"] for u in figures.unpriced)
        rows = "".join(
            f"<tr><td>{escape(u['model_id'])}</td><td>{u['unpriced_request_count']:,}</td></tr>"
            for u in figures.unpriced
        )
        body = (
            f'<p><b data-metric="unpriced_request_count" data-value="{total}">{total:,}</b>'
            " requests have no price row in effect for their model and tier; their cost is left"
            " out of every total above until a price is added and `tally rollup` runs.</p>"
            f"<table><tr><th>model</th><th>unpriced requests</th></tr>{rows}</table>"
        )
    return f"<section><h2>Unpriced events (all time)</h2>{body}</section>"


def render(figures: Figures, target: str) -> str:
    scope = (
        f"organization {figures.org_id}, {figures.first_date:%B %Y} (its local dates)"
        if figures.org_id
        else f"all organizations, {figures.first_date} to {figures.last_date}"
    )
    data = json.dumps(figures.as_json(), separators=(",", ":")).replace("</", "<\\/")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tally report: {escape(scope)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>Usage and cost</h1><p class=\"sub\">{escape(scope)} &middot; target {escape(target)}"
        f" &middot; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>"
        + _kpis(figures)
        + "<p></p>"
        + _usage_by_day(figures)
        + _organizations(figures)
        + _errors(figures)
        + _lateness(figures)
        + _unpriced(figures)
        + f'<script type="application/json" id="tally-data">{data}</script>'
        + "</main></body></html>"
    )
