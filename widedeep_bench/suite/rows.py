"""Batches of real eval rows for parity and perf: never synthetic filler, never all-zero indices."""

from __future__ import annotations

import numpy as np

from widedeep_bench import layout
from widedeep_bench.data.eval_tensors import EvalTensors


def real_rows(tensors: EvalTensors, batch_size: int, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``batch_size`` consecutive eval rows from ``start`` (wrapping around a shorter set), as contiguous
    ``categorical [26*B, 2]``, ``numeric [B, 13]`` and the ``[B]`` row indices they came from."""
    index = (start + np.arange(batch_size)) % tensors.rows
    categorical = tensors.categorical.reshape(-1, layout.NUM_FIELDS, 2)[index].reshape(-1, 2)
    return np.ascontiguousarray(categorical), np.ascontiguousarray(tensors.numeric[index]), index
