"""The precisions the suite knows, and the evidence that an engine really runs the one it is labelled with.

The seed's "FP16" figure came from an engine its script had built in FP32. Two checks keep that from
happening again, both judged as gates (``widedeep_bench.gates.precision_gates``):

- **evidence**: the runtime's own account of what it runs, read from the built artifact or the compiled
  engine, never from the options that asked for it. ``PrecisionEvidence`` holds what was counted (ops,
  initializer types, layer precisions) and whether that shows the claimed precision; each runner gives
  its own (``Runner.precision_evidence``); ``onnx_evidence`` reads an ONNX model, for ONNX Runtime.
- **different outputs**: an engine labelled BF16, FP16 or INT8 whose probabilities equal its own FP32
  engine's bit for bit on real rows ran FP32 (``same_as_fp32``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
REDUCED_PRECISIONS = ("fp16", "bf16", "int8")  # what an engine must prove it runs
CALIBRATED_PRECISIONS = ("int8",)  # built from calibration rows (``widedeep_bench.calibration``)

# ONNX ops that compute in, or convert to and from, 8-bit integers. An INT8 ONNX Runtime model holds
# QuantizeLinear/DequantizeLinear pairs (QDQ) around the Gemms, or, once optimized, the fused integer ops.
ONNX_INTEGER_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearMatMul",
                              "QGemm", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
                              "QLinearAdd", "QLinearConcat", "QLinearMul"})
ONNX_MATMULS = frozenset({"Gemm", "MatMul", "FusedGemm", "FusedMatMul", "QGemm", "QLinearMatMul",
                          "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"})


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


def onnx_evidence(path: Path, claimed: str) -> PrecisionEvidence:
    """Evidence read from an ONNX model file (ONNX Runtime's optimized artifact): its op types and the
    element types of its initializers. FP16: the Gemm weights are float16; INT8: integer or QDQ ops feed
    the Gemms and 8-bit weights are stored; FP32: no float16 or 8-bit weights at all. BF16 has no ONNX
    Runtime CPU path, so it is never shown here."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    ops = Counter(node.op_type for node in model.graph.node)
    elements = Counter(onnx.helper.tensor_dtype_to_np_dtype(init.data_type).name for init in model.graph.initializer)
    integer_ops = {op: n for op, n in sorted(ops.items()) if op in ONNX_INTEGER_OPS}
    matmuls = {op: n for op, n in sorted(ops.items()) if op in ONNX_MATMULS}
    counts = {**{f"{op} nodes": n for op, n in {**matmuls, **integer_ops}.items()},
              **{f"{name} initializers": n for name, n in sorted(elements.items())}}
    eight_bit = elements["int8"] + elements["uint8"]
    method = f"op types and initializer element types of {Path(path).name}"
    if claimed == "int8":
        shown = bool(integer_ops) and eight_bit > 0
        detail = (f"{sum(integer_ops.values())} integer/QDQ ops and {eight_bit} 8-bit initializers"
                  if shown else "no integer or QuantizeLinear/DequantizeLinear ops with 8-bit weights: the Gemms "
                                "run in floating point")
    elif claimed == "fp16":
        shown = elements["float16"] > 0
        detail = (f"{elements['float16']} float16 initializers (weights rounded to FP16)" if shown
                  else "no float16 initializers: the weights are not FP16")
    elif claimed == "fp32":
        shown = elements["float16"] == 0 and eight_bit == 0 and not integer_ops
        detail = "float32 weights only" if shown else "holds reduced-precision weights or integer ops"
    else:
        shown, detail = False, f"an ONNX model cannot show {claimed} (ONNX Runtime has no {claimed} CPU path)"
    return PrecisionEvidence(claimed=claimed, shown=shown, method=method, detail=detail, counts=counts)


def same_as_fp32(probabilities: np.ndarray, fp32_probabilities: np.ndarray) -> bool:
    """Whether an engine's outputs equal its FP32 engine's bit for bit (same rows, same order): a reduced
    precision that rounds nothing ran FP32."""
    a, b = np.ascontiguousarray(probabilities), np.ascontiguousarray(fp32_probabilities)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
