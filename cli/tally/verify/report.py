"""The verdict of `tally verify`: one result per check, printed as one table or as JSON."""

from dataclasses import asdict, dataclass, field
from typing import Any

# pass: the check holds; warn: worth a look, never fails the run; fail: the data breaks the
# check; error: the check itself could not run (so nothing is known: it fails the run too).
STATUSES = ("pass", "warn", "fail", "error")
FAILING = ("fail", "error")


@dataclass
class CheckResult:
    check: str
    status: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")


@dataclass
class Report:
    checks: list[CheckResult] = field(default_factory=list)
    data_docs: str | None = None

    def add(self, result: CheckResult) -> None:
        self.checks.append(result)

    @property
    def ok(self) -> bool:
        """True when no check failed or errored (warnings do not count)."""
        return not any(result.status in FAILING for result in self.checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.checks) for s in STATUSES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "checks": [asdict(result) for result in self.checks],
            "data_docs": self.data_docs,
        }

    def text_lines(self, width: int = 100) -> list[str]:
        """The results as one aligned table, then the verdict and where Data Docs are."""
        rows = [("check", "status", "detail")] + [
            (r.check, r.status, r.detail) for r in self.checks
        ]
        check_width = max(len(row[0]) for row in rows)
        status_width = max(len(row[1]) for row in rows)
        detail_width = max(20, width - check_width - status_width - 4)
        lines = []
        for number, (check, status, detail) in enumerate(rows):
            chunks = _wrap(detail, detail_width)
            lines.append(f"{check:<{check_width}}  {status:<{status_width}}  {chunks[0]}")
            indent = " " * (check_width + status_width + 4)
            lines.extend(indent + chunk for chunk in chunks[1:])
            if number == 0:
                lines.append("-" * min(width, check_width + status_width + 4 + detail_width))
        counts = self.counts()
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        lines.append("")
        lines.append(f"{'OK' if self.ok else 'FAILED'}: {summary}")
        if self.data_docs:
            lines.append(f"Data Docs: {self.data_docs}")
        return lines


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]
