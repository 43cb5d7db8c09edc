"""What a `tally load` call did, per file and in total, for people (text) and scripts (JSON)."""

from dataclasses import asdict, dataclass, field

# Exit statuses: 0 all loaded; 1 a file failed (other files still loaded); 3 every file loaded
# but some records were quarantined (their reasons are in the summary and raw.quarantine).
EXIT_OK, EXIT_FILE_FAILED, EXIT_QUARANTINED = 0, 1, 3


@dataclass
class Counts:
    read: int = 0
    loaded: int = 0
    duplicate: int = 0
    conflicting: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # read but no record of the kind: spans without token usage


@dataclass
class FileResult:
    file: str
    kind: str
    format: str | None
    # loaded | skipped (loaded before) | failed | not loaded (a legacy table tally does not know)
    status: str = "pending"
    mode: str | None = None  # loaded: bulk (key dropped and rebuilt) | incremental
    error: str | None = None
    batch_id: int | None = None
    counts: Counts | None = None
    seconds: float = 0.0
    unknown: list[str] = field(default_factory=list)  # legacy tables and columns not loaded


@dataclass
class LoadSummary:
    files: list[FileResult] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(f.counts, name) for f in self.files if f.counts)

    def reasons(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for result in self.files:
            for reason, count in (result.counts.reasons if result.counts else {}).items():
                merged[reason] = merged.get(reason, 0) + count
        return dict(sorted(merged.items(), key=lambda item: (-item[1], item[0])))

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def exit_status(self) -> int:
        if self.failed:
            return EXIT_FILE_FAILED
        return EXIT_QUARANTINED if self.total("quarantined") else EXIT_OK

    def as_dict(self) -> dict:
        names = ("read", "loaded", "duplicate", "conflicting", "quarantined", "skipped")
        return {
            "files": [
                {
                    **{k: v for k, v in asdict(f).items() if k != "counts"},
                    **{n: getattr(f.counts, n) if f.counts else 0 for n in names},
                    "quarantined_by_reason": f.counts.reasons if f.counts else {},
                    "seconds": round(f.seconds, 3),
                }
                for f in self.files
            ],
            "totals": {
                **{n: self.total(n) for n in names},
                "quarantined_by_reason": self.reasons(),
                "files_loaded": sum(f.status == "loaded" for f in self.files),
                "files_skipped": sum(f.status == "skipped" for f in self.files),
                "files_failed": len(self.failed),
            },
            "exit_status": self.exit_status,
        }


def file_line(result: FileResult) -> str:
    if result.status == "skipped":
        return f"{result.file}: already loaded, skipped"
    if result.status == "failed":
        return f"{result.file}: FAILED, nothing loaded: {result.error}"
    if result.status == "not loaded":
        return f"{result.file}: NOT LOADED, a table tally does not know"
    c = result.counts
    line = f"{result.file}: {c.loaded} loaded, {c.duplicate} duplicate"
    if c.conflicting:
        line += f" ({c.conflicting} conflicting)"
    line += f", {c.quarantined} quarantined"
    if c.skipped:
        line += f", {c.skipped} spans without token usage skipped"
    rate = c.read / result.seconds if result.seconds else 0
    mode = ", bulk" if result.mode == "bulk" else ""
    return line + f" [{result.kind}{mode}, {result.seconds:.1f} s, {rate:,.0f} records/s]"


def text_lines(summary: LoadSummary) -> list[str]:
    lines = []
    for result in summary.files:
        lines.append(file_line(result))
        if result.format == "sqlite" and result.status == "loaded":
            c = result.counts
            lines.append(
                f"    {c.read} rows = {c.loaded} loaded + {c.duplicate} duplicate"
                f" + {c.quarantined} quarantined"
            )
        lines += [f"    not loaded: {name}" for name in result.unknown]
        for reason, count in (result.counts.reasons if result.counts else {}).items():
            lines.append(f"    {count} quarantined: {reason}")
    if len(summary.files) > 1:
        d = summary.as_dict()["totals"]
        lines.append(
            f"total: {d['loaded']} loaded, {d['duplicate']} duplicate"
            f" ({d['conflicting']} conflicting), {d['quarantined']} quarantined;"
            f" files: {d['files_loaded']} loaded, {d['files_skipped']} skipped,"
            f" {d['files_failed']} failed"
        )
    if summary.total("quarantined"):
        lines.append(
            "quarantined records are in raw.quarantine with their reasons; the rest loaded"
        )
    return lines
