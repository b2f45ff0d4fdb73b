"""Validation of one feed before any engine sees it.

An engine gathers ``table[field, bucket]`` on the device without bounds checks, so a field index of
26 or a bucket of 1000 reads memory it does not own and returns plausible garbage (or faults). Every
runner's public ``infer()`` calls ``check_feed`` first; the checks cost tens of microseconds at
batch 1024 (the null runner's time measures them).
"""

from __future__ import annotations

import numpy as np

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError

CATEGORICAL = f"categorical feed ({layout.CATEGORICAL_KEY}, [26*N, 2] int64)"
NUMERIC = f"numeric feed ({layout.NUMERIC_KEY}, [N, 13] float32)"
_SLOTS = np.arange(layout.NUM_FIELDS)


def _check_array(array, what: str, dtype: np.dtype, columns: int) -> None:
    if not isinstance(array, np.ndarray):
        raise WidedeepError(f"{what}: expected a numpy array, got {type(array).__name__}")
    if array.dtype != dtype:
        raise WidedeepError(f"{what}: expected dtype {np.dtype(dtype).name}, got {array.dtype.name}")
    if array.ndim != 2 or array.shape[1] != columns:
        raise WidedeepError(f"{what}: expected shape [rows, {columns}], got {list(array.shape)}")


def _check_fields(fields: np.ndarray, samples: int) -> None:
    """Row ``26*r + j`` must hold field ``j``: any other value is out of bounds or a misordered row."""
    wrong = fields.reshape(samples, layout.NUM_FIELDS) != _SLOTS
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        sample, slot = divmod(row, layout.NUM_FIELDS)
        raise WidedeepError(f"{CATEGORICAL}: row {row} (sample {sample}, slot {slot}): field index "
                            f"{int(fields[row])}, expected {slot} (row 26*r + j holds field j, 0..25)")


def _check_buckets(buckets: np.ndarray) -> None:
    if buckets.min() >= 0 and buckets.max() < layout.BUCKETS:
        return
    row = int(np.flatnonzero((buckets < 0) | (buckets >= layout.BUCKETS))[0])
    sample, slot = divmod(row, layout.NUM_FIELDS)
    raise WidedeepError(f"{CATEGORICAL}: row {row} (sample {sample}, slot {slot}): bucket "
                        f"{int(buckets[row])} is outside 0..{layout.BUCKETS - 1}")


def check_feed(categorical: np.ndarray, numeric: np.ndarray) -> int:
    """Check ``categorical [26*N, 2] int64`` and ``numeric [N, 13] float32``; return N (samples).

    Raises ``WidedeepError`` naming the tensor, row and value for: a wrong type, dtype or shape; a
    row count other than 26 per sample; a field index other than j in row ``26*r + j`` (so
    nothing outside 0..25); a bucket outside 0..999; a NaN or infinite numeric value.
    """
    _check_array(categorical, CATEGORICAL, np.dtype(np.int64), 2)
    _check_array(numeric, NUMERIC, np.dtype(np.float32), layout.NUM_NUMERIC)
    samples = numeric.shape[0]
    if samples == 0:
        raise WidedeepError(f"{NUMERIC}: the batch is empty (0 samples)")
    if categorical.shape[0] != layout.NUM_FIELDS * samples:
        raise WidedeepError(f"{CATEGORICAL}: has {categorical.shape[0]} rows; expected 26 per sample, "
                            f"26 x {samples} = {layout.NUM_FIELDS * samples} for the {samples} numeric rows")
    _check_fields(categorical[:, 0], samples)
    _check_buckets(categorical[:, 1])
    if not np.isfinite(numeric).all():
        row, column = (int(i[0]) for i in np.nonzero(~np.isfinite(numeric)))
        raise WidedeepError(f"{NUMERIC}: row {row}, column {column} ({layout.NUMERIC_ORDER[column]}): "
                            f"{numeric[row, column]} is not a finite number")
    return samples
