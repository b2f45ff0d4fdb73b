"""``eval-tensors.npz``: an eval set's rows after the suite's preprocessing, narrow, for a machine that cannot
preprocess (no ``pyfarmhash``, no TensorFlow): a bundle carries it (``widedeep_bench.bundle``), and ``bench gpu
--rows FILE`` reads one.

One ``.npz`` (zip, deflated) of five arrays and a marker:

================  ==================  =========================================================================
``format``        str                 ``FORMAT``: what wrote it
``buckets``       uint16 ``[N, 26]``  bucket of field j of sample r (``layout.FIELD_ORDER``), each in 0..999
``numeric``       float32 ``[N, 13]`` the min-max normalised numeric columns (``layout.NUMERIC_ORDER``)
``labels``        int8 ``[N]``        0 or 1; absent for an unlabelled (39-field) eval set
``numeric_range`` float64 ``[2, 13]`` per-column min (row 0) and max (row 1) of the whole file
``eval_sha256``   str                 SHA-256 of the eval.csv the rows were read from
================  ==================  =========================================================================

``load_eval_tensors_file`` rebuilds ``EvalTensors`` (categorical ``[26N, 2] int64`` as ``(field, bucket)``,
labels int64) with numpy alone, and refuses, in one line naming the file and the field, a file that is not
this format, or whose shapes, dtypes, bucket range, numeric range (finite, min <= max per column), labels or
eval SHA-256 do not match.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.cache import atomic_file
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.errors import WidedeepError

FORMAT = "widedeep-bench eval-tensors 1"
# What np.load raises for a file that is no readable .npz (truncated, garbled, not a zip, a bare .npy).
UNREADABLE_NPZ = (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, zipfile.BadZipFile, zlib.error)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def save_eval_tensors_file(path, tensors: EvalTensors) -> Path:
    """Write ``tensors`` (with its ``numeric_range``) narrow to ``path`` atomically; return the path."""
    if tensors.numeric_range is None:
        raise WidedeepError(f"{tensors.source}: no numeric_range; an eval-tensors file records the file's range")
    buckets = tensors.categorical[:, 1].reshape(tensors.rows, layout.NUM_FIELDS)
    arrays = {"format": np.array(FORMAT), "buckets": buckets.astype(np.uint16),
              "numeric": np.ascontiguousarray(tensors.numeric, dtype=np.float32),
              "numeric_range": np.asarray(tensors.numeric_range, dtype=np.float64),
              "eval_sha256": np.array(tensors.sha256)}
    if tensors.labels is not None:
        arrays["labels"] = tensors.labels.astype(np.int8)
    path = Path(path)
    with atomic_file(path) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, **arrays)  # a handle: np.savez appends ".npz" to a bare name
    return path


def load_eval_tensors_file(path, *, eval_sha256: str | None = None, rows: int | None = None,
                           label: str | None = None) -> EvalTensors:
    """The ``EvalTensors`` of the eval-tensors file ``path``; ``eval_sha256`` and ``rows``, where given, are what
    it must have been made from (a bundle's eval.csv). ``label`` names the file in messages (default: the path).
    Anything else is one ``WidedeepError`` naming the file and the field."""
    path = Path(path)
    shown = label or str(path)

    def fail(problem: str) -> WidedeepError:
        return WidedeepError(f"{shown}: {problem}")

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise fail("no such file; expected an eval-tensors .npz (written by `widedeep-bench bundle`)") from None
    except UNREADABLE_NPZ as exc:
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise fail(f"not a readable eval-tensors .npz ({type(exc).__name__}: {cause}); write it again") from None
    made_by = arrays.get("format")
    if made_by is None or made_by.shape != () or str(made_by) != FORMAT:
        raise fail(f"field format is {None if made_by is None else str(made_by)!r}, expected {FORMAT!r}: not an "
                   f"eval-tensors file written by `widedeep-bench bundle`")
    for name in ("buckets", "numeric", "numeric_range", "eval_sha256"):
        if name not in arrays:
            raise fail(f"field {name} is missing (it holds {sorted(arrays)})")
    extra = sorted(set(arrays) - {"format", "buckets", "numeric", "numeric_range", "eval_sha256", "labels"})
    if extra:
        raise fail(f"field {extra[0]} is not an eval-tensors field")
    buckets, numeric = arrays["buckets"], arrays["numeric"]
    if buckets.dtype != np.uint16 or buckets.ndim != 2 or buckets.shape[1] != layout.NUM_FIELDS:
        raise fail(f"field buckets is {buckets.dtype.name} {list(buckets.shape)}, expected uint16 "
                   f"[N, {layout.NUM_FIELDS}]")
    n = buckets.shape[0]
    expected = {"numeric": (np.float32, (n, layout.NUM_NUMERIC)),
                "numeric_range": (np.float64, (2, layout.NUM_NUMERIC))}
    if "labels" in arrays:
        expected["labels"] = (np.int8, (n,))
    for name, (dtype, shape) in expected.items():
        array = arrays[name]
        if array.dtype != dtype or array.shape != shape:
            raise fail(f"field {name} is {array.dtype.name} {list(array.shape)}, expected {np.dtype(dtype).name} "
                       f"{list(shape)} (buckets has {n} rows)")
    if rows is not None and n != rows:
        raise fail(f"field buckets has {n} rows, the eval set has {rows}")
    if n and int(buckets.max()) >= layout.BUCKETS:
        row, field = map(int, np.argwhere(buckets >= layout.BUCKETS)[0])
        raise fail(f"field buckets: row {row} field {field} holds {int(buckets[row, field])}, outside "
                   f"0..{layout.BUCKETS - 1}")
    if not np.isfinite(numeric).all():
        row, column = map(int, np.argwhere(~np.isfinite(numeric))[0])
        raise fail(f"field numeric: row {row} column {column} is {numeric[row, column]}, not a finite number")
    low, high = arrays["numeric_range"]
    if not np.isfinite(arrays["numeric_range"]).all():
        row, column = map(int, np.argwhere(~np.isfinite(arrays["numeric_range"]))[0])
        raise fail(f"field numeric_range: {('min', 'max')[row]} of column {column} is "
                   f"{arrays['numeric_range'][row, column]}, not a finite number")
    if (low > high).any():
        column = int(np.flatnonzero(low > high)[0])
        raise fail(f"field numeric_range: column {column} has min {low[column]} > max {high[column]}")
    if "labels" in arrays and n and not np.isin(arrays["labels"], (0, 1)).all():
        row = int(np.flatnonzero(~np.isin(arrays["labels"], (0, 1)))[0])
        raise fail(f"field labels: row {row} is {int(arrays['labels'][row])}, expected 0 or 1")
    sha = arrays["eval_sha256"]
    if sha.shape != () or sha.dtype.kind != "U" or not _SHA256.fullmatch(str(sha)):
        raise fail(f"field eval_sha256 is not a SHA-256 (64 hex digits): {str(sha)[:80]!r}")
    if eval_sha256 is not None and str(sha) != eval_sha256:
        raise fail(f"field eval_sha256 is {sha}, but the eval set has {eval_sha256}: these rows were read from "
                   f"another eval.csv")
    categorical = np.empty((n * layout.NUM_FIELDS, 2), dtype=np.int64)
    categorical[:, 0] = np.tile(np.arange(layout.NUM_FIELDS, dtype=np.int64), n)
    categorical[:, 1] = buckets.reshape(-1)
    labels = arrays["labels"].astype(np.int64) if "labels" in arrays else None
    return EvalTensors(categorical=categorical, numeric=numeric, labels=labels, source=shown, sha256=str(sha),
                       numeric_range=arrays["numeric_range"])
