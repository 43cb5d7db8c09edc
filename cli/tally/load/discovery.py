"""Which files a `tally load` call means: directories and globs expanded, kind and format named."""

import glob
from dataclasses import dataclass
from pathlib import Path

from tally.errors import TallyError
from tally.load.formats import format_of
from tally.load.kinds import FILE_KINDS, LOAD_ORDER, LOADS_AS


@dataclass(frozen=True)
class InputFile:
    path: Path
    kind: str
    format: str | None  # a name of tally.load.formats.FORMATS; None for an unknown extension
    gzip: bool
    named_as: str = ""  # the kind of file it was named or asked as (spans), when not `kind`

    @property
    def label(self) -> str:
        return str(self.path)


def kind_of(path: Path) -> str:
    """The kind a file's name starts with (`users_2026.csv` is users); any other is events."""
    name = path.name.lower()
    for kind in sorted(FILE_KINDS, key=len, reverse=True):
        if name.startswith(kind):
            return kind
    return "events"


def _is_loadable(path: Path, kind: str | None) -> bool:
    """A file of a folder or a glob is loaded when its format is one tally knows for its kind (a
    format tally does not read yet fails with one line, rather than being passed over)."""
    return not path.name.startswith(".") and format_of(path, kind or kind_of(path))[0] is not None


def _expand(argument: str, kind: str | None) -> list[Path]:
    path = Path(argument)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and _is_loadable(p, kind))
    if path.exists():
        return [path]
    if glob.has_magic(argument):
        matches = sorted(Path(p) for p in glob.glob(argument, recursive=True))
        files = [p for p in matches if p.is_file() and _is_loadable(p, kind)]
        if files:
            return files
        raise TallyError(f"no loadable file matches {argument}")
    raise TallyError(f"no such file or directory: {argument}")


def discover(arguments: list[str], kind: str | None) -> list[InputFile]:
    """Every file to load, reference entities first, each kind in name order, no file twice."""
    seen: set[Path] = set()
    files = []
    for argument in arguments:
        for path in _expand(argument, kind):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            named_as = kind or kind_of(path)
            fmt, gz = format_of(path, named_as)
            loads_as = LOADS_AS.get(named_as, named_as)
            files.append(InputFile(path, loads_as, fmt and fmt.name, gz, named_as))
    # A directory's files follow LOAD_ORDER; explicitly named files keep their kinds' order too,
    # and within a kind the order given (file order decides which duplicate wins).
    return sorted(files, key=lambda f: LOAD_ORDER.index(f.kind))
