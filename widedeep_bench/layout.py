"""Facts of the real Wide & Deep model and of Criteo's eval.csv (SPEC sections 2 and 4), and the feed
contract that checks tensors against them.

Everything that must match the real ``open_wide_deep_saved_model`` lives here once: tensor names,
field and column orders, table sizes and the tower.

``check_feed`` validates one feed before any engine sees it. An engine gathers ``table[field, bucket]``
on the device without bounds checks, so a field index of 26 or a bucket of 1000 reads memory it does
not own and returns plausible garbage (or faults). Every runner's public ``infer()`` calls it first; the
checks cost tens of microseconds at batch 1024 (the null runner's time measures them).
"""

from __future__ import annotations

import numpy as np

from widedeep_bench.errors import WidedeepError

NUM_FIELDS = 26
NUM_NUMERIC = 13
BUCKETS = 1000
EMBEDDING_DIM = 32
HIDDEN_UNITS = (1024, 512, 256)
DEEP_INPUT_DIM = NUM_FIELDS * EMBEDDING_DIM + NUM_NUMERIC  # 845

CATEGORICAL_KEY = "new_categorical_placeholder:0"  # int64 [26*N, 2]: row 26*r + j is (j, bucket)
NUMERIC_KEY = "new_numeric_placeholder:0"  # float32 [N, 13], min-max normalised
OUTPUT_KEY = "import/head/predictions/probabilities:0"  # float32 [N, 2] = softmax([0, logit])
ZEROS_LIKE_KEY = "import/head/predictions/zeros_like:0"  # float32 [N, 1]; a graph input after --cut-zeros-like
SIGNATURE = "serving_default"
TAG = "serve"

LABEL_COLUMN = "label"
NUMERIC_COLUMNS = tuple(f"I{i}" for i in range(1, NUM_NUMERIC + 1))
CATEGORICAL_COLUMNS = tuple(f"C{i}" for i in range(1, NUM_FIELDS + 1))
CSV_COLUMNS = (LABEL_COLUMN,) + NUMERIC_COLUMNS + CATEGORICAL_COLUMNS  # 40 fields; 39 without label

# The canned estimator sorts feature columns by name: I1, I10, I11, I12, I13, I2, ..., I9.
NUMERIC_ORDER = tuple(sorted(NUMERIC_COLUMNS))
# Field j of the categorical tensor; sorted by "C<k>_embedding", so C10..C19, C1, C20..C26, C2, ..., C9.
FIELD_ORDER = tuple(sorted(CATEGORICAL_COLUMNS, key=lambda name: f"{name}_embedding"))

FLOP_PER_SAMPLE = 2 * (DEEP_INPUT_DIM * 1024 + 1024 * 512 + 512 * 256 + 256)  # 3.04 MFLOP


# --- the feed contract ---------------------------------------------------------------------------------

_CATEGORICAL_FEED = f"categorical feed ({CATEGORICAL_KEY}, [26*N, 2] int64)"
_NUMERIC_FEED = f"numeric feed ({NUMERIC_KEY}, [N, 13] float32)"
_SLOTS = np.arange(NUM_FIELDS)


def _check_array(array, what: str, dtype: np.dtype, columns: int) -> None:
    if not isinstance(array, np.ndarray):
        raise WidedeepError(f"{what}: expected a numpy array, got {type(array).__name__}")
    if array.dtype != dtype:
        raise WidedeepError(f"{what}: expected dtype {np.dtype(dtype).name}, got {array.dtype.name}")
    if array.ndim != 2 or array.shape[1] != columns:
        raise WidedeepError(f"{what}: expected shape [rows, {columns}], got {list(array.shape)}")


def _check_fields(fields: np.ndarray, samples: int) -> None:
    """Row ``26*r + j`` must hold field ``j``: any other value is out of bounds or a misordered row."""
    wrong = fields.reshape(samples, NUM_FIELDS) != _SLOTS
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        sample, slot = divmod(row, NUM_FIELDS)
        raise WidedeepError(f"{_CATEGORICAL_FEED}: row {row} (sample {sample}, slot {slot}): field index "
                            f"{int(fields[row])}, expected {slot} (row 26*r + j holds field j, 0..25)")


def _check_buckets(buckets: np.ndarray) -> None:
    if buckets.min() >= 0 and buckets.max() < BUCKETS:
        return
    row = int(np.flatnonzero((buckets < 0) | (buckets >= BUCKETS))[0])
    sample, slot = divmod(row, NUM_FIELDS)
    raise WidedeepError(f"{_CATEGORICAL_FEED}: row {row} (sample {sample}, slot {slot}): bucket "
                        f"{int(buckets[row])} is outside 0..{BUCKETS - 1}")


def check_feed(categorical: np.ndarray, numeric: np.ndarray) -> int:
    """Check ``categorical [26*N, 2] int64`` and ``numeric [N, 13] float32``; return N (samples).

    Raises ``WidedeepError`` naming the tensor, row and value for: a wrong type, dtype or shape; a
    row count other than 26 per sample; a field index other than j in row ``26*r + j`` (so
    nothing outside 0..25); a bucket outside 0..999; a NaN or infinite numeric value.
    """
    _check_array(categorical, _CATEGORICAL_FEED, np.dtype(np.int64), 2)
    _check_array(numeric, _NUMERIC_FEED, np.dtype(np.float32), NUM_NUMERIC)
    samples = numeric.shape[0]
    if samples == 0:
        raise WidedeepError(f"{_NUMERIC_FEED}: the batch is empty (0 samples)")
    if categorical.shape[0] != NUM_FIELDS * samples:
        raise WidedeepError(f"{_CATEGORICAL_FEED}: has {categorical.shape[0]} rows; expected 26 per sample, "
                            f"26 x {samples} = {NUM_FIELDS * samples} for the {samples} numeric rows")
    _check_fields(categorical[:, 0], samples)
    _check_buckets(categorical[:, 1])
    if not np.isfinite(numeric).all():
        row, column = (int(i[0]) for i in np.nonzero(~np.isfinite(numeric)))
        raise WidedeepError(f"{_NUMERIC_FEED}: row {row}, column {column} ({NUMERIC_ORDER[column]}): "
                            f"{numeric[row, column]} is not a finite number")
    return samples
