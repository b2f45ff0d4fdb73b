"""Calibration rows for INT8 engines: where they come from, proven disjoint from every scored row.

An INT8 engine's quantization scales are measured on calibration rows; rows that are also scored would
let the engine be tuned on the answers. The rows come from one of three sources, first match wins:

1. ``--wd-calibration-csv FILE`` (``--calibration-csv`` on the commands): that file's rows (Criteo format,
   with or without labels; numerics normalised over that file, as every Criteo file is read).
2. the embedded synthetic default: the first ``CALIBRATION_ROWS`` synthetic *training* rows of the same
   world (row seed ``TRAINING_ROW_SEED``; the eval rows use ``EVAL_ROW_SEED``), the rows the TF original
   was trained on, never scored.
3. a user's eval.csv (or a bundle's eval set): its last ``CALIBRATION_ROWS`` rows, held out: a run that
   calibrates scores only the rows before them (``scored_rows``), for every engine alike.

Whatever the source, ``check_disjoint`` compares the rows' contents with the scored rows and refuses any
overlap: their 26 categorical buckets, not their numerics, because numerics are normalised over each file's
own range (the same line read from two files gives two sets of numerics), while 26 hashed fields of up to
1000 buckets each identify a row (two different Criteo rows agree on all 26 with negligible chance). ``CalibrationSet.digest`` (SHA-256 of the tensors) is part of
every INT8 engine's key, and ``as_dict`` is what the report says of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from widedeep_bench import layout
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.errors import WidedeepError

CALIBRATION_ROWS = 4096  # 8 batches of 512: MinMax scales settle within a few batches (ORT, NNCF)
CALIBRATION_BATCH = 512
OVERLAP_EXAMPLES = 5


@dataclass(frozen=True, eq=False)
class CalibrationSet:
    """Calibration rows and what they are. Equal (and hashed) by ``digest``.

    ``source``: where they came from, in words; ``held_out``: ``(start, stop)`` of the eval set's rows
    when they are a held-out slice of it (excluded from scoring), else None.
    """

    tensors: EvalTensors
    source: str
    held_out: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.tensors.rows == 0:
            raise WidedeepError(f"{self.source}: no calibration rows")

    @property
    def rows(self) -> int:
        return self.tensors.rows

    @property
    def digest(self) -> str:
        """SHA-256 of the calibration feed (categorical and numeric bytes): the engine key's part."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            digest = hashlib.sha256()
            for array in (self.tensors.categorical, self.tensors.numeric):
                array = np.ascontiguousarray(array)
                digest.update(f"{array.dtype.str}{list(array.shape)}".encode())
                digest.update(array.tobytes())
            cached = digest.hexdigest()
            object.__setattr__(self, "_digest", cached)
        return cached

    def batches(self) -> Iterator[EvalTensors]:
        """The rows in batches of ``CALIBRATION_BATCH`` (the last one may be shorter)."""
        return self.tensors.batches(CALIBRATION_BATCH, drop_last=False)

    def as_dict(self) -> dict:
        return {"source": self.source, "rows": self.rows, "sha256": self.digest,
                "held_out_eval_rows": None if self.held_out is None else list(self.held_out)}

    def __eq__(self, other) -> bool:
        return isinstance(other, CalibrationSet) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


def calibration_set(assets, eval_tensors: EvalTensors, csv: str | Path | None = None, *,
                    option: str = "--wd-calibration-csv", rows: int = CALIBRATION_ROWS) -> CalibrationSet:
    """The calibration rows of a run on ``assets`` (``widedeep_bench.assets.Assets`` or a bundle's), by the
    rules above; ``csv`` is the file the user named with ``option``."""
    if csv is not None:
        return rows_from_csv(csv, option=option)
    synthetic = getattr(assets, "synthetic", None)
    if synthetic is not None and assets.origins.get("eval_csv") == "synthetic":
        return _synthetic_training_rows(synthetic, rows)
    return held_out_rows(eval_tensors, rows)


def rows_from_csv(csv: str | Path, *, option: str) -> CalibrationSet:
    """Every row of a Criteo-format file the user named with ``option`` (read like any eval.csv)."""
    from widedeep_bench.data.criteo_csv import load_eval_tensors

    tensors = load_eval_tensors(csv, option=option)
    return CalibrationSet(tensors, f"{option} {csv} ({tensors.rows} rows)")


def _synthetic_training_rows(synthetic, rows: int) -> CalibrationSet:
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.synthetic.criteo_rows import cached_criteo_csv
    from widedeep_bench.synthetic.default import TRAINING_ROW_SEED

    world_seed = synthetic.world_seed
    path = cached_criteo_csv(rows, world_seed=world_seed, row_seed=TRAINING_ROW_SEED)
    return CalibrationSet(load_eval_tensors(path),
                          f"the first {rows} synthetic training rows of the embedded default (world {world_seed}, "
                          f"row seed {TRAINING_ROW_SEED}; the eval rows are drawn with another seed)")


def held_out_rows(eval_tensors: EvalTensors, rows: int = CALIBRATION_ROWS) -> CalibrationSet:
    """The last ``rows`` rows of the eval set, held out of scoring; what is left must hold a whole batch."""
    from widedeep_bench.metrics import ACCURACY_BATCH

    start = eval_tensors.rows - rows
    if start < ACCURACY_BATCH:
        raise WidedeepError(f"{eval_tensors.source}: {eval_tensors.rows} rows; holding out the last {rows} for INT8 "
                            f"calibration leaves fewer than one batch of {ACCURACY_BATCH} to score: give calibration "
                            f"rows of their own with --wd-calibration-csv FILE")
    return CalibrationSet(eval_tensors.slice(start, eval_tensors.rows),
                          f"{eval_tensors.source} rows {start}..{eval_tensors.rows - 1} (the last {rows}), held out: "
                          f"excluded from scoring", held_out=(start, eval_tensors.rows))


def scored_rows(eval_tensors: EvalTensors, calibration: CalibrationSet | None) -> EvalTensors:
    """The eval rows a run may score: all of them, or those before a held-out calibration slice."""
    if calibration is None or calibration.held_out is None:
        return eval_tensors
    return eval_tensors.head(calibration.held_out[0])


def _row_keys(tensors: EvalTensors) -> list[bytes]:
    """One bytes key per row: its 26 categorical buckets."""
    buckets = np.ascontiguousarray(tensors.categorical[:, 1]).reshape(tensors.rows, layout.NUM_FIELDS)
    return buckets.view(np.dtype((np.void, buckets.shape[1] * buckets.itemsize))).ravel().tolist()


def check_disjoint(calibration: CalibrationSet, scored: EvalTensors) -> None:
    """Refuse calibration rows that equal a scored row (the same 26 buckets), naming the first ones."""
    keys = set(_row_keys(calibration.tensors))
    overlap = [row for row, key in enumerate(_row_keys(scored)) if key in keys]
    if overlap:
        shown = ", ".join(str(row) for row in overlap[:OVERLAP_EXAMPLES])
        raise WidedeepError(f"calibration rows ({calibration.source}) overlap the scored rows of "
                            f"{scored.source}: {len(overlap)} scored rows equal a calibration row (rows {shown}"
                            f"{', ...' if len(overlap) > OVERLAP_EXAMPLES else ''}); an INT8 engine calibrated on "
                            f"them would be tuned on the answers. Give calibration rows that are not in the eval set")
