"""OpenVINO on the CPU: the ONNX model compiled once, its exported blob cached and imported.

The inference precision is always set: on a CPU with BF16 (AVX512-BF16, AMX) OpenVINO's default
for an FP32 model is BF16, about 1e-3 off, which would pass for an FP32 result. Each precision needs
its capability among the CPU's ``OPTIMIZATION_CAPABILITIES``:

- FP32: the precision hint ``f32``.
- FP16 (capability FP16) and BF16 (capability BF16): the hint ``f16`` / ``bf16``; OpenVINO converts the
  weights and runs the FullyConnected layers in it.
- INT8 (capability INT8, and ``nncf`` importable): NNCF's post-training quantization of the model read
  from the ONNX (``nncf.quantize``, preset PERFORMANCE: symmetric, per-channel int8 weights, activation
  ranges from statistics over every calibration row, ``widedeep_bench.calibration``; about 1 s here),
  compiled with the hint ``f32``: the quantized FullyConnected layers run in u8/i8, everything else in f32.

Evidence is read from the compiled model's runtime graph (``get_runtime_model()``), not from the hint:
each layer's ``layerType`` and ``runtimePrecision``, counted for the matrix multiplications
(``layer_precisions``); ``runtime_evidence`` judges the claim from those counts.
"""

from __future__ import annotations

import functools
import importlib
import io
from collections import Counter
from pathlib import Path

import numpy as np

from widedeep_bench.engines.base import CompiledRunner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles
from widedeep_bench.precision import PrecisionEvidence

DEVICE = "CPU"
# INT8 compiles with f32: the quantized layers run in int8 whatever the hint, the rest in the hint's precision.
PRECISION_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "f32"}
CAPABILITIES = {"fp16": "FP16", "bf16": "BF16", "int8": "INT8"}  # OPTIMIZATION_CAPABILITIES each needs
MATMUL_LAYERS = ("FullyConnected", "MatMul", "Gemm")  # the CPU plugin's layer types that multiply matrices
RUNTIME_PRECISIONS = {"fp32": ("f32",), "fp16": ("f16",), "bf16": ("bf16",), "int8": ("u8", "i8")}


@functools.lru_cache(maxsize=1)
def nncf_unavailable() -> str | None:
    """Why NNCF (OpenVINO's quantizer) cannot be used here, or None. Importing it takes seconds: once."""
    try:
        importlib.import_module("nncf")
    except ImportError as exc:
        return f"nncf not importable: {exc}; pip install nncf"
    return None


def layer_precisions(runtime_model) -> Counter:
    """``{"FullyConnected u8": 3, "FullyConnected i8": 1}``: the matrix-multiplication layers of a compiled
    model's runtime graph (``CompiledModel.get_runtime_model()``) by the precision they run in."""
    counts = Counter()
    for op in runtime_model.get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str)
        if layer in MATMUL_LAYERS:
            counts[f"{layer} {info['runtimePrecision'].astype(str)}"] += 1
    return counts


def runtime_evidence(counts: dict[str, int], claimed: str, method: str) -> PrecisionEvidence:
    """Judge ``claimed`` from ``layer_precisions`` counts: INT8, FP16 and BF16 are shown when at least one
    matrix multiplication runs in u8/i8, f16 or bf16; FP32 when every one runs in f32."""
    by_precision = Counter()
    for name, count in counts.items():
        by_precision[name.rsplit(" ", 1)[1]] += count
    total = sum(by_precision.values())
    expected = RUNTIME_PRECISIONS.get(claimed, ())
    running = sum(by_precision[precision] for precision in expected)
    wanted = "/".join(expected) or claimed
    if total == 0:
        return PrecisionEvidence(claimed, False, method, "no FullyConnected or MatMul layer in the runtime graph",
                                 dict(counts))
    shown = running == total if claimed == "fp32" else running > 0
    others = ", ".join(f"{precision} {n}" for precision, n in sorted(by_precision.items())
                       if precision not in expected)
    detail = f"{running} of {total} matrix-multiplication layers run in {wanted}" + (f" (others: {others})"
                                                                                     if others else "")
    return PrecisionEvidence(claimed=claimed, shown=shown, method=method, detail=detail, counts=dict(counts))


class OpenvinoRunner(CompiledRunner):
    name = "openvino"
    module_name = "openvino"
    artifact_name = "model.blob"

    def providers(self) -> tuple[str, ...]:
        return (DEVICE,)

    @classmethod
    def version(cls) -> str:
        return cls.runtime().get_version()

    @classmethod
    def options_unsupported(cls, options) -> str | None:
        if options.providers:
            return f"openvino has no providers (got {list(options.providers)}); it runs on the {DEVICE}"
        needed = CAPABILITIES.get(options.precision)
        if needed is not None:
            capabilities = cls.runtime().Core().get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")
            if needed not in capabilities:
                return f"the {DEVICE} has no {needed} inference (OPTIMIZATION_CAPABILITIES: {capabilities})"
        if options.precision == "int8":
            return nncf_unavailable()
        return None

    def build_version(self) -> str:
        """OpenVINO's version, and NNCF's for INT8 (it decides the quantized model)."""
        if self.options.precision != "int8":
            return self.version()
        return f"{self.version()}+nncf-{importlib.import_module('nncf').__version__}"

    def _config(self) -> dict:
        # LATENCY: one stream with every thread, which is what a synchronous batch-at-a-time loop needs.
        return {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.options.precision],
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": self.options.intra_op_threads()}

    def build_impl(self, roles: Roles, directory: Path) -> None:
        core = self.runtime().Core()
        model = self._quantized(core, roles) if self.options.precision == "int8" else str(self.model)
        compiled = core.compile_model(model, DEVICE, self._config())
        blob = io.BytesIO()
        compiled.export_model(blob)
        (directory / self.artifact_name).write_bytes(blob.getvalue())

    def _quantized(self, core, roles: Roles):
        """The model with its FullyConnected layers quantized by NNCF, calibrated on every calibration row."""
        import nncf

        self.options.calibration_digest()  # refuses INT8 without calibration rows
        feeds = [roles.feeds(np.ascontiguousarray(batch.categorical), np.ascontiguousarray(batch.numeric))
                 for batch in self.options.calibration.batches()]
        # subset_size counts dataset items (here batches of rows): all of them.
        return nncf.quantize(core.read_model(str(self.model)), nncf.Dataset(feeds), subset_size=len(feeds),
                             preset=nncf.QuantizationPreset.PERFORMANCE)

    def load_impl(self, roles: Roles, artifact: Path) -> None:
        # The blob does not carry the precision hint: without it here the import falls back to BF16.
        compiled = self.runtime().Core().import_model(artifact.read_bytes(), DEVICE, self._config())
        running = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if running != PRECISION_HINTS[self.options.precision]:
            raise WidedeepError(f"openvino runs {artifact} in {running}, not the requested "
                                f"{PRECISION_HINTS[self.options.precision]}")
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.output = compiled.output(roles.output)

    def precision_evidence_impl(self) -> PrecisionEvidence:
        return runtime_evidence(layer_precisions(self.compiled.get_runtime_model()), self.options.precision,
                                "layerType and runtimePrecision of the compiled model's runtime graph")

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.request.infer(feeds)[self.output]

    def deactivate_impl(self) -> None:
        del self.request, self.output, self.compiled
