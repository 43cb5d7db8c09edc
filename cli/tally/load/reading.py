"""Reading a file once: checksum, optional gunzip, progress, one clear line on failure."""

import gzip
import hashlib
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

BLOCK = 1 << 20


class FileRejected(Exception):  # noqa: N818 - a verdict, not a crash
    """The file as a whole cannot be loaded; the message is the one line the user sees."""


class _Hashing:
    """A binary file object that checksums and counts every byte read through it."""

    def __init__(self, raw, source: "ByteSource"):
        self._raw, self._source = raw, source

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._source._consumed(data)
        return data

    def readable(self) -> bool:
        return True


class ByteSource:
    """The bytes of one file, read once, gunzipped when it ends in .gz."""

    def __init__(self, path: Path, gz: bool, on_progress: Callable[[int], None] | None = None):
        self.path, self.gz = path, gz
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0
        self.ends_with_newline = True
        self._on_progress = on_progress

    def restart(self) -> None:
        """Read again from the start (the slow path of a malformed file)."""
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0
        self.ends_with_newline = True

    def _consumed(self, data: bytes) -> None:
        self.sha256.update(data)
        self.bytes_read += len(data)
        if self._on_progress:
            self._on_progress(self.bytes_read)

    def blocks(self) -> Iterator[bytes]:
        """The (decompressed) content in blocks of about a megabyte."""
        with open(self.path, "rb") as raw:
            hashing = _Hashing(raw, self)
            stream = gzip.GzipFile(fileobj=hashing, mode="rb") if self.gz else hashing
            empty = True
            try:
                while block := stream.read(BLOCK):
                    empty = False
                    self.ends_with_newline = block.endswith(b"\n")
                    yield block
            except gzip.BadGzipFile as error:
                raise FileRejected("not a gzip file, though its name ends in .gz") from error
            except EOFError as error:
                raise FileRejected("truncated: the gzip stream ends before its end") from error
            except zlib.error as error:
                raise FileRejected(f"corrupt gzip data ({error})") from error
            while rest := raw.read(BLOCK):  # bytes after the gzip stream still count in the sum
                self._consumed(rest)
        if empty:
            raise FileRejected("empty file")

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
