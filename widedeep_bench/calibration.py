"""Calibration rows for INT8 engines: where they come from, proven disjoint from every scored row.

An INT8 engine's quantization scales are measured on calibration rows; rows that are also scored would
let the engine be tuned on the answers. The rows come from one of three sources, first match wins:

1. ``--wd-calibration-csv FILE`` (``--calibration-csv`` on the commands): that file's rows (Criteo format,
   with or without labels).
2. the embedded synthetic default: the first ``CALIBRATION_ROWS`` synthetic *training* rows of the same
   world (row seed ``TRAINING_ROW_SEED``; the eval rows use ``EVAL_ROW_SEED``), the rows the TF original
   was trained on, never scored.
3. a user's eval.csv (or a bundle's eval set): its last ``CALIBRATION_ROWS`` rows, held out: a run that
   calibrates scores only the rows before them (``scored_rows``), for every engine alike.

Rows from another file are read like any Criteo file, numerics min-max normalised over that file's range,
then re-normalised over the eval set's (``normalised_like``): the engine sees each numeric as it would be
had the row been in the eval set, so the quantization ranges are measured on the distribution that is
scored (over their own file's range the synthetic training rows' numerics run 1.4 to 18 times larger).

Whatever the source, ``check_disjoint`` compares the rows' contents with the scored rows and refuses any
overlap: their 26 categorical buckets, not their numerics, because numerics are normalised over each file's
own range (the same line read from two files gives two sets of numerics), while 26 hashed fields of up to
1000 buckets each identify a row (two different Criteo rows agree on all 26 with negligible chance). ``CalibrationSet.digest`` (SHA-256 of the tensors) is part of
every INT8 engine's key, and ``as_dict`` is what the report says of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from widedeep_bench import layout
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.errors import WidedeepError

# 32 batches of 512. MinMax ranges grow with the rows seen: on the embedded default, 4,096 rows left the rarest
# rows' activations outside the ranges (ONNX Runtime INT8's worst row over 507,904 scored: |dp| 0.084), 16,384
# rows brought it to 0.023 (2026-11-30). MLPerf's own DLRM calibration set is larger still (128,000 rows).
CALIBRATION_ROWS = 16384
CALIBRATION_BATCH = 512
MIN_CALIBRATION_ROWS = 256  # fewer rows leave the activation ranges to a handful of samples
CHECK_CHUNK = 1 << 16  # scored rows compared per step: memory stays bounded on a 45 M-row eval set
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
        if self.tensors.rows < MIN_CALIBRATION_ROWS:
            raise WidedeepError(f"{self.source}: {self.tensors.rows} calibration rows; INT8 scales need at least "
                                f"{MIN_CALIBRATION_ROWS} (the suite's own default is {CALIBRATION_ROWS})")

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


@dataclass(frozen=True)
class CalibrationUnavailable:
    """A run that calibrates has no calibration rows, and why: its INT8 engines cannot be built."""

    why: str
    held_out = None  # scored_rows: nothing is held out

    def __bool__(self) -> bool:
        return False


def calibration_set(assets, eval_tensors: EvalTensors, csv: str | Path | None = None, *,
                    option: str = "--wd-calibration-csv", rows: int = CALIBRATION_ROWS) -> CalibrationSet:
    """The calibration rows of a run on ``assets`` (``widedeep_bench.assets.Assets`` or a bundle's), by the
    rules above; ``csv`` is the file the user named with ``option``. Rows from another file come normalised
    like ``eval_tensors``."""
    if csv is not None:
        return normalised_like(rows_from_csv(csv, option=option), eval_tensors)
    synthetic = getattr(assets, "synthetic", None)
    if synthetic is not None and assets.origins.get("eval_csv") == "synthetic":
        return normalised_like(_synthetic_training_rows(synthetic, rows), eval_tensors)
    return held_out_rows(eval_tensors, rows, option=option)


def refuse_unneeded(option: str, precision: str) -> None:
    """Calibration rows given to a run that calibrates nothing would be silently unused: refuse them."""
    from widedeep_bench.precision import CALIBRATED_PRECISIONS

    if precision not in CALIBRATED_PRECISIONS:
        raise WidedeepError(f"{option}: only {'/'.join(CALIBRATED_PRECISIONS)} engines calibrate; this run is "
                            f"--precision {precision}")


def rows_from_csv(csv: str | Path, *, option: str) -> CalibrationSet:
    """Every row of a Criteo-format file the user named with ``option`` (read like any eval.csv)."""
    from widedeep_bench.data.criteo_csv import load_eval_tensors

    tensors = load_eval_tensors(csv, option=option)
    return CalibrationSet(tensors, f"{option} {csv} ({tensors.rows} rows)")


def normalised_like(calibration: CalibrationSet, scored: EvalTensors) -> CalibrationSet:
    """``calibration`` with its numerics re-normalised over ``scored``'s file range: each value is taken back
    to its integer count through its own file's (min, max), then normalised with the scored file's. A column
    constant in the scored file normalises to 0.0 there, and so here."""
    own, target = calibration.tensors.numeric_range, scored.numeric_range
    if own is None or target is None:
        raise WidedeepError(f"cannot normalise calibration rows ({calibration.source}) like {scored.source}: "
                            f"{'they' if own is None else 'the eval set'} carry no numeric range")
    own_span, target_span = own[1] - own[0], target[1] - target[0]
    counts = np.rint(np.asarray(calibration.tensors.numeric, np.float64) * np.where(own_span > 0, own_span, 0)
                     + own[0])
    numeric = np.where(target_span > 0, (counts - target[0]) / np.where(target_span > 0, target_span, 1), 0.0)
    tensors = replace(calibration.tensors, numeric=np.ascontiguousarray(numeric, dtype=np.float32),
                      numeric_range=target)
    return CalibrationSet(tensors, f"{calibration.source}; numerics normalised over {scored.source}'s range",
                          held_out=calibration.held_out)


def _synthetic_training_rows(synthetic, rows: int) -> CalibrationSet:
    """``synthetic`` is the run's ``synthetic.default.SyntheticDefault`` (not imported here: the synthetic
    default runs the TF original through the engines, which read this module)."""
    from widedeep_bench.data.criteo_csv import load_eval_tensors

    return CalibrationSet(load_eval_tensors(synthetic.training_rows(rows)),
                          f"the first {rows} synthetic training rows of the embedded default (world "
                          f"{synthetic.world_seed}, row seed {synthetic.training_row_seed}; the eval rows are drawn "
                          f"with another seed)")


def held_out_rows(eval_tensors: EvalTensors, rows: int = CALIBRATION_ROWS, *,
                  option: str = "--wd-calibration-csv") -> CalibrationSet:
    """The last ``rows`` rows of the eval set, held out of scoring; what is left must hold a whole batch."""
    from widedeep_bench.metrics import ACCURACY_BATCH

    start = eval_tensors.rows - rows
    if start < ACCURACY_BATCH:
        raise WidedeepError(f"{eval_tensors.source}: {eval_tensors.rows} rows; holding out the last {rows} for INT8 "
                            f"calibration leaves fewer than one batch of {ACCURACY_BATCH} to score: give calibration "
                            f"rows of their own with {option} FILE")
    return CalibrationSet(eval_tensors.slice(start, eval_tensors.rows),
                          f"{eval_tensors.source} rows {start}..{eval_tensors.rows - 1} (the last {rows}), held out: "
                          f"excluded from scoring", held_out=(start, eval_tensors.rows))


def scored_rows(eval_tensors: EvalTensors, calibration) -> EvalTensors:
    """The eval rows a run may score: all of them, or those before a held-out calibration slice
    (``calibration``: a ``CalibrationSet``, ``CalibrationUnavailable`` or None)."""
    if not calibration or calibration.held_out is None:
        return eval_tensors
    return eval_tensors.head(calibration.held_out[0])


def _row_keys(tensors: EvalTensors) -> list[bytes]:
    """One bytes key per row: its 26 categorical buckets."""
    buckets = np.ascontiguousarray(tensors.categorical[:, 1]).reshape(tensors.rows, layout.NUM_FIELDS)
    return buckets.view(np.dtype((np.void, buckets.shape[1] * buckets.itemsize))).ravel().tolist()


def check_disjoint(calibration: CalibrationSet, scored: EvalTensors) -> None:
    """Refuse calibration rows that equal a scored row (the same 26 buckets), naming the first ones. A held-out
    slice is disjoint by position (``scored_rows`` ends before it) and is not compared: real Criteo rows may
    repeat an impression, and the slice's duplicates of earlier rows are still rows that are not scored."""
    if calibration.held_out is not None:
        if scored.rows > calibration.held_out[0]:
            raise WidedeepError(f"{scored.source}: {scored.rows} rows scored, but rows from {calibration.held_out[0]} "
                                f"on are held out for calibration ({calibration.source})")
        return
    keys = set(_row_keys(calibration.tensors))
    overlap = []
    for start in range(0, scored.rows, CHECK_CHUNK):
        chunk = scored.slice(start, min(start + CHECK_CHUNK, scored.rows))
        overlap += [start + row for row, key in enumerate(_row_keys(chunk)) if key in keys]
    if overlap:
        shown = ", ".join(str(row) for row in overlap[:OVERLAP_EXAMPLES])
        raise WidedeepError(f"calibration rows ({calibration.source}) overlap the scored rows of "
                            f"{scored.source}: {len(overlap)} scored rows equal a calibration row (rows {shown}"
                            f"{', ...' if len(overlap) > OVERLAP_EXAMPLES else ''}); an INT8 engine calibrated on "
                            f"them would be tuned on the answers. Give calibration rows that are not in the eval set")
