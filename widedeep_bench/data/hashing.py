"""Criteo categorical text -> hash bucket, as ``tf.strings.to_hash_bucket_fast`` computes it.

TensorFlow's fast hash bucket is ``Fingerprint64(utf8_bytes) mod buckets`` (FarmHash's
``Fingerprint64``, unsigned 64-bit); ``farmhash.fingerprint64`` from ``pyfarmhash`` returns the same
numbers, so this step needs no TensorFlow. Hashing is a Python call per value, so every function here
hashes each distinct value once and maps the rest with vectorised lookups.

``bucketize`` is the one implementation: the eval.csv reader (``criteo_csv``) hands it the
dictionary-encoded columns pyarrow parsed, and the tests hand it lists of strings.
"""

from __future__ import annotations

from collections.abc import Callable

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


def bucketize(values, buckets: int = layout.BUCKETS, *, dtype=np.int64,
              before_hashing: Callable | None = None) -> np.ndarray:
    """``[N] dtype`` hash buckets of ``N`` strings, equal to ``tf.strings.to_hash_bucket_fast(values, buckets)``.

    ``values``: a sequence of ``str``, or a pyarrow array or ChunkedArray of ``string`` or
    ``dictionary<int, string>`` (what pyarrow's CSV reader gives; the chunks are taken in order). The
    empty string is a value like any other. Each distinct value is hashed once: the chunks'
    dictionaries are merged and de-duplicated, hashed, and each row looks its bucket up.
    ``before_hashing(distinct)``, if given, is called with the distinct values (a pyarrow string
    array) before any is hashed, and may raise to refuse them. ``dtype`` is the output's integer type
    (the reader asks for int16, which holds 1000 buckets and keeps the [26, N] intermediate small).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if buckets < 1:
        raise WidedeepError(f"hash buckets: expected a positive bucket count, got {buckets}")
    if buckets - 1 > np.iinfo(dtype).max:
        raise WidedeepError(f"hash buckets: {buckets} buckets do not fit {np.dtype(dtype).name}")
    chunks = _dictionary_chunks(values)
    if len(chunks) == 1:
        distinct, per_entry = chunks[0].dictionary, None  # one dictionary: already distinct
    else:
        merged = pa.concat_arrays([chunk.dictionary for chunk in chunks])
        encoded = merged.dictionary_encode()
        distinct, per_entry = encoded.dictionary, encoded.indices.to_numpy()
    if distinct.null_count:  # a null dictionary entry that no row uses: its bucket is never read
        distinct = pc.fill_null(distinct, "")
    if before_hashing is not None:
        before_hashing(distinct)
    distinct_buckets = fingerprint_buckets(distinct.to_pylist(), buckets).astype(dtype)
    per_entry = distinct_buckets if per_entry is None else distinct_buckets[per_entry]
    out = np.empty(sum(len(chunk) for chunk in chunks), dtype)
    entry = row = 0
    for chunk in chunks:
        size = len(chunk.dictionary)
        out[row:row + len(chunk)] = per_entry[entry:entry + size][chunk.indices.to_numpy()]
        entry += size
        row += len(chunk)
    return out


def _dictionary_chunks(values) -> list:
    """``values`` as a list of non-null ``dictionary<int, string>`` pyarrow arrays, in order."""
    import pyarrow as pa

    try:
        if isinstance(values, pa.ChunkedArray):
            chunks = list(values.chunks)
        elif isinstance(values, pa.Array):
            chunks = [values]
        else:
            chunks = [pa.array(values, type=pa.string())]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise WidedeepError(f"hash buckets: expected a sequence of strings, got {type(values).__name__} "
                            f"({exc})") from exc
    value_type = values.type if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.string()
    if pa.types.is_dictionary(value_type):
        value_type = value_type.value_type
    if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        raise WidedeepError(f"hash buckets: expected strings, got an array of {values.type}")
    row = 0
    for chunk in chunks:  # a dictionary array can also hold its nulls as null dictionary entries
        if chunk.null_count or (pa.types.is_dictionary(chunk.type) and chunk.dictionary.null_count):
            # Decoded first: whether is_null() sees a null dictionary entry differs across pyarrow versions.
            decoded = chunk.cast(value_type) if pa.types.is_dictionary(chunk.type) else chunk
            nulls = np.flatnonzero(decoded.is_null().to_numpy(zero_copy_only=False))
            if nulls.size:
                raise WidedeepError(f"hash buckets: value {row + int(nulls[0])} is missing (None); "
                                    "an empty categorical field is the empty string, not None")
        row += len(chunk)
    encoded = [chunk if pa.types.is_dictionary(chunk.type) else chunk.dictionary_encode() for chunk in chunks]
    return encoded or [pa.array([], pa.string()).dictionary_encode()]
