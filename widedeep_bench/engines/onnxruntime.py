"""ONNX Runtime: the ONNX model optimized once (level ALL) and saved as the cached artifact.

FP16 converts the model's weights and activations to float16 first (inputs and outputs stay
float32). On x86 the CPU provider has float16 kernels for the gathers, reshapes and concats but not
for Gemm or Softmax, so ONNX Runtime casts around those and computes them in float32 from the
float16-rounded weights and activations: on CPU, FP16 measures that rounding, not FP16 arithmetic
or speed. The CUDA and TensorRT providers run the same model in FP16.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from widedeep_bench.engines.base import CompiledRunner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles

CPU = "CPUExecutionProvider"
# Blocked-layout (NCHWc) rewrites are CPU-model specific and only touch convolutions, which this
# model has none of; disabling them keeps the saved artifact valid on any x86 machine.
DISABLED_OPTIMIZERS = ["NchwcTransformer"]


class OnnxruntimeRunner(CompiledRunner):
    name = "onnxruntime"
    module_name = "onnxruntime"
    artifact_name = "model.optimized.onnx"

    def providers(self) -> tuple[str, ...]:
        return self.options.providers or (CPU,)

    @classmethod
    def options_unsupported(cls, options) -> str | None:
        available = cls.runtime().get_available_providers()
        for provider in options.providers:
            if provider not in available:
                return f"Requested provider {provider} is not available; available: {available}"
        return None

    def _session_options(self, optimize: bool):
        ort = self.runtime()
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self.options.intra_op_threads()
        session_options.inter_op_num_threads = 1  # the graph is a chain: no parallel branches to feed
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # The artifact is already optimized; optimizing it again on load would only cost time.
        session_options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        return session_options

    def build_impl(self, roles: Roles, directory: Path) -> None:
        ort = self.runtime()
        source = self.model
        if self.options.precision == "fp16":
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            source = directory / "model.fp16.onnx"
            onnx.save(convert_float_to_float16(onnx.load(str(self.model)), keep_io_types=True), str(source))
        session_options = self._session_options(optimize=True)
        session_options.optimized_model_filepath = str(directory / self.artifact_name)
        ort.InferenceSession(str(source), session_options, providers=list(self.providers()),
                             disabled_optimizers=DISABLED_OPTIMIZERS)
        if source != self.model:
            source.unlink()  # the optimized model is the artifact; the intermediate is not needed

    def load_impl(self, roles: Roles, artifact: Path) -> None:
        ort = self.runtime()
        self.session = ort.InferenceSession(str(artifact), self._session_options(optimize=False),
                                            providers=list(self.providers()))
        running = self.session.get_providers()
        missing = [p for p in self.providers() if p not in running]
        if missing:
            raise WidedeepError(f"onnxruntime did not enable the requested provider(s) {missing}; "
                                f"the session runs on {running}")
        self.output_names = [roles.output]

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(self.output_names, feeds)[0]

    def deactivate_impl(self) -> None:
        del self.session
