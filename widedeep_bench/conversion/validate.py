"""What every stage's output must pass: the full ONNX checker, strict shape inference, and parity.

Parity is the suite's one rule, ``widedeep_bench.compare.compare`` with ``TOLERANCES["fp32"]``
(float32 on both sides, so genuine disagreement shows up as 1e-3 or more), over every probability of
the parity rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import onnx

from widedeep_bench.compare import TOLERANCES, Comparison, Tolerance, compare
from widedeep_bench.conversion.graph import op_counts
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import describe_value, input_roles

PARITY = TOLERANCES["fp32"]  # every stage against the TF original


@dataclass(frozen=True)
class StageRecord:
    """One stage's output: where it was written, what it contains, and how close it is to TF."""

    stage: str
    file: str  # name inside the conversion's directory
    sha256: str
    opset: int
    nodes: dict  # op type -> count
    inputs: list  # "name: dtype [dims]"
    outputs: list
    rows: int  # parity rows compared
    max_abs_error: float  # max |p_onnx - p_tf| over rows x 2 probabilities (inf where p_onnx is NaN)
    mean_abs_error: float
    tolerance: float  # atol of the rule |p_onnx - p_tf| <= atol + rtol * |p_tf|
    rtol: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def check_onnx(model: onnx.ModelProto, stage: str) -> None:
    """``onnx.checker`` with ``full_check`` (which includes strict shape inference)."""
    # The checker requires a shape on the main graph's inputs and outputs but does not say whose is missing.
    unshaped = [v.name for v in [*model.graph.input, *model.graph.output]
                if v.type.HasField("tensor_type") and not v.type.tensor_type.HasField("shape")]
    if unshaped:
        raise WidedeepError(f"stage {stage!r}: graph inputs/outputs {unshaped} declare no shape (unknown rank); "
                            f"the ONNX checker requires one, e.g. [batch, 1] for zeros_like")
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise WidedeepError(f"stage {stage!r}: onnx.checker (full check) rejects the model: {exc}") from exc


def _ort_errors() -> tuple[type, ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

    return (ort_state.Fail, ort_state.InvalidArgument, ort_state.InvalidGraph, ort_state.RuntimeException,
            ort_state.NotImplemented, ort_state.InvalidProtobuf)


def ort_session(model: onnx.ModelProto, *, optimize: bool = True):
    """A CPU ``InferenceSession`` on the serialized model; ``optimize=False`` keeps every node as written."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def onnx_probabilities(model: onnx.ModelProto, rows, *, stage: str) -> np.ndarray:
    """``[N, 2]`` probabilities of ``model`` on ``rows`` (``categorical``, ``numeric``) with ONNX Runtime."""
    roles = input_roles(model)
    try:
        session = ort_session(model)
        return session.run([roles.output], roles.feeds(rows.categorical, rows.numeric))[0]
    except _ort_errors() as exc:
        raise WidedeepError(f"stage {stage!r}: ONNX Runtime cannot run the model: {exc}") from exc


def stage_parity(stage: str, probabilities: np.ndarray, reference: np.ndarray,
                 tolerance: Tolerance = PARITY) -> Comparison:
    """``compare()`` of a stage's ``[N, 2]`` probabilities with the TF original's; errors name the stage."""
    try:
        return compare(probabilities, reference, atol=tolerance.atol, rtol=tolerance.rtol)
    except WidedeepError as exc:
        raise WidedeepError(f"stage {stage!r}: {exc}") from exc


def stage_record(stage: str, file: str, sha256: str, model: onnx.ModelProto, parity: Comparison,
                 rows: int) -> StageRecord:
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return StageRecord(stage=stage, file=file, sha256=sha256, opset=opset, nodes=op_counts(model),
                       inputs=[str(describe_value(v)) for v in model.graph.input
                               if v.name not in {i.name for i in model.graph.initializer}],
                       outputs=[str(describe_value(v)) for v in model.graph.output],
                       rows=rows, max_abs_error=parity.max_abs, mean_abs_error=parity.mean_abs,
                       tolerance=parity.atol, rtol=parity.rtol)
