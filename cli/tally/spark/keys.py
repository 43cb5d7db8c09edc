"""First loaded wins on Spark: the key index of the events and voids already loaded.

Each loaded batch adds its new keys to `keys/<kind>/<bucket>/<batch_id>.parquet`, the bucket
being a stable 64-bit hash of the key modulo BUCKETS, with a fingerprint of the record's other
fields (to tell a plain duplicate from a conflict). A load reads only the buckets its own keys
fall in, and of them only the key and fingerprint columns of registered batches. Cost: a load of
n keys reads the index files of min(n, BUCKETS) buckets; a batch of more than a few thousand
keys touches every bucket, so a large load reads the whole index (two columns, about 40 bytes
a key). docs/scale.md says how this grows and what would bound it.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from tally.spark.raw_layer import KEYS, RawLayer, file_name

BUCKETS = 256
INDEX_SCHEMA = pa.schema([("key", pa.string()), ("fingerprint", pa.int64())])


def buckets(keys: pa.Array) -> np.ndarray:
    """Each key's bucket: pandas' stable hash (the same in every process and release)."""
    hashed = pd.util.hash_array(np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object))
    return (hashed % BUCKETS).astype(np.int64)


def fingerprints(table: pa.Table, fields: list[str]) -> np.ndarray:
    """A 64-bit hash of each record's fields (NULL and empty differ), in int64."""
    frame = table.select(fields).to_pandas()
    return pd.util.hash_pandas_object(frame, index=False).to_numpy().view(np.int64)


def earlier(layer: RawLayer, kind: str, keys: pa.Array, loaded: set[int]) -> pa.Table:
    """The indexed (key, fingerprint) of those of `keys` that loaded batches hold already."""
    paths = []
    for bucket in np.unique(buckets(keys)).tolist():
        for info in layer.files(f"{KEYS}/{kind}/{bucket:03d}"):
            if int(info.base_name.removesuffix(".parquet")) in loaded:
                paths.append(info.path)
    if not paths:
        return INDEX_SCHEMA.empty_table()
    index = ds.dataset(paths, schema=INDEX_SCHEMA, format="parquet", filesystem=layer.fs)
    return index.to_table(filter=ds.field("key").isin(keys))


def add(layer: RawLayer, kind: str, batch_id: int, keys: pa.Array, prints: np.ndarray) -> None:
    """Index a batch's new keys, one file per bucket they fall in."""
    of_bucket = buckets(keys)
    table = pa.table({"key": keys, "fingerprint": pa.array(prints, pa.int64())})
    for bucket in np.unique(of_bucket).tolist():
        rows = table.filter(pa.array(of_bucket == bucket))
        layer.write(rows, KEYS, kind, f"{bucket:03d}", file_name(batch_id))


def first_occurrences(keys: pa.Array) -> np.ndarray:
    """True for the first record of each key in file order."""
    return ~pd.Series(keys.to_numpy(zero_copy_only=False)).duplicated(keep="first").to_numpy()


def is_in(values: pa.Array, members: pa.Array) -> np.ndarray:
    return pc.is_in(values, value_set=members).to_numpy(zero_copy_only=False)
