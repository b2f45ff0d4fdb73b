"""Criteo CSV (eval.csv) -> the model's input tensors, exactly as ByteMLPerf's ``open_criteo_kaggle``
preprocessing does it (SPEC section 4), vectorised.

Semantics: no header; 40 comma-separated fields (label, I1..I13, C1..C26) or 39 (no label), decided
by line 1 and then required of every line; ``\\n`` or ``\\r\\n`` line ends; no quoting (a ``"`` is text).
A UTF-8 byte order mark opening the file is skipped, as pyarrow and ByteMLPerf's pandas skip it; line 1
is the line it opens.
Categorical fields are hashed as the raw text, empty included (``"00012345"`` stays text):
bucket = ``Fingerprint64(text) mod 1000``. A numeric field is an integer or empty (= 0, for the
statistics too); each column is min-max normalised over the whole file, ``(x - min) / (max - min)``
in float64, then cast to float32. A column whose max equals its min (every row the same value)
would give 0/0 = NaN; we give 0.0 instead (every row is at the minimum) and warn naming the column.
See docs/preprocessing.md.

Fast path: pyarrow reads every column dictionary-encoded (multi-threaded), so each rule is checked
and each value converted or hashed once per distinct value. When pyarrow or a column check rejects
the file, ``csv_diagnosis`` walks it line by line to name the first bad line and field.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.cache import lock_for
from widedeep_bench.data import criteo_fields as rules
from widedeep_bench.data import tensor_cache
from widedeep_bench.data.csv_diagnosis import raise_first_bad_line
from widedeep_bench.data.csv_input import csv_input, path_kind, read_stream
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.data.hashing import bucketize
from widedeep_bench.digests import file_sha256
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

__all__ = ["PREPROCESS_VERSION", "EvalTensors", "read_eval_csv", "load_eval_tensors", "tensors_from_csv_bytes"]

# Part of every cache key: bump it whenever the tensors this module produces for a file change.
PREPROCESS_VERSION = 1
# pyarrow parses the file in blocks of this many bytes, one block per thread at a time, and
# dictionary-encodes each block on its own: 4 MiB gives a 2 M-row file ~120 blocks (enough for every
# core) while keeping the per-block dictionaries, which are checked and hashed, 2.5x fewer than 1 MiB.
PARSE_BLOCK_BYTES = 4 << 20
# Rows per block of the final (field, bucket) interleave: a block's 26 x 32 Ki int16 reads stay in cache.
INTERLEAVE_BLOCK_ROWS = 1 << 15


def read_eval_csv(path, *, option: str | None = None) -> EvalTensors:
    """Parse a Criteo CSV file, FIFO or ``<(...)`` stream into ``EvalTensors`` (no cache; a stream is read
    once, into memory). Bad input raises ``WidedeepError`` naming the file, the first bad line and its
    field; ``option`` (e.g. ``"--wd-eval-csv"``) names where the path came from in path errors."""
    path = Path(path)
    if path_kind(path, option) == "stream":
        data, digest = read_stream(path, option)
        tensors = tensors_from_csv_bytes(data, str(path), sha256=digest)
    else:
        tensors = _parse_file(path, str(path))
    _warn_constant_columns(tensors)
    return tensors


def load_eval_tensors(path, *, use_cache: bool = True, option: str | None = None) -> EvalTensors:
    """``read_eval_csv`` through the cache: the entry is keyed by the file's SHA-256 and
    ``PREPROCESS_VERSION``, built once (under a lock) and loaded as read-only memory maps, so a
    second load of a 2 M-row file takes milliseconds. A bad file raises and caches nothing.

    A FIFO or ``<(...)`` stream is read exactly once, into the cache (``csv_input.spool_stream``), and
    its copy is then read like any file; messages name the stream and its copy."""
    if not use_cache:
        return read_eval_csv(path, option=option)
    source = csv_input(path, option)
    entry = tensor_cache.entry_for(source.sha256 or file_sha256(source.path), PREPROCESS_VERSION)
    if not entry.is_dir():
        with lock_for(entry):
            if not entry.is_dir():
                built = _parse_file(source.path, source.shown)
                if tensor_cache.entry_for(built.sha256, PREPROCESS_VERSION) != entry:
                    raise WidedeepError(f"{source.shown}: the file changed while it was being read; run again")
                tensor_cache.store(entry, built, PREPROCESS_VERSION)
    tensors = tensor_cache.load(entry, source.shown, PREPROCESS_VERSION)
    _warn_constant_columns(tensors)
    return tensors


def tensors_from_csv_bytes(data: bytes, source: str, sha256: str) -> EvalTensors:
    """The tensors of a whole Criteo CSV file held in ``data``; ``source`` names it in messages."""
    if not data:
        raise WidedeepError(f"{source}: empty file; expected lines of {rules.LABELLED_FIELDS} (labelled) or "
                            f"{rules.UNLABELLED_FIELDS} (unlabelled) comma-separated fields")
    field_count = rules.first_line_field_count(data)
    if field_count not in (rules.LABELLED_FIELDS, rules.UNLABELLED_FIELDS):
        raise_first_bad_line(data, source, f"line 1 has {field_count} fields")
    say(f"reading {source} ({len(data) / 1e6:.1f} MB) with pyarrow")
    columns = _read_columns(data, source, rules.column_names(field_count))
    rows = len(columns[layout.NUMERIC_COLUMNS[0]])
    _check_line_ends(data, source, rows)
    labels = _labels(data, source, columns[layout.LABEL_COLUMN]) if layout.LABEL_COLUMN in columns else None
    numeric, numeric_range = _numeric(data, source, [columns[name] for name in layout.NUMERIC_ORDER])
    categorical = _categorical(data, source, [columns[name] for name in layout.FIELD_ORDER])
    return EvalTensors(categorical=categorical, numeric=numeric, labels=labels, source=source,
                       sha256=sha256, numeric_range=numeric_range)


def _parse_file(path: Path, shown: str) -> EvalTensors:
    """The tensors of regular file ``path``, named ``shown`` in messages."""
    # The hash is of the bytes parsed, not of a second read, so it names exactly what the tensors hold;
    # hashlib releases the GIL, so it runs beside the single-threaded steps of the parse.
    data = _read_bytes(path, shown)
    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())
        tensors = tensors_from_csv_bytes(data, shown, sha256="")
        return replace(tensors, sha256=digest.result())


def _read_bytes(path: Path, shown: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WidedeepError(f"{shown}: cannot read file ({exc.strerror})") from exc


def _read_columns(data: bytes, source: str, names: tuple[str, ...]) -> dict:
    """Every column as a pyarrow ChunkedArray of ``dictionary<int32, string>`` (raw text)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    text = pa.dictionary(pa.int32(), pa.string())
    read = pa_csv.ReadOptions(column_names=list(names), block_size=PARSE_BLOCK_BYTES)
    # No quoting: Criteo text is never quoted, so a '"' is kept as text rather than guessed at.
    # Empty lines are skipped here so that they show up as a row count short of the line count.
    parse = pa_csv.ParseOptions(delimiter=",", quote_char=False, double_quote=False, escape_char=False,
                                newlines_in_values=False, ignore_empty_lines=True)
    convert = pa_csv.ConvertOptions(column_types={name: text for name in names}, strings_can_be_null=False,
                                    check_utf8=True)
    try:
        table = pa_csv.read_csv(pa.BufferReader(pa.py_buffer(data)), read_options=read, parse_options=parse,
                                convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise_first_bad_line(data, source, f"pyarrow: {exc}")
    return {name: table.column(name) for name in names}


def _check_line_ends(data: bytes, source: str, rows: int) -> None:
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if rows != lines:
        raise_first_bad_line(data, source, f"pyarrow read {rows} rows from {lines} lines")
    if data.find(b"\r") >= 0 and data.count(b"\r") != data.count(b"\r\n"):
        raise_first_bad_line(data, source, "a carriage return that does not end a line")


def _dictionaries(columns: list):
    """The dictionaries of every chunk of ``columns``, concatenated in column then chunk order."""
    import pyarrow as pa

    return pa.concat_arrays([chunk.dictionary for column in columns for chunk in column.chunks])


def _spread(columns: list, per_entry: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fill ``out [len(columns), N]`` with the value of each row's dictionary entry; ``per_entry`` holds
    one value per entry of ``_dictionaries(columns)``, in the same order."""
    entry = 0
    for target, column in zip(out, columns):
        row = 0
        for chunk in column.chunks:
            size = len(chunk.dictionary)
            target[row:row + len(chunk)] = per_entry[entry:entry + size][chunk.indices.to_numpy()]
            entry += size
            row += len(chunk)
    return out


def _labels(data: bytes, source: str, column) -> np.ndarray:
    """``[N] int64`` labels; anything but the texts "0" and "1" is rejected."""
    values = _dictionaries([column]).to_numpy(zero_copy_only=False)
    if not set(values) <= set(rules.LABEL_VALUES):
        raise_first_bad_line(data, source, "a label other than 0 or 1")
    return _spread([column], (values == "1").astype(np.int64), np.empty((1, len(column)), np.int64))[0]


def _numeric(data: bytes, source: str, columns: list) -> tuple[np.ndarray, np.ndarray]:
    """``[N, 13] float32`` min-max normalised columns and their ``[2, 13] float64`` (min, max)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = _dictionaries(columns)
    if not pc.all(pc.match_substring_regex(texts, f"^({rules.INTEGER_PATTERN})?$")).as_py():
        raise_first_bad_line(data, source, "a numeric field that is not an integer")
    try:
        integers = pc.cast(pc.if_else(pc.equal(texts, ""), "0", texts), pa.int64())  # missing counts as 0
    except pa.ArrowInvalid as exc:
        raise_first_bad_line(data, source, f"pyarrow: {exc}")
    values = _spread(columns, integers.to_numpy().astype(np.float64),
                     np.empty((len(columns), len(columns[0])), np.float64))
    low, high = values.min(axis=1), values.max(axis=1)
    span = high - low
    span[span == 0] = 1.0  # a constant column: every row is at its min, so it normalises to 0.0, not NaN
    values -= low[:, None]
    values /= span[:, None]
    return np.ascontiguousarray(values.T, dtype=np.float32), np.stack([low, high])


def _categorical(data: bytes, source: str, columns: list) -> np.ndarray:
    """``[26*N, 2] int64``: row ``26*r + j`` = ``(j, bucket of field j in row r)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def refuse_control_characters(distinct) -> None:  # the distinct texts of all 26 fields, before hashing
        if pc.any(pc.match_substring_regex(distinct, rules.CONTROL_PATTERN)).as_py():
            raise_first_bad_line(data, source, "a control character in a categorical field")
        say(f"hashing {len(distinct)} distinct values of {len(columns)} categorical fields")

    # The 26 columns end to end (column-major), so the buckets come back as [26, N]. Buckets fit int16;
    # the narrow [26, N] intermediate makes the final interleave cheap.
    chunks = pa.chunked_array([chunk for column in columns for chunk in column.chunks], type=columns[0].type)
    buckets = bucketize(chunks, layout.BUCKETS, dtype=np.int16, before_hashing=refuse_control_characters)
    return _interleave(buckets.reshape(len(columns), len(columns[0])))


def _interleave(buckets: np.ndarray) -> np.ndarray:
    """``[26, N]`` buckets -> ``[26*N, 2] int64`` (field, bucket) rows (832 MB for 2 M rows), filled in
    blocks of rows whose reads stay in cache."""
    fields, rows = buckets.shape
    categorical = _small_page_array((rows, fields, 2), np.int64)
    for start in range(0, rows, INTERLEAVE_BLOCK_ROWS):
        block = slice(start, start + INTERLEAVE_BLOCK_ROWS)
        categorical[block, :, 0] = np.arange(fields)
        categorical[block, :, 1] = buckets[:, block].T
    return categorical.reshape(-1, 2)


def _small_page_array(shape: tuple[int, ...], dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` in an anonymous memory map of ordinary 4 KiB pages.

    NumPy asks Linux for transparent huge pages for large arrays; where the kernel must compact memory
    to find them, the first touch of the 832 MB categorical tensor cost 1.0-1.5 CPU s on the 2-core CI
    machine, against 0.5-0.65 s in small pages. The map is freed with the array.
    """
    count = math.prod(shape)
    return np.frombuffer(mmap.mmap(-1, max(count, 1) * np.dtype(dtype).itemsize), dtype, count).reshape(shape)


def _warn_constant_columns(tensors: EvalTensors) -> None:
    if tensors.constant_columns:
        warnings.warn(f"{tensors.source}: numeric column(s) {', '.join(tensors.constant_columns)} hold the "
                      "same value on every row (max == min); normalised to 0.0 rather than 0/0 = NaN",
                      UserWarning, stacklevel=3)
