"""Which files a `tally load` call means: directories and globs expanded, kind and format named."""

import glob
from dataclasses import dataclass
from pathlib import Path

from tally.errors import TallyError
from tally.load.kinds import LOAD_ORDER

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    # a legacy application database: every entity it holds (tally.load.legacy)
    ".db": "sqlite",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
}


@dataclass(frozen=True)
class InputFile:
    path: Path
    kind: str
    format: str | None  # jsonl | csv | parquet | sqlite; None for an extension tally does not read
    gzip: bool

    @property
    def label(self) -> str:
        return str(self.path)


def file_format(path: Path) -> tuple[str | None, bool]:
    """(format, gzip) from the extension: `events.csv.gz` is ('csv', True)."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    return (FORMATS.get(suffixes[-1]) if suffixes else None), gz


def kind_of(path: Path) -> str:
    """The kind a file's name starts with (`users_2026.csv` is users); any other is events."""
    name = path.name.lower()
    for kind in sorted(LOAD_ORDER, key=len, reverse=True):
        if name.startswith(kind):
            return kind
    return "events"


def _is_loadable(path: Path) -> bool:
    fmt, _ = file_format(path)
    return not path.name.startswith(".") and fmt is not None


def _expand(argument: str) -> list[Path]:
    path = Path(argument)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and _is_loadable(p))
    if path.exists():
        return [path]
    if glob.has_magic(argument):
        matches = sorted(Path(p) for p in glob.glob(argument, recursive=True))
        files = [p for p in matches if p.is_file() and _is_loadable(p)]
        if files:
            return files
        raise TallyError(f"no loadable file matches {argument}")
    raise TallyError(f"no such file or directory: {argument}")


def discover(arguments: list[str], kind: str | None) -> list[InputFile]:
    """Every file to load, reference entities first, each kind in name order, no file twice."""
    seen: set[Path] = set()
    files = []
    for argument in arguments:
        for path in _expand(argument):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            fmt, gz = file_format(path)
            files.append(InputFile(path, kind or kind_of(path), fmt, gz))
    # A directory's files follow LOAD_ORDER; explicitly named files keep their kinds' order too,
    # and within a kind the order given (file order decides which duplicate wins).
    return sorted(files, key=lambda f: LOAD_ORDER.index(f.kind))
