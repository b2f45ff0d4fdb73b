"""OpenVINO on the CPU: the ONNX model compiled once, its exported blob cached and imported.

The inference precision is always set: on a CPU with BF16 (AVX512-BF16, AMX) OpenVINO's default
for an FP32 model is BF16, about 1e-3 off, which would pass for an FP32 result. FP16 is offered only
where the CPU reports FP16 among its ``OPTIMIZATION_CAPABILITIES``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from widedeep_bench.engines.base import CompiledRunner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles

DEVICE = "CPU"
PRECISION_HINTS = {"fp32": "f32", "fp16": "f16"}


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
        if options.precision == "fp16":
            capabilities = cls.runtime().Core().get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")
            if "FP16" not in capabilities:
                return f"the {DEVICE} has no FP16 inference (OPTIMIZATION_CAPABILITIES: {capabilities})"
        return None

    def _config(self) -> dict:
        # LATENCY: one stream with every thread, which is what a synchronous batch-at-a-time loop needs.
        return {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.options.precision],
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": self.options.intra_op_threads()}

    def build_impl(self, roles: Roles, directory: Path) -> None:
        compiled = self.runtime().Core().compile_model(str(self.model), DEVICE, self._config())
        blob = io.BytesIO()
        compiled.export_model(blob)
        (directory / self.artifact_name).write_bytes(blob.getvalue())

    def load_impl(self, roles: Roles, artifact: Path) -> None:
        # The blob does not carry the precision hint: without it here the import falls back to BF16.
        compiled = self.runtime().Core().import_model(artifact.read_bytes(), DEVICE, self._config())
        running = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if running != PRECISION_HINTS[self.options.precision]:
            raise WidedeepError(f"openvino runs {artifact} in {running}, not the requested "
                                f"{PRECISION_HINTS[self.options.precision]}")
        self.request = compiled.create_infer_request()
        self.output = compiled.output(roles.output)

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.request.infer(feeds)[self.output]

    def deactivate_impl(self) -> None:
        del self.request, self.output
