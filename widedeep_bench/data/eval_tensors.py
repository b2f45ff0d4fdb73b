"""``EvalTensors``: the model's input tensors for the rows of one Criteo file, plus where they came from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from widedeep_bench import layout
from widedeep_bench.cache import atomic_file
from widedeep_bench.errors import WidedeepError


@dataclass(frozen=True)
class EvalTensors:
    """The signature's feed for N rows (SPEC section 2) and the labels.

    ``categorical`` ``[26*N, 2] int64``: row ``26*r + j`` is ``(j, bucket)`` of sample r, field j in
    ``layout.FIELD_ORDER``. ``numeric`` ``[N, 13] float32``: columns in ``layout.NUMERIC_ORDER``,
    min-max normalised over the whole source file. ``labels`` ``[N] int64`` in {0, 1}, or None for an
    unlabelled (39-field) file. ``numeric_range`` ``[2, 13] float64``: the per-column min (row 0) and
    max (row 1) of the whole source file that normalised ``numeric``; slices keep the file's range.
    Arrays loaded from the cache are read-only memory maps.
    """

    categorical: np.ndarray
    numeric: np.ndarray
    labels: np.ndarray | None
    source: str  # path it came from
    sha256: str  # content hash (hex) of the source file
    numeric_range: np.ndarray | None = None

    def __post_init__(self) -> None:
        rows = self.numeric.shape[0] if self.numeric.ndim == 2 else -1
        expected = {"categorical": (np.int64, (layout.NUM_FIELDS * rows, 2)),
                    "numeric": (np.float32, (rows, layout.NUM_NUMERIC))}
        if self.labels is not None:
            expected["labels"] = (np.int64, (rows,))
        if self.numeric_range is not None:
            expected["numeric_range"] = (np.float64, (2, layout.NUM_NUMERIC))
        for name, (dtype, shape) in expected.items():
            array = getattr(self, name)
            if array.dtype != dtype or array.shape != shape:
                raise WidedeepError(f"{self.source}: tensor {name} must be {list(shape)} {np.dtype(dtype).name}, "
                                    f"got {list(array.shape)} {array.dtype.name}")

    @property
    def rows(self) -> int:
        return self.numeric.shape[0]

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    @property
    def constant_columns(self) -> tuple[str, ...]:
        """Numeric columns whose min equals their max in the source file (normalised to 0.0)."""
        if self.numeric_range is None:
            return ()
        low, high = self.numeric_range
        return tuple(name for name, lo, hi in zip(layout.NUMERIC_ORDER, low, high) if lo == hi)

    def slice(self, start: int, stop: int) -> "EvalTensors":
        """Rows ``start:stop`` as views of these arrays (no copy)."""
        if not 0 <= start <= stop <= self.rows:
            raise WidedeepError(f"{self.source}: rows {start}:{stop} are outside the {self.rows} rows")
        fields = layout.NUM_FIELDS
        return replace(self, categorical=self.categorical[fields * start:fields * stop],
                       numeric=self.numeric[start:stop],
                       labels=None if self.labels is None else self.labels[start:stop])

    def head(self, n: int) -> "EvalTensors":
        """The first ``n`` rows (views); asking for more rows than there are is an error."""
        if not 0 <= n <= self.rows:
            raise WidedeepError(f"{self.source}: asked for the first {n} rows, it has {self.rows}")
        return self.slice(0, n)

    def batches(self, batch_size: int, drop_last: bool = True) -> Iterator["EvalTensors"]:
        """Consecutive batches of ``batch_size`` rows (views). ByteMLPerf's accuracy run drops the final
        partial batch (``drop_last=True``), so a file shorter than one batch yields nothing."""
        if batch_size < 1:
            raise WidedeepError(f"{self.source}: batch size must be at least 1, got {batch_size}")
        end = self.rows - self.rows % batch_size if drop_last else self.rows
        for start in range(0, end, batch_size):
            yield self.slice(start, min(start + batch_size, end))

    def arrays(self) -> dict[str, np.ndarray]:
        """``categorical``, ``numeric`` and, for a labelled file, ``labels``."""
        named = {"categorical": self.categorical, "numeric": self.numeric}
        if self.labels is not None:
            named["labels"] = self.labels
        return named

    def save_npz(self, path) -> Path:
        """Write ``arrays()`` to an uncompressed ``.npz`` at ``path`` atomically; return the path."""
        path = Path(path)
        with atomic_file(path) as tmp, tmp.open("wb") as handle:
            np.savez(handle, **self.arrays())  # a handle, because np.savez appends ".npz" to a bare name
        return path
