"""`tally metrics`: the Prometheus text exposition computed from the database, checked by
promtool, and scraped by a real Prometheus whose query API reads the values back."""

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from conftest import PROJECT_DIR, query, run_tally
from prometheus_tools import DASHBOARD, RULES, free_port, require
from tally.metrics import METRICS, parse_address
from test_audit import event, write_jsonl


def samples(exposition: str) -> dict[str, float]:
    """`name{labels}` -> value, for every sample line."""
    values = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_an_empty_database_gives_every_metric_its_empty_value(clean_db):
    text = run_tally("metrics").stdout
    assert [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")] == [
        metric.name for metric in METRICS
    ]
    values = samples(text)
    assert values["tally_events_loaded_total"] == 0
    assert values["tally_rollup_lag_seconds"] == 0
    assert values["tally_reconciliation_mismatches"] == 0
    assert not any("{" in name for name in values)  # labelled metrics: no sample yet
    assert not query(clean_db, "select to_regclass('raw.load_batches')")[0][0]  # wrote nothing
    promtool = require("promtool")
    subprocess.run([promtool, "check", "metrics"], input=text, text=True, check=True)


def test_metrics_follow_the_ledger(clean_db, tmp_path):
    first = write_jsonl(tmp_path / "events_1.jsonl", [event("m1"), event("m2"), {"x": 1}])
    second = write_jsonl(tmp_path / "events_2.jsonl", [event("m2"), event("m3")])
    assert run_tally("load", first, check=False).returncode == 3
    run_tally("load", second)
    values = samples(run_tally("metrics").stdout)
    assert values["tally_events_loaded_total"] == query(
        clean_db, "select count(*) from raw.events")[0][0] == 3
    assert values['tally_records_quarantined_total{kind="events"}'] == 1
    assert values['tally_records_duplicate_total{kind="events"}'] == 1
    assert values['tally_records_read_total{kind="events"}'] == 5
    assert values['tally_load_files_total{kind="events",status="loaded"}'] == 2
    assert values["tally_rollup_pending_batches"] == 2
    assert values["tally_rollup_lag_seconds"] > 0
    assert values['tally_last_run_failed{command="load"}'] == 0
    assert values['tally_runs_total{command="load",outcome="success"}'] == 2


def test_listen_refuses_a_bad_address_in_one_line():
    result = run_tally("metrics", "--listen", "nowhere", check=False)
    assert (result.returncode, result.stderr) == (
        1, "Error: --listen nowhere: expected HOST:PORT, :PORT or PORT\n")
    assert parse_address(":9464") == ("0.0.0.0", 9464)
    assert parse_address("9464") == ("127.0.0.1", 9464)
    assert parse_address("[::1]:9464") == ("::1", 9464)


class Prometheus:
    """A real Prometheus on 127.0.0.1, scraping `target` every second, with tally's rules."""

    def __init__(self, tmp_path, target: str):
        self.port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "tally", "static_configs": [{"targets": [target]}]}],
        }))
        self.process = subprocess.Popen(
            [require("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"),  # noqa: SIM115
        )

    def api(self, path: str, **params) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["data"]

    def value(self, expression: str, *, after: float = 0, timeout: float = 60) -> float:
        """The expression's value from a scrape made after `after` (Unix time)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                scraped = self.api("query", query=f"timestamp({expression})")["result"]
                if scraped and float(scraped[0]["value"][1]) > after:
                    return float(self.api("query", query=expression)["result"][0]["value"][1])
            except OSError:  # not listening yet
                pass
            time.sleep(0.5)
        raise AssertionError(f"Prometheus had no fresh {expression} within {timeout} s")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def check_dashboard(prometheus: Prometheus, url: str) -> None:
    """Every panel of the Grafana dashboard answers: its PromQL on the real Prometheus, its SQL
    (Grafana's time macro spelled out) on the database."""
    dashboard = json.loads(DASHBOARD.read_text())
    inputs = {f"${{{i['name']}}}" for i in dashboard["__inputs"]}
    exposed = {metric.name for metric in METRICS}
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] in inputs, panel["title"]
        for target in panel["targets"]:
            if "expr" in target:
                assert set(re.findall(r"tally_[a-z_]+", target["expr"])) <= exposed
                result = prometheus.api("query", query=target["expr"])["result"]
                assert result or "failure" in target["expr"], panel["title"]
            else:
                sql = re.sub(r"\$__timeFilter\((\w+)\)",
                             r"\1 > now() - interval '3650 days'", target["rawSql"])
                rows = query(url, sql)
                assert rows or "mismatch" in sql, panel["title"]


@pytest.mark.slow
def test_a_real_prometheus_reads_the_ledger_a_rising_lag_and_the_dashboard(clean_db, tmp_path):
    require("prometheus")
    events = [event(f"p{i}") for i in range(25)] + [event("p0"), {"event_id": "bad"}]
    assert run_tally("load", write_jsonl(tmp_path / "events.jsonl", events),
                     check=False).returncode == 3
    port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "tally", "metrics", "--listen", f"127.0.0.1:{port}"],
        cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    assert exporter.stderr.readline().startswith(f"serving http://127.0.0.1:{port}/metrics")
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{port}")
    try:
        loaded = prometheus.value("tally_events_loaded_total")
        assert loaded == query(clean_db, "select count(*) from raw.events")[0][0] == 25
        assert prometheus.value('tally_records_quarantined_total{kind="events"}') == 1

        # the batch waits for its rollup: the lag rises from scrape to scrape
        first = prometheus.value("tally_rollup_lag_seconds")
        time.sleep(2)
        later = prometheus.value("tally_rollup_lag_seconds", after=time.time())
        assert later >= first + 1.5 > 1.5

        run_tally("rollup")
        assert prometheus.value("tally_rollup_lag_seconds", after=time.time()) == 0
        assert prometheus.value("tally_rollup_duration_seconds") > 0
        assert prometheus.value("tally_reconciliation_mismatches") == 0
        groups = prometheus.api("rules")["groups"]
        assert groups and all(rule["health"] == "ok" for g in groups for rule in g["rules"])
        check_dashboard(prometheus, clean_db)
    finally:
        prometheus.stop()
        exporter.terminate()
        exporter.wait(timeout=30)


@pytest.mark.parametrize("path", ["/", "/other"])
def test_only_metrics_is_served(clean_db, path):
    port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "tally", "metrics", "--listen", str(port)],
        cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        exporter.stderr.readline()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
        assert refused.value.code == 404
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert "tally_events_loaded_total" in response.read().decode()
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)
