"""`tally report`: one HTML file that a real headless Chromium opens without a console message,
draws (a screenshot that is not blank), and whose numbers equal the tables' (read back from the
DOM Chromium built). Needs Debian's chromium (`make chromium`); skipped without it."""

import json
import os
import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import query, run_tally
from rollup_harness import Pipeline, copy_project, reset_database
from tally.cli import cli

CHROMIUM = shutil.which("chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
)
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)")
NOW = datetime.now(UTC).replace(microsecond=0)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (make chromium)"
)


def chromium(page: Path, tmp: Path, *args: str) -> tuple[str, list[str]]:
    """Open `page` in a fresh profile; returns stdout and the page's console messages."""
    profile = tmp / f"profile-{uuid.uuid4().hex}"
    profile.mkdir()
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )
    return done.stdout, [m[1] for m in map(CONSOLE.search, done.stderr.splitlines()) if m]


class _Figures(HTMLParser):
    """The page's JSON block and its headline numbers (data-metric -> data-value, text)."""

    def __init__(self):
        super().__init__()
        self.data, self.metrics, self._in_data, self._metric = "", {}, False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._in_data = tag == "script" and attrs.get("id") == "tally-data"
        if "data-metric" in attrs:
            self._metric = attrs["data-metric"]
            self.metrics[self._metric] = [attrs["data-value"], ""]

    def handle_data(self, data):
        if self._in_data:
            self.data += data
        elif self._metric:
            self.metrics[self._metric][1] += data

    def handle_endtag(self, tag):
        self._in_data, self._metric = False, None


def _event(i, org, model, hours_ago, status="success"):
    return {
        "event_id": f"r{i}",
        "org_id": org,
        "user_id": f"u{i % 3}",
        "api_key_id": f"k{i % 2}",
        "model_id": model,
        "event_time": (NOW - timedelta(hours=hours_ago)).isoformat(),
        "input_tokens": 900 + i,
        "output_tokens": 40 * i,
        "status": status,
    }


@pytest.fixture(scope="module")
def rolled_up(db_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    os.environ["TALLY_PROJECT_DIR"] = str(copy_project(tmp / "project"))
    reset_database(db_url)
    (tmp / "files").mkdir()
    pipeline = Pipeline(Path(os.environ["TALLY_PROJECT_DIR"]), db_url, tmp / "files")
    models = ["gpt-4o", "claude-3-5-sonnet", "gpt-4o-mini", "model-without-price"]
    pipeline.load(
        "events",
        [
            _event(i, f"org_{i % 3}", models[i % 4], hours_ago=(i * 7) % 400,
                   status="error" if i % 5 == 0 else "success")
            for i in range(120)
        ],
    )
    pipeline.load("events", [_event(500, "org_1", "gpt-4o", hours_ago=24 * 45)])  # 45 days late
    pipeline.load("voids", [{"event_id": "r7", "voided_at": NOW.isoformat()}])
    pipeline.rollup()
    yield pipeline
    os.environ.pop("TALLY_PROJECT_DIR")


def _write(tmp_path, *args):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _served(url, where="", params=()):
    return query(
        url,
        "select coalesce(sum(priced_cost_usd), 0), coalesce(sum(request_count), 0),"
        " coalesce(sum(error_count), 0) from analytics.fct_usage_daily_by_model" + where,
        params,
    )[0]


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("scope", ["all", "org"])
def test_chromium_opens_the_report_draws_it_and_shows_the_tables_numbers(
    rolled_up, tmp_path, scope
):
    args = ["--org", "org_1"] if scope == "org" else []
    page = _write(tmp_path, *args)
    html = page.read_text()
    assert not re.search(r"\b(src|href)=|url\(|@import", html), "the page must load nothing"

    dom, console = chromium(page, tmp_path, "--dump-dom")
    assert console == []
    figures = _Figures()
    figures.feed(dom)
    data = json.loads(figures.data)

    # the headline numbers equal the serving table's, as data and as text
    first, last = data["first_date"], data["last_date"]
    where = " where usage_date between %s and %s"
    params = [first, last]
    if scope == "org":
        where += " and org_id = %s"
        params.append("org_1")
    cost, requests, errors = _served(rolled_up.url, where, params)
    assert Decimal(figures.metrics["cost_usd"][0]) == cost
    assert figures.metrics["cost_usd"][1] == f"${cost:,.2f}"
    assert int(figures.metrics["request_count"][0]) == requests
    assert figures.metrics["request_count"][1] == f"{requests:,}"
    expected_ratio = float(errors) / float(requests)
    assert float(figures.metrics["error_ratio"][0]) == pytest.approx(expected_ratio, abs=1e-6)
    assert figures.metrics["reconciliation"] == ["ok", "ok"]

    # every series drawn equals the table, row for row
    by_day = query(
        rolled_up.url,
        "select usage_date::text, model_id, sum(request_count), sum(priced_cost_usd)"
        " from analytics.fct_usage_daily_by_model" + where + " group by 1, 2 order by 1, 2",
        params,
    )
    assert [
        (r["usage_date"], r["model_id"], r["request_count"], Decimal(r["priced_cost_usd"]))
        for r in data["by_day_and_model"]
    ] == [tuple(row) for row in by_day]
    unpriced = query(
        rolled_up.url,
        "select model_id, sum(unpriced_request_count) from analytics.fct_usage_daily_by_model"
        + (" where org_id = 'org_1'" if scope == "org" else "")
        + " group by 1 having sum(unpriced_request_count) > 0",
    )
    assert [(u["model_id"], u["unpriced_request_count"]) for u in data["unpriced"]] == unpriced
    assert unpriced, "the data has unpriced events"
    assert sum(b["event_count"] for b in data["lateness"]) == query(
        rolled_up.url,
        "select count(*) from raw.events" + (" where org_id = 'org_1'" if scope == "org" else ""),
    )[0][0]
    assert data["lateness"][-1] == {"bucket": "over 30 days", "event_count": 1}
    if scope == "all":
        top = query(
            rolled_up.url,
            "select org_id, sum(priced_cost_usd) from analytics.fct_usage_daily_by_model"
            + where + " group by 1 order by 2 desc, 1",
            params,
        )
        assert [(o["org_id"], Decimal(o["priced_cost_usd"])) for o in data["organizations"]] == top


@pytest.mark.slow
@needs_chromium
def test_the_screenshot_is_not_blank(rolled_up, tmp_path):
    from PIL import Image, ImageStat

    page = _write(tmp_path)
    shot = tmp_path / "report.png"
    _, console = chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1000,1400")
    assert console == []
    image = Image.open(shot).convert("L")
    assert image.size == (1000, 1400)
    assert ImageStat.Stat(image).stddev[0] > 20, "a blank or flat screenshot"
    colors = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colors) > 50, "no chart drawn"


@pytest.mark.slow
@needs_chromium
def test_the_console_check_sees_errors(tmp_path):
    """The check above could fail: a page that logs an error and throws is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<script>console.error("seen"); throw new Error("boom")</script>')
    _, console = chromium(page, tmp_path, "--dump-dom")
    assert any("seen" in line for line in console)
    assert any("Uncaught Error: boom" in line for line in console)


def test_an_unknown_organization_or_file_type_is_one_line(rolled_up, tmp_path):
    for args, message in (
        (["--org", "nobody", "--out", str(tmp_path / "r.html")],
         "Error: no usage for organization 'nobody'"),
        (["--out", str(tmp_path / "r.pdf")],
         "Error: cannot write a report to 'r.pdf': the file name must end in .html"),
    ):
        result = run_tally("report", *args, check=False)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [message]
    assert list(tmp_path.iterdir()) == []
