"""The bytes behind an Arrow string or binary array, read in place.

Arrow keeps such an array's values back to back in one data buffer, delimited by int32 offsets;
a sliced array starts `offset` entries into them. The loader and the generator read these
buffers directly where a function per value would cost a call or a copy per value.
"""

import numpy as np
import pyarrow as pa


def value_offsets(array: pa.Array) -> np.ndarray:
    """The len(array) + 1 offsets of the array's values in its data buffer."""
    return np.frombuffer(array.buffers()[1], np.int32, len(array) + 1, array.offset * 4)


def value_bytes(array: pa.Array) -> memoryview:
    """The array's values back to back, without a copy."""
    data = array.buffers()[2]
    if data is None:
        return memoryview(b"")
    offsets = value_offsets(array)
    return memoryview(data)[offsets[0] : offsets[-1]]
