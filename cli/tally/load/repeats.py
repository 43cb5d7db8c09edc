"""Records whose key may repeat an earlier record of the same file, flagged as the file streams by.

A Bloom filter of the keys seen so far (two bits per key in a fixed 32 MB, whatever the file's
size) flags every record whose key came earlier in the file, and a few more by chance (about
0.1 % of the records at 5 M keys, 10 % at 50 M). A bulk load into an empty table sets the
flagged records aside, so the records it copies have distinct keys (tally.load.duplicates).
"""

import numpy as np
import pyarrow as pa

from tally.arrow_bytes import value_bytes, value_offsets

BITS = 1 << 28
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE, _LOW_6 = np.uint64(1), np.uint64(63)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves about half the output bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash64(keys: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string from its length and its first, middle and last 8 bytes:
    all of a key of up to 16 bytes, the varying parts of the usual longer ones (UUIDs, ULIDs,
    prefixed counters). Keys that differ elsewhere only collide: more records are flagged."""
    offsets = value_offsets(keys)
    data = np.frombuffer(value_bytes(keys), np.uint8)
    padded = np.concatenate([data, np.zeros(8, np.uint8)])
    words = np.ndarray((len(data) + 1,), "<u8", padded, strides=(1,))  # 8 bytes at each byte
    starts = (offsets[:-1] - offsets[0]).astype(np.int64)
    lengths = np.diff(offsets).astype(np.int64)
    short = lengths < 8
    short_mask = (np.uint64(1) << (lengths.astype(np.uint64) * np.uint64(8))) - np.uint64(1)
    mask = np.where(short, short_mask, _ALL_ONES)  # the bytes of the key itself
    first = words[starts] & mask
    middle = words[starts + np.maximum(lengths // 2 - 4, 0)] & mask
    last = words[np.where(short, starts, starts + lengths - 8)] & mask
    return _mix(first ^ _mix(middle ^ _mix(last ^ lengths.astype(np.uint64))))


class RepeatFilter:
    """Two bits per key in one 64-bit word of the filter: one read and one write per key."""

    def __init__(self) -> None:
        self._words = np.zeros(BITS // 64, np.uint64)

    def add(self, keys: pa.Array) -> np.ndarray:
        """Take the next records' keys (valid ones: non-empty, at most 128 characters); True for
        each record whose key may have come before, in this call or an earlier one."""
        hashes = _hash64(keys)
        where = (hashes >> np.uint64(12)) & np.uint64(BITS // 64 - 1)
        bits = _ONE << (hashes & _LOW_6) | _ONE << (hashes >> np.uint64(6) & _LOW_6)
        seen = (self._words[where] & bits) == bits
        ordered = np.sort(hashes)  # a hash twice in this call: flag each of its records
        twice = ordered[1:][ordered[1:] == ordered[:-1]]
        self._set(where, bits)
        return seen | np.isin(hashes, twice) if len(twice) else seen

    def _set(self, where: np.ndarray, bits: np.ndarray) -> None:
        """words[where] |= bits, element by element: a fancy-indexed |= keeps one write per
        word, so the few bits lost to a shared word are set again."""
        while len(where):
            self._words[where] |= bits
            lost = (self._words[where] & bits) != bits
            where, bits = where[lost], bits[lost]
