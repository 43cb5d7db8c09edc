"""The checks dbt runs: its tests (data tests and unit tests) and source freshness.

dbt runs in-process with its console output off (`--log-level none`); its file log under
$TALLY_HOME/logs keeps everything for whoever needs more than the table says.
"""

from tally.dbt_invocation import run_dbt
from tally.verify.report import CheckResult

QUIET = ("--log-level", "none")
SHOWN = 5  # failing tests / stale sources named in a detail


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def dbt_tests(target: str) -> CheckResult:
    """`dbt test`: every data test (grain, not_null, measures, the reconciliation) and unit test."""
    result = run_dbt(target, "test", *QUIET)
    if result.result is None or not hasattr(result.result, "results"):
        return CheckResult("dbt tests", "error", f"dbt test did not run: {result.exception}")
    tests = [r for r in result.result.results if str(r.node.resource_type) in ("test", "unit_test")]
    hooks_failed = [
        r.node.name
        for r in result.result.results
        if str(r.node.resource_type) == "operation" and str(r.status) not in ("success", "pass")
    ]
    by_status: dict[str, list[str]] = {}
    for test in tests:
        name = test.node.name
        if str(test.status) == "fail" and test.failures:
            name += f" ({test.failures} row{'s' if test.failures != 1 else ''})"
        by_status.setdefault(str(test.status), []).append(name)
    data = {"tests": len(tests), **{s: names for s, names in by_status.items() if s != "pass"}}
    passed = len(by_status.get("pass", []))
    broken = by_status.get("fail", []) + by_status.get("error", [])
    if broken or hooks_failed:
        verb = "errored" if not by_status.get("fail") else "failed"
        if by_status.get("fail") and by_status.get("error"):
            verb = "failed or errored"
        detail = f"{len(broken)} of {len(tests)} {verb}: {_names(broken)}"
        if hooks_failed:
            detail += f"; hooks failed: {_names(hooks_failed)}"
        return CheckResult("dbt tests", "fail", detail, data)
    if by_status.get("warn"):
        warned = by_status["warn"]
        return CheckResult("dbt tests", "warn", f"{len(warned)} warned: {_names(warned)}", data)
    if not tests:
        return CheckResult("dbt tests", "error", "dbt found no tests to run", data)
    return CheckResult("dbt tests", "pass", f"{passed} passed (data and unit tests)", data)


def source_freshness(target: str) -> CheckResult:
    """`dbt source freshness` with the thresholds of the sources' YAML.

    A table that was never loaded (dbt reads year 1 as its max loaded_at) is a warning, not an
    error: a deployment without voids, or before its first reference load, is not stale.
    """
    result = run_dbt(target, "source", "freshness", *QUIET)
    if result.result is None or not hasattr(result.result, "results"):
        return CheckResult(
            "source freshness", "error", f"dbt source freshness did not run: {result.exception}"
        )
    sources = [r for r in result.result.results if str(r.node.resource_type) == "source"]
    fresh, stale, never, broken = [], [], [], []
    for source in sources:
        name = f"{source.node.source_name}.{source.node.name}"
        status = str(source.status)
        max_loaded_at = getattr(source, "max_loaded_at", None)
        if status == "pass":
            fresh.append(name)
        elif max_loaded_at is not None and max_loaded_at.year == 1:
            never.append(name)
        elif status == "warn":
            stale.append(f"{name} ({_age(source.age)} old, warn)")
        elif status == "error":
            broken.append(f"{name} ({_age(source.age)} old)")
        else:
            broken.append(f"{name} ({status}: {source.message})")
    data = {"fresh": fresh, "stale": stale, "never_loaded": never, "failed": broken}
    parts = []
    if broken:
        parts.append(f"past error_after: {_names(broken)}")
    if stale:
        parts.append(f"past warn_after: {_names(stale)}")
    if never:
        parts.append(f"never loaded: {_names(never)}")
    parts.append(f"{len(fresh)} of {len(sources)} fresh")
    status = "fail" if broken else "warn" if (stale or never) else "pass"
    if not sources:
        status = "error"
    return CheckResult("source freshness", status, "; ".join(parts), data)


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"
