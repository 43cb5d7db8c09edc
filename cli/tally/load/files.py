"""`tally load` of the files the arguments name: each through the loader, under a span of its
own, with a progress bar."""

from tally import tracing
from tally.errors import TallyError
from tally.load.batch import load_file, prepare_session
from tally.load.discovery import discover
from tally.load.formats import FORMATS, readable_extensions
from tally.load.progress import Progress
from tally.load.summary import LoadSummary


def load_paths(target: str, arguments: list[str], kind: str | None = None) -> LoadSummary:
    """Load every file the arguments name (files, directories, globs); never raises for a file."""
    from tally.database import connect
    from tally.load.legacy import load_legacy_file
    from tally.migrations import apply_pending
    from tally.targets import is_spark

    if is_spark(target):
        from tally.spark.environment import require_spark
        from tally.spark.loading import load_paths as load_into_spark

        require_spark()
        return load_into_spark(arguments, kind)
    files = discover(arguments, kind)
    if not files:
        raise TallyError(
            f"nothing to load in {' '.join(arguments)}: no {readable_extensions()} file"
        )
    summary = LoadSummary()
    with connect(target) as conn:
        apply_pending(conn)
        prepare_session(conn)
        for file in files:
            if FORMATS[file.format].holds_tables if file.format else False:
                summary.files += load_legacy_file(conn, file)
                continue
            summary.files.append(_load_traced(conn, file))
    return summary


def _load_traced(conn, file):
    """Load one file under a span of its own (records, quarantined, bytes) and a progress bar."""
    size = file.path.stat().st_size
    with tracing.span(
        "tally.load.file",
        **{"tally.file": file.label, "tally.kind": file.kind, "tally.file.bytes": size},
    ) as span:
        progress = Progress(file.label, size)
        try:
            result = load_file(conn, file, progress)
        finally:
            progress.close()
        span.set_attribute("tally.file.status", result.status)
        if result.counts:
            span.set_attributes(
                {
                    "tally.records.read": result.counts.read,
                    "tally.records.loaded": result.counts.loaded,
                    "tally.records.duplicate": result.counts.duplicate,
                    "tally.records.quarantined": result.counts.quarantined,
                }
            )
        if result.status == "failed":
            tracing.mark_failed(span, result.error or "failed")
    return result
