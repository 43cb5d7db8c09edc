"""Running the Great Expectations suites as one checkpoint, with Data Docs under $TALLY_HOME/gx.

Great Expectations is imported here and only here, when `tally verify` runs: its import takes
seconds and no other command pays it. Its progress bars, usage analytics and log chatter are
off. The GX project is a file context in $TALLY_HOME/gx (validation results accumulate there,
so Data Docs show the history of runs); the suites come from code on every run
(tally.verify.suites), so the JSON GX writes there is a copy, never the source. The connection
string is stored as `${TALLY_GX_CONNECTION_STRING}` and filled from the environment: no password
is written to disk.

`tally verify` runs the suites in a worker process (`python -m tally.verify.gx_checks`, see
`Worker`): it imports GX while verify rebuilds the reconciliation report, and validates while
verify runs dbt's tests, so the two take their time side by side rather than one after the other.
On Spark the suites run in the tally process itself: on the session's DataFrames in local mode
(`spark_batches`), through a Thrift server's SQL otherwise (`thrift_batches`).
"""

import json
import logging
import os
import subprocess
import sys
import warnings
from dataclasses import asdict
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tally.verify.report import CheckResult

DATASOURCE = "tally"
SPARK_DATASOURCE = "tally_spark"
THRIFT_DATASOURCE = "tally_spark_thrift"
CHECKPOINT = "tally_verify"
CONNECTION_VARIABLE = "TALLY_GX_CONNECTION_STRING"


def sqlalchemy_url(libpq_url: str) -> str:
    """The SQLAlchemy (psycopg2) URL of a libpq URI, with the session time zone set to UTC."""
    scheme, rest = libpq_url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URI: {scheme}://")
    separator = "&" if "?" in rest else "?"
    return f"postgresql+psycopg2://{rest}{separator}options=-c%20timezone%3DUTC"


def _quiet() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in ("great_expectations", "sqlalchemy", "tzlocal", "altair"):
        logging.getLogger(name).setLevel(logging.ERROR)


def postgres_batches(database_url: str):
    """The suites' batches on PostgreSQL: each table whole, through GX's PostgreSQL datasource."""

    def add(context):
        os.environ[CONNECTION_VARIABLE] = sqlalchemy_url(database_url)
        datasource = context.data_sources.add_or_update_postgres(
            DATASOURCE, connection_string="${" + CONNECTION_VARIABLE + "}"
        )
        return _whole_tables(datasource)

    return add


def thrift_batches(url: str, session_settings: dict):
    """The suites' batches on a Spark Thrift Server: each table whole, through GX's SQL
    datasource and PyHive's SQLAlchemy dialect, each connection with the profile's settings."""

    def add(context):
        datasource = context.data_sources.add_or_update_sql(
            THRIFT_DATASOURCE,
            connection_string=url,
            kwargs={"connect_args": {"configuration": session_settings}},
        )
        return _whole_tables(datasource)

    return add


def _whole_tables(datasource):
    def batch(suite_module):
        asset = datasource.add_table_asset(
            suite_module.NAME, table_name=suite_module.TABLE, schema_name=suite_module.SCHEMA
        )
        return asset.add_batch_definition_whole_table("whole table"), None

    return batch


def spark_batches(session):
    """The suites' batches on Spark: each table as a DataFrame of this process's session (a second
    process could not open the local metastore while this one holds it)."""

    def add(context):
        datasource = context.data_sources.add_or_update_spark(SPARK_DATASOURCE)

        def batch(suite_module):
            asset = datasource.add_dataframe_asset(suite_module.NAME)
            frame = session.table(f"{suite_module.SCHEMA}.{suite_module.TABLE}")
            return asset.add_batch_definition_whole_dataframe("whole table"), {"dataframe": frame}

        return batch

    return add


def run_suites(batches, home: Path, parameters: dict) -> tuple[list[CheckResult], str]:
    """Validate every suite against its table, `batches` (postgres_batches, spark_batches or
    thrift_batches) saying where the tables are; one CheckResult per suite and the Data Docs
    path."""
    _quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        from tally.verify.suites import SUITES

        context = gx.get_context(mode="file", project_root_dir=str(home))
        context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        batch = batches(context)
        labels, run_results = {}, {}
        for suite_module in SUITES:
            batch_definition, batch_parameters = batch(suite_module)
            suite = context.suites.add_or_update(
                gx.ExpectationSuite(
                    name=suite_module.NAME, expectations=suite_module.expectations(gxe)
                )
            )
            definition = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=suite_module.NAME, data=batch_definition, suite=suite)
            )
            # A checkpoint per suite: a run's batch parameters (Spark's DataFrame) are the same
            # for all of a checkpoint's validations.
            checkpoint = context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=f"{CHECKPOINT}.{suite_module.NAME}", validation_definitions=[definition]
                )
            )
            result = checkpoint.run(
                batch_parameters=batch_parameters, expectation_parameters=parameters
            )
            run_results.update(result.run_results)
            labels[suite_module.NAME] = suite_module.LABEL
        # Data Docs once for the whole run, these results and suites only (GX's UpdateDataDocsAction
        # rebuilds the site once per validation: four times the work, most of verify's GX time).
        context.build_data_docs(
            resource_identifiers=[
                *run_results.keys(),
                *(ExpectationSuiteIdentifier(name=module.NAME) for module in SUITES),
            ]
        )
        docs = context.get_docs_sites_urls()
    results = [
        _summarize(labels.get(validation.suite_name, validation.suite_name), validation)
        for validation in run_results.values()
    ]
    docs_path = unquote(urlsplit(docs[0]["site_url"]).path) if docs else str(home / "gx")
    return results, docs_path


def _summarize(label: str, validation) -> CheckResult:
    failed, broken = [], []
    for outcome in validation.results:
        name = _describe(outcome.expectation_config)
        if (outcome.exception_info or {}).get("raised_exception"):
            message = outcome.exception_info.get("exception_message") or "raised an exception"
            broken.append(f"{name}: {message.strip().splitlines()[0][:200]}")
        elif not outcome.success:
            failed.append(f"{name}: {_observed(outcome.expectation_config, outcome.result)}")
    total = len(validation.results)
    data = {"expectations": total, "failed": failed, "errors": broken}
    if broken:
        return CheckResult(
            label, "error", f"{len(broken)} of {total} could not run: " + "; ".join(broken), data
        )
    if failed:
        return CheckResult(
            label, "fail", f"{len(failed)} of {total} failed: " + "; ".join(failed), data
        )
    return CheckResult(label, "pass", f"{total} expectations met", data)


def _describe(config) -> str:
    """`expect_column_values_to_be_between(input_tokens)`, or the description of a SQL one."""
    if config.description:
        return config.description
    kwargs = config.kwargs
    columns = [kwargs[key] for key in ("column", "column_A", "column_B") if kwargs.get(key)]
    return f"{config.type}({', '.join(columns)})"


def _observed(config, result: dict) -> str:
    if config.type == "unexpected_rows_expectation":
        count = result.get("observed_value")
        return f"{count} unexpected row{'s' if count != 1 else ''}"
    if result.get("unexpected_count") is not None:
        count = result["unexpected_count"]
        sample = [
            v
            for v in result.get("partial_unexpected_list") or []
            if not isinstance(v, dict | list | tuple)
        ]
        shown = f", e.g. {', '.join(map(repr, sample[:3]))}" if sample else ""
        return f"{count} unexpected row{'s' if count != 1 else ''}{shown}"
    if "observed_value" in result:
        return f"observed {result['observed_value']}"
    return "not met"


def _import_gx() -> None:
    _quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations  # noqa: F401 - imported ahead, while the parent works


class Worker:
    """The suites in a child process: started at once (it imports GX), told to validate with
    `start()` once the tables are ready, its results collected with `results()`."""

    def __init__(self, home: Path):
        self.home = home
        self.output = home / "gx-results.json"
        self.output.unlink(missing_ok=True)
        (home / "logs").mkdir(exist_ok=True)
        self.log = open(home / "logs" / "gx.log", "w")  # noqa: SIM115 - closed in results()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tally.verify.gx_checks"],
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def start(self, database_url: str, parameters: dict) -> None:
        request = {
            "database_url": database_url,  # through a pipe: a password never shows in `ps`
            "home": str(self.home),
            "parameters": parameters,
            "output": str(self.output),
        }
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.close()
        except OSError:
            pass  # the worker died: results() says how

    def results(self, timeout: float = 900) -> tuple[list[CheckResult], str | None]:
        try:
            if self.process.stdin and not self.process.stdin.closed:
                self.process.stdin.close()  # start() never came: the worker exits
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            self.log.close()
        try:
            answer = json.loads(self.output.read_text())
        except (OSError, ValueError):
            log = (self.home / "logs" / "gx.log").read_text(errors="replace").strip().splitlines()
            reason = log[-1] if log else f"exit status {self.process.returncode}"
            return [CheckResult("gx suites", "error", f"the GX worker failed: {reason}")], None
        if "error" in answer:
            return [CheckResult("gx suites", "error", answer["error"])], None
        return [CheckResult(**result) for result in answer["results"]], answer["data_docs"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self.log.closed:
            self.log.close()


def main() -> int:
    """The worker: import GX, wait for the request on stdin, validate, write the results."""
    _import_gx()
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    request = json.loads(line)
    try:
        results, docs = run_suites(
            postgres_batches(request["database_url"]), Path(request["home"]), request["parameters"]
        )
        answer = {"results": [asdict(result) for result in results], "data_docs": docs}
    except Exception as error:  # noqa: BLE001 - reported to the parent, not swallowed
        from tally.verify import one_line

        answer = {"error": one_line(error)}
    Path(request["output"]).write_text(json.dumps(answer, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
