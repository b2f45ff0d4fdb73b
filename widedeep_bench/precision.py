"""The precisions the suite knows, and the evidence that an engine really runs the one it is labelled with.

The seed's "FP16" figure came from an engine its script had built in FP32. Two checks keep that from
happening again, both judged as gates (``widedeep_bench.gates.precision_gates``):

- **evidence**: the runtime's own account of what it runs, read from the built artifact or the compiled
  engine, never from the options that asked for it. ``PrecisionEvidence`` holds what was counted (ops,
  initializer types, layer precisions) and whether that shows the claimed precision; each runner gives
  its own (``Runner.precision_evidence``); ``onnx_evidence`` reads an ONNX model, for ONNX Runtime.
- **different outputs**: an engine labelled BF16, FP16 or INT8 must move its probabilities on real rows
  away from its own FP32 engine's by more than FP32's own tolerance (``prove_precision``): one whose
  outputs equal FP32's bit for bit, or differ only by FP32 summation order, ran FP32.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from widedeep_bench.errors import WidedeepError

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
REDUCED_PRECISIONS = ("fp16", "bf16", "int8")  # what an engine must prove it runs
CALIBRATED_PRECISIONS = ("int8",)  # built from calibration rows (``widedeep_bench.calibration``)

# The ONNX ops that multiply matrices, and which input holds the weight (B). QGemm and QLinearMatMul take
# (A, A scale, A zero point, B, ...); the others take (A, B, ...).
ONNX_GEMM_WEIGHT_INPUT = {"Gemm": 1, "MatMul": 1, "FusedGemm": 1, "FusedMatMul": 1, "MatMulInteger": 1,
                          "MatMulIntegerToFloat": 1, "DynamicQuantizeMatMul": 1, "QGemm": 3, "QLinearMatMul": 3}
# What a weight passes through between its initializer and the Gemm (QDQ's DequantizeLinear, the FP16
# converter's Cast, layout changes); the initializer behind them is what is judged.
ONNX_WEIGHT_PASSTHROUGH = frozenset({"DequantizeLinear", "Cast", "Transpose", "Identity", "Reshape"})

@dataclass(frozen=True)
class PrecisionEvidence:
    """What an engine shows of the precision it runs.

    ``shown``: the evidence shows ``claimed``; ``method``: where it was read, in words; ``counts``: what
    was counted (e.g. ``{"QuantizeLinear": 4, "float16 initializers": 0}``); ``detail``: one line saying
    what the counts mean for the claim.
    """

    claimed: str
    shown: bool
    method: str
    detail: str
    counts: dict = field(default_factory=dict)

    @classmethod
    def not_shown(cls, claimed: str, why: str) -> "PrecisionEvidence":
        return cls(claimed=claimed, shown=False, method="none", detail=why)

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        counts = ", ".join(f"{name} {count}" for name, count in self.counts.items())
        return f"{self.claimed} {'shown' if self.shown else 'NOT shown'}: {self.detail} ({self.method}" + \
            (f"; {counts})" if counts else ")")


def onnx_gemm_weights(model) -> list[tuple[str, np.ndarray | None]]:
    """``[(gemm node description, its weight initializer as stored, or None), ...]`` for every matrix
    multiplication of an ONNX model, its weight traced back through ``ONNX_WEIGHT_PASSTHROUGH`` ops."""
    from onnx import numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    made_by = {output: node for node in graph.node for output in node.output if output}
    weights = []
    for node in graph.node:
        position = ONNX_GEMM_WEIGHT_INPUT.get(node.op_type)
        if position is None or len(node.input) <= position:
            continue
        name = node.input[position]
        while name not in initializers and name in made_by and made_by[name].op_type in ONNX_WEIGHT_PASSTHROUGH:
            name = made_by[name].input[0]
        init = initializers.get(name)
        weights.append((f"{node.op_type} {node.name or name}", None if init is None else numpy_helper.to_array(init)))
    return weights


def onnx_evidence(path: Path, claimed: str) -> PrecisionEvidence:
    """Evidence read from an ONNX model file (ONNX Runtime's optimized artifact): the weight of every
    matrix multiplication, traced to its initializer. INT8: every Gemm's weight is stored in 8 bits (int8 /
    uint8, behind a DequantizeLinear or inside an integer Gemm). FP16: every Gemm's weight holds float16
    values, stored as float16, or as float32 that float16 represents exactly (on x86 ONNX Runtime's CPU
    optimizer folds the converter's Cast back into float32 weights and computes the Gemm in float32 from
    them). FP32: every weight is float32 and at least one is not float16-representable. BF16 has no ONNX
    Runtime CPU path, so it is never shown here."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = onnx_gemm_weights(model)
    kinds = Counter()
    for _, weight in weights:
        if weight is None:
            kinds["computed"] += 1
        elif weight.dtype in (np.int8, np.uint8):
            kinds["8-bit"] += 1
        elif weight.dtype == np.float16:
            kinds["float16"] += 1
        elif weight.dtype == np.float32 and np.array_equal(weight.astype(np.float16).astype(np.float32), weight):
            kinds["float16 values in float32"] += 1
        else:
            kinds[str(weight.dtype)] += 1
    total = len(weights)
    ops = Counter(description.split(" ", 1)[0] for description, _ in weights)
    counts = {"Gemm/MatMul nodes": total, **{f"{op} nodes": n for op, n in sorted(ops.items())},
              **{f"{kind} weights": n for kind, n in sorted(kinds.items())}}
    method = f"every Gemm/MatMul weight of {Path(path).name}, traced to its initializer"
    described = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"
    if total == 0:
        return PrecisionEvidence(claimed, False, method, "no Gemm or MatMul in the model", counts)
    if claimed == "int8":
        shown = kinds["8-bit"] == total
    elif claimed == "fp16":
        shown = kinds["float16"] + kinds["float16 values in float32"] == total
    elif claimed == "fp32":
        shown = kinds["float32"] > 0 and kinds["float32"] + kinds["float16 values in float32"] == total
    else:
        return PrecisionEvidence(claimed, False, method,
                                 f"an ONNX model cannot show {claimed} (ONNX Runtime has no {claimed} CPU path)", counts)
    return PrecisionEvidence(claimed, shown, method, f"{total} Gemm/MatMul weights: {described}", counts)


def differing_elements(probabilities: np.ndarray, fp32_probabilities: np.ndarray) -> int:
    """How many elements of an engine's outputs differ in any bit from its FP32 engine's on the same rows
    (float32 ``[N, 2]`` both: ``Runner.infer`` returns nothing else)."""
    a, b = np.asarray(probabilities), np.asarray(fp32_probabilities)
    if a.dtype != np.float32 or b.dtype != np.float32 or a.shape != b.shape:
        raise WidedeepError(f"cannot compare outputs bit for bit: {a.dtype} {list(a.shape)} against "
                            f"{b.dtype} {list(b.shape)}; expected two float32 arrays of one shape")
    return int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32)))


@dataclass(frozen=True)
class PrecisionProof:
    """What a reduced-precision engine showed: its evidence, and its outputs beside its FP32 engine's."""

    evidence: PrecisionEvidence
    differing: int  # elements that differ in any bit
    elements: int
    max_abs_vs_fp32: float

    def as_dict(self) -> dict:
        return {"evidence": self.evidence.as_dict(), "differing_elements": self.differing,
                "elements": self.elements, "max_abs_vs_fp32": self.max_abs_vs_fp32}


def prove_precision(runner, fp32_runner, categorical: np.ndarray, numeric: np.ndarray) -> PrecisionProof:
    """Ask an active ``runner`` what it runs, and run the same real rows through it and its backend's FP32
    engine (``fp32_runner``, active)."""
    evidence = runner.precision_evidence()
    reduced = runner.infer(categorical, numeric)
    fp32 = fp32_runner.infer(categorical, numeric)
    return PrecisionProof(evidence=evidence, differing=differing_elements(reduced, fp32), elements=int(reduced.size),
                          max_abs_vs_fp32=float(np.abs(reduced.astype(np.float64) - fp32).max()))
