"""SavedModel (or a given ONNX) -> export -> simplify -> deploy -> dynamic, each stage validated.

Every stage's model passes the full ONNX checker and ONNX Runtime's probabilities on the parity
rows are compared with the TF original's; the figures are recorded per stage, and a stage that
breaks parity raises an error naming itself and the first node that diverges from the previous
stage. The output directory (one ``NN-<stage>.onnx`` per stage, ``widedeep.onnx``, and
``conversion.json``) is built under a temporary name and renamed into place only when every stage
passed, so a failed conversion leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx

from widedeep_bench.cache import atomic_directory, write_json
from widedeep_bench.conversion.deploy import DeployedOnnx
from widedeep_bench.conversion.divergence import first_divergence
from widedeep_bench.conversion.dynamic import DynamicOnnx
from widedeep_bench.conversion.export import OnnxFromPath, OnnxFromSavedModel
from widedeep_bench.conversion.sample_rows import sample_eval_tensors
from widedeep_bench.conversion.signature import serving_signature
from widedeep_bench.conversion.simplify import SimplifiedOnnx
from widedeep_bench.compare import Tolerance
from widedeep_bench.conversion.validate import (PARITY, StageRecord, check_onnx, onnx_probabilities,
                                                stage_parity, stage_record)
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

CONVERSION_VERSION = 1  # bump when the output changes for a reason outside this package (its code is in the cache key)
FINAL_NAME = "widedeep.onnx"
SUMMARY_NAME = "conversion.json"
DEFAULT_PARITY_ROWS = 512
DEFAULT_PARITY_SEED = 3  # sample_eval_tensors seed when the caller gives no parity rows


@dataclass(frozen=True)
class ConversionResult:
    """A finished conversion's directory and its per-stage records."""

    directory: Path
    opset: int
    options: dict  # cut_zeros_like, ixrt_names
    source: dict  # saved_model, given_onnx, parity_rows
    stages: tuple[StageRecord, ...]
    versions: dict  # package -> version

    @property
    def final(self) -> Path:
        """The final model, ``<directory>/widedeep.onnx``."""
        return self.directory / FINAL_NAME

    def stage(self, name: str) -> StageRecord:
        for record in self.stages:
            if record.stage == name:
                return record
        raise WidedeepError(f"{self.directory}: no stage {name!r}; stages: {[r.stage for r in self.stages]}")

    def path(self, stage: str) -> Path:
        return self.directory / self.stage(stage).file

    def as_dict(self) -> dict:
        return {"conversion_version": CONVERSION_VERSION, "directory": str(self.directory),
                "final": str(self.final), "opset": self.opset, "options": self.options,
                "source": self.source, "versions": self.versions,
                "stages": [record.as_dict() for record in self.stages]}

    @classmethod
    def load(cls, directory: Path) -> "ConversionResult":
        """Read ``conversion.json`` from a conversion's directory (paths inside it are relative)."""
        directory = Path(directory)
        summary = json.loads((directory / SUMMARY_NAME).read_text())
        return cls(directory=directory, opset=summary["opset"], options=summary["options"],
                   source=summary["source"], versions=summary["versions"],
                   stages=tuple(StageRecord(**record) for record in summary["stages"]))


def default_stages(check_rows, *, cut_zeros_like: bool = False, ixrt_names: bool = False) -> list:
    """simplify, deploy, dynamic: each a callable ``ModelProto -> ModelProto`` with a ``name``."""
    return [SimplifiedOnnx(check_rows), DeployedOnnx(cut_zeros_like), DynamicOnnx(ixrt_names)]


def _versions() -> dict:
    import onnxruntime
    import onnxsim
    import tensorflow
    import tf2onnx

    return {"tensorflow": tensorflow.__version__, "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__,
            "onnxsim": onnxsim.__version__, "onnxruntime": onnxruntime.__version__}


def _refuse_foreign_directory(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise WidedeepError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / SUMMARY_NAME).is_file():
        raise WidedeepError(f"{out_dir}: exists, is not empty and holds no {SUMMARY_NAME} of an earlier "
                            f"conversion; refusing to replace it (choose another --out)")


class _StageChecker:
    """Validates each stage's model against the TF original and writes it into the staging directory."""

    def __init__(self, directory: Path, rows, reference: np.ndarray, tolerance: Tolerance):
        self.directory, self.rows, self.reference, self.tolerance = directory, rows, reference, tolerance
        self.records: list[StageRecord] = []

    def __call__(self, stage: str, model: onnx.ModelProto,
                 previous: Callable[[], onnx.ModelProto] | None) -> StageRecord:
        say(f"stage {stage}: full ONNX check and parity with the TF original on {self.rows.numeric.shape[0]} rows")
        check_onnx(model, stage)
        probabilities = onnx_probabilities(model, self.rows, stage=stage)
        data = model.SerializeToString()
        name = f"{len(self.records) + 1:02d}-{stage}.onnx"
        (self.directory / name).write_bytes(data)
        parity = stage_parity(stage, probabilities, self.reference, self.tolerance)
        record = stage_record(stage, name, hashlib.sha256(data).hexdigest(), model, parity,
                              rows=int(self.reference.shape[0]))
        if not parity:
            if previous is None:
                where = "it is the first stage, so there is no earlier model to compare intermediates with"
            else:
                divergence = first_divergence(previous(), model, self.rows)
                where = str(divergence) if divergence else \
                    "no node output it shares with the previous stage's model diverges"
            non_finite = "" if np.all(np.isfinite(probabilities)) else "; its probabilities hold NaN or infinity"
            raise WidedeepError(f"stage {stage!r} breaks parity with the TF original: max |onnx - tf| = "
                                f"{parity.max_abs:.6g} over {record.rows} rows ({parity.failing} of "
                                f"{parity.elements} probabilities outside atol {parity.atol:g} + rtol "
                                f"{parity.rtol:g} * |tf|{non_finite}); {where}")
        self.records.append(record)
        return record


def convert(saved_model: Path, out_dir: Path, *, opset: int | None = None, cut_zeros_like: bool = False,
            ixrt_names: bool = False, parity_rows=None, given_onnx: Path | None = None,
            stages: Sequence | None = None, tolerance: Tolerance = PARITY) -> ConversionResult:
    """Convert ``saved_model`` (or validate and finish ``given_onnx`` against it) into ``out_dir``.

    ``parity_rows``: any object with ``categorical [26*N, 2] int64`` and ``numeric [N, 13] float32``
    (e.g. ``EvalTensors``); default: ``DEFAULT_PARITY_ROWS`` sampled rows. ``stages`` replaces
    ``default_stages`` (tests use it to insert a broken stage). ``tolerance``: the parity rule's atol and
    rtol for ``compare()`` (default ``TOLERANCES["fp32"]``). Raises ``WidedeepError`` for bad
    input and for any stage that fails a check; ``out_dir`` is then left as it was.
    """
    saved_model, out_dir = Path(saved_model), Path(out_dir)
    _refuse_foreign_directory(out_dir)
    serving_signature(saved_model)
    first = OnnxFromPath(given_onnx) if given_onnx is not None else OnnxFromSavedModel(saved_model, opset)
    # A truncated or unreadable given file fails before the TF original is run.
    given_model = first() if given_onnx is not None else None
    rows = parity_rows if parity_rows is not None else sample_eval_tensors(DEFAULT_PARITY_ROWS, DEFAULT_PARITY_SEED)
    from widedeep_bench.tf_reference import tf_probabilities

    say(f"running the TF original on {rows.numeric.shape[0]} parity rows")
    reference = tf_probabilities(saved_model, rows.categorical, rows.numeric)
    stages = default_stages(rows, cut_zeros_like=cut_zeros_like, ixrt_names=ixrt_names) \
        if stages is None else list(stages)
    with atomic_directory(out_dir) as staging:
        check = _StageChecker(staging, rows, reference, tolerance)
        model = given_model if given_model is not None else first()
        export_for_comparison = (lambda: OnnxFromSavedModel(saved_model, opset)()) if given_onnx else None
        check(first.name, model, export_for_comparison)
        for stage in stages:
            before = model
            model = stage(model)
            check(stage.name, model, lambda: before)
        (staging / FINAL_NAME).write_bytes(model.SerializeToString())
        result = ConversionResult(
            directory=out_dir, opset=check.records[-1].opset,
            options={"cut_zeros_like": cut_zeros_like, "ixrt_names": ixrt_names},
            source={"saved_model": str(saved_model), "given_onnx": None if given_onnx is None else str(given_onnx),
                    "parity_rows": getattr(rows, "source", f"{rows.numeric.shape[0]} rows given by the caller")},
            stages=tuple(check.records), versions=_versions())
        write_json(staging / SUMMARY_NAME, result.as_dict())
    say(f"wrote {result.final}")
    return result
