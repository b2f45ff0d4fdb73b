"""Criteo categorical text -> hash bucket, as ``tf.strings.to_hash_bucket_fast`` computes it.

TensorFlow's fast hash bucket is ``Fingerprint64(utf8_bytes) mod buckets`` (FarmHash's
``Fingerprint64``, unsigned 64-bit); ``farmhash.fingerprint64`` from ``pyfarmhash`` returns the same
numbers, so this step needs no TensorFlow. Hashing is a Python call per value, so every function here
hashes each distinct value once and maps the rest with vectorised lookups.
"""

from __future__ import annotations

import numpy as np

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError


def fingerprint_buckets(distinct: list[str], buckets: int = layout.BUCKETS) -> np.ndarray:
    """``[len(distinct)] int64``: ``Fingerprint64(value) mod buckets`` for each value, in order."""
    import farmhash

    if buckets < 1:
        raise WidedeepError(f"hash buckets: expected a positive bucket count, got {buckets}")
    fingerprints = np.fromiter(map(farmhash.fingerprint64, distinct), dtype=np.uint64, count=len(distinct))
    return (fingerprints % np.uint64(buckets)).astype(np.int64)


def bucketize(values, buckets: int = layout.BUCKETS) -> np.ndarray:
    """``[N] int64`` hash buckets of ``N`` strings (a sequence of ``str`` or a pyarrow string array).

    Equal to ``tf.strings.to_hash_bucket_fast(values, buckets)``; the empty string is a value like
    any other. Each distinct value is hashed once.
    """
    import pyarrow as pa

    try:
        array = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise WidedeepError(f"hash buckets: expected a sequence of strings, got {type(values).__name__} "
                            f"({exc})") from exc
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise WidedeepError(f"hash buckets: expected strings, got an array of {array.type}")
    if array.null_count:
        raise WidedeepError(f"hash buckets: value {_first_null(array)} is missing (None); "
                            "an empty categorical field is the empty string, not None")
    encoded = array.dictionary_encode()
    distinct_buckets = fingerprint_buckets(encoded.dictionary.to_pylist(), buckets)
    return distinct_buckets[encoded.indices.to_numpy(zero_copy_only=False)]


def _first_null(array) -> int:
    return int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
