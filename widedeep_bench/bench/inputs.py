"""What the benchmarks run on: the models, the rows, the batches and the activated runners.

Without ``--saved-model``/``--onnx`` the model is a random-weights SavedModel with the real shapes (made once
in the cache) and the suite's default conversion of it: same FLOP, same kernels as the real model. Without
``--eval-csv`` the rows are synthetic Criteo-format rows read by the real preprocessing (``read_eval_csv``).
INT8 engines calibrate on rows of their own (``calibration_rows``): synthetic rows of another row seed than the
timed ones, or the user's ``--calibration-csv``; never rows that are also timed and compared.
"""

from __future__ import annotations

from pathlib import Path

from widedeep_bench.calibration import CALIBRATION_ROWS
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

WEIGHTS_SEED = 7
SYNTHETIC_ROWS = 16 * 1024
ROW_SEED, CALIBRATION_ROW_SEED = 1, 2  # synthetic rows of one world: the timed ones, the INT8 calibration ones
ORT_FP32, TF_ORIGINAL = "onnxruntime-fp32", "tensorflow-fp32"  # the labels of activated_runners


def default_models() -> tuple[Path, Path]:
    """A random-weights SavedModel with the real shapes (made once in the cache) and its default conversion
    (``cached_conversion``: simplified, Gemm layers, symbolic batch), the ONNX the suite runs."""
    from widedeep_bench.cache import cache_root, lock_for
    from widedeep_bench.conversion import cached_conversion
    from widedeep_bench.model.saved_model import write_saved_model
    from widedeep_bench.model.weights import WideDeepWeights

    saved_model = cache_root() / "benchmarks" / f"random-weights-{WEIGHTS_SEED}" / "saved_model"
    with lock_for(saved_model):
        if not saved_model.is_dir():
            say(f"writing a random-weights SavedModel to {saved_model}")
            write_saved_model(WideDeepWeights.random(WEIGHTS_SEED), saved_model)
    return saved_model, cached_conversion(saved_model).final


def models(saved_model: Path | None, onnx: Path | None) -> tuple[Path, Path]:
    """``(saved_model, onnx)`` as given (both or neither), or the default pair (made on first use:
    ``default_models``)."""
    return (saved_model, onnx) if saved_model is not None else default_models()


def eval_rows(eval_csv: Path | None, rows: int = SYNTHETIC_ROWS):
    """The rows to feed (the user's CSV, or ``rows`` synthetic ones), and how they were made (recorded
    next to every figure)."""
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.synthetic.criteo_rows import cached_criteo_csv

    if eval_csv is not None:
        return load_eval_tensors(eval_csv), f"{eval_csv} (user-supplied Criteo CSV)"
    path = cached_criteo_csv(rows, row_seed=ROW_SEED)
    return load_eval_tensors(path), f"{rows} synthetic Criteo-format rows ({path.name}), read_eval_csv"


def check_model(onnx: Path) -> None:
    """Refuse (``WidedeepError``, one line) an ONNX that is not this Wide & Deep architecture before anything is
    timed: the torch runner reads its weights by the graph's structure (``weights_from_onnx``)."""
    from widedeep_bench.model.onnx_weights import weights_from_onnx

    weights_from_onnx(onnx)


def saved_tf_probabilities(path: Path, eval_sha256: str, rows: int | None = None):
    """The TF original's ``[R, 2]`` probabilities saved in the reference file ``path`` (the ``--wd-save-reference``
    format: whole batches of 1024 rows of the eval set whose SHA-256 is ``eval_sha256``), its first ``rows`` rows
    (default: all it holds). A file of another eval set, a damaged one, or one without the TF original's is
    one ``WidedeepError`` line naming it."""
    import numpy as np

    from widedeep_bench.data.eval_tensors_file import UNREADABLE_NPZ
    from widedeep_bench.suite.reference import load_reference

    try:
        with np.load(path) as data:  # how many rows it holds, and whether it reads at all
            held = {name: data[name].shape for name in data.files if name not in ("eval_sha256", "digests")}
    except UNREADABLE_NPZ as exc:
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WidedeepError(f"{path}: not a reference file written by --wd-save-reference "
                            f"({type(exc).__name__}: {cause})") from None
    if rows is None:  # all it holds: load_reference serves the first ``rows`` and checks every array
        rows = min([shape[0] for shape in held.values() if shape] or [0])
    saved = load_reference(Path(path), eval_sha256=eval_sha256, rows=rows)
    if "tensorflow" not in saved:
        raise WidedeepError(f"{path}: holds no 'tensorflow' reference (it has {sorted(saved)}); the TF original's "
                            f"probabilities are what a run without TensorFlow is checked against")
    return saved["tensorflow"]


def calibration_rows(calibration_csv: Path | None, timed_rows, rows: int = CALIBRATION_ROWS):
    """The ``CalibrationSet`` INT8 engines are built from: the user's CSV (``--calibration-csv``), or ``rows``
    synthetic Criteo rows drawn with ``CALIBRATION_ROW_SEED`` (the timed rows use ``ROW_SEED``), their numerics
    normalised like ``timed_rows`` (``EvalTensors``). Rows equal to a timed row are refused (``check_disjoint``):
    an engine calibrated on the rows its parity is checked on would be tuned on the answers."""
    from widedeep_bench.calibration import CalibrationSet, check_disjoint, normalised_like, rows_from_csv
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.synthetic.criteo_rows import cached_criteo_csv

    if calibration_csv is not None:
        calibration = rows_from_csv(calibration_csv, option="--calibration-csv")
    else:
        path = cached_criteo_csv(rows, row_seed=CALIBRATION_ROW_SEED)
        calibration = CalibrationSet(load_eval_tensors(path),
                                     f"{rows} synthetic Criteo-format rows ({path.name}; row seed "
                                     f"{CALIBRATION_ROW_SEED}, the timed rows' is {ROW_SEED})")
    calibration = normalised_like(calibration, timed_rows)
    check_disjoint(calibration, timed_rows)
    return calibration


def real_batches(rows, batch: int, source: str) -> list[tuple]:
    """``[(categorical [26*batch, 2] int64, numeric [batch, 13] float32), ...]``: every whole batch of ``rows``,
    the batches ``measure`` rotates through. Fewer rows than one batch is an error naming ``source``."""
    batches = [(b.categorical, b.numeric) for b in rows.batches(batch)]
    if not batches:
        raise WidedeepError(f"{source} has {rows.rows} rows, fewer than one batch of {batch}")
    return batches


def activated_runners(cases, saved_model: Path, onnx_path: Path, calibration=None) -> tuple[dict, dict]:
    """``{"name-precision": active runner}`` for each ``(name, precision)`` of ``cases`` that runs here (as
    ``unavailable_reason`` says), and ``{"name-precision": why not}`` for the rest. The TF original runs
    ``saved_model``, the null runner nothing, every other runner ``onnx_path``; a calibrated precision (INT8)
    is built from ``calibration`` (a ``CalibrationSet``)."""
    from widedeep_bench.engines import EngineOptions, make_runner
    from widedeep_bench.engines.registry import runner_class

    runners, skipped = {}, {}
    for name, precision in cases:
        label = f"{name}-{precision}"
        options = EngineOptions(precision=precision,
                                calibration=calibration)
        reason = runner_class(name).unavailable_reason(options)
        if reason is not None:
            skipped[label] = reason
            say(f"skipping {label}: {reason}")
            continue
        runners[label] = make_runner(name, {"tensorflow": saved_model, "null": None}.get(name, onnx_path), options)
        runners[label].activate()
    return runners, skipped
