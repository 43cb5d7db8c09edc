"""`tally report`: one self-contained HTML file of usage, cost, errors, lateness and the
reconciliation's verdict (figures.py reads the figures, charts.py draws them as SVG, page.py
writes the page)."""

from pathlib import Path

from tally.database import connect
from tally.errors import TallyError
from tally.report.figures import Figures, read_figures
from tally.report.page import render
from tally.targets import POSTGRES_TARGETS


def write_report(target: str, org_id: str | None, out: Path) -> Figures:
    """Read the figures of the scope (every organization, or one organization's month) and
    write the page to `out`; returns the figures."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise TallyError(f"cannot write a report to '{out.name}': the file name must end in .html")
    if target not in POSTGRES_TARGETS:
        raise TallyError(f"target '{target}' has no report yet; choose one of: "
                         + ", ".join(POSTGRES_TARGETS))
    with connect(target) as conn:
        (served,) = conn.execute(
            "select to_regclass('analytics.fct_usage_daily_by_model')"
        ).fetchone()
        if served is None:
            raise TallyError("no rollup tables yet: run `tally load` and `tally rollup`")
        figures = read_figures(conn, org_id)
    out.write_text(render(figures, target), encoding="utf-8")
    return figures
