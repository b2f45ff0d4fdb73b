"""ONNX Runtime: the ONNX model optimized once (level ALL) and saved as the cached artifact.

FP16 converts the model's weights and activations to float16 first (inputs and outputs stay
float32). On x86 the CPU provider has float16 kernels for the gathers, reshapes and concats but not
for Gemm or Softmax, so ONNX Runtime casts around those and computes them in float32 from the
float16-rounded weights and activations: on CPU, FP16 measures that rounding, not FP16 arithmetic
or speed. The CUDA and TensorRT providers run the same model in FP16.

INT8 is ONNX Runtime's own static post-training quantization (``onnxruntime.quantization.quantize_static``):
QDQ format, the Gemms' weights per output channel in int8, their input activations in uint8 with scales
from MinMax calibration on the run's calibration rows (``widedeep_bench.calibration``); the gathers, the
wide sum and the softmax stay float32. Optimizing then fuses each QDQ-Gemm into an integer kernel. BF16
has no ONNX Runtime CPU path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from widedeep_bench.engines.base import CompiledRunner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles
from widedeep_bench.precision import PrecisionEvidence, onnx_evidence

CPU = "CPUExecutionProvider"
CUDA_PROVIDERS = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}  # they run on the CUDA_VISIBLE_DEVICES
# Blocked-layout (NCHWc) rewrites are CPU-model specific and only touch convolutions, which this
# model has none of; disabling them keeps the saved artifact valid on any x86 machine.
DISABLED_OPTIMIZERS = ["NchwcTransformer"]


def check_session_providers(requested: tuple[str, ...], running: list[str]) -> None:
    """Raise unless the session runs ``requested`` first, in that order (CPU may follow as the fallback
    for unsupported nodes). ONNX Runtime drops a provider that fails to initialise (no CUDA device, a
    missing cuDNN or TensorRT library) with only a log line; a gate must know what it measured."""
    if list(running[:len(requested)]) != list(requested):
        raise WidedeepError(f"onnxruntime did not enable the requested providers {list(requested)} (in that "
                            f"order); the session runs on {list(running)}: a provider failed to initialise "
                            f"(ONNX Runtime's warnings say why)")


def cuda_device_count() -> int:
    """CUDA devices as cuda-python counts them (else torch), 0 where neither can count."""
    from widedeep_bench.engines import tensorrt

    try:
        return tensorrt.cuda_device_count()
    except ImportError:
        pass
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count()


class OnnxruntimeRunner(CompiledRunner):
    name = "onnxruntime"
    module_name = "onnxruntime"
    artifact_name = "model.optimized.onnx"
    precisions = ("fp32", "fp16", "int8")

    def providers(self) -> tuple[str, ...]:
        return self.options.providers or (CPU,)

    @classmethod
    def options_unsupported(cls, options) -> str | None:
        available = cls.runtime().get_available_providers()
        for provider in options.providers:
            if provider not in available:
                return f"Requested provider {provider} is not available; available: {available}"
        return None

    @classmethod
    def accelerator_count(cls, options) -> int | None:
        """The CUDA devices cuda-python or torch count (0 where neither is installed) when a CUDA or TensorRT
        provider is asked for; None otherwise (the CPU, or a provider CUDA_VISIBLE_DEVICES does not steer)."""
        if not set(options.providers) & CUDA_PROVIDERS:
            return None
        return cuda_device_count()

    def _session_options(self, optimize: bool):
        ort = self.runtime()
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self.options.intra_op_threads()
        session_options.inter_op_num_threads = 1  # the graph is a chain: no parallel branches to feed
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle intra-op threads block instead of spinning: a spinning pool keeps a core busy for tens of ms
        # after each run, slowing whatever runs next (the TF original timed in alternating rounds: the paired
        # ratio read 1.3-1.4 with spinning against 0.97-1.05 without and in blocks, 2-core EPYC, 2026-11-30).
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The artifact is already optimized; optimizing it again on load would only cost time.
        session_options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        return session_options

    def build_impl(self, roles: Roles, directory: Path) -> None:
        source = self.model
        if self.options.precision == "fp16":
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            source = directory / "model.fp16.onnx"
            onnx.save(convert_float_to_float16(onnx.load(str(self.model)), keep_io_types=True), str(source))
        elif self.options.precision == "int8":
            source = self._quantized(roles, directory / "model.int8.onnx")
        session_options = self._session_options(optimize=True)
        session_options.optimized_model_filepath = str(directory / self.artifact_name)
        # Optimized for the providers it runs on: checked here too, so that a model optimized for the CPU
        # after a silent fallback is never stored under a CUDA key.
        self._session(source, session_options, disabled_optimizers=DISABLED_OPTIMIZERS)
        if source != self.model:
            source.unlink()  # the optimized model is the artifact; the intermediate is not needed

    def _quantized(self, roles: Roles, path: Path) -> Path:
        """The model with its Gemms quantized to INT8 (QDQ), calibrated on the options' calibration rows."""
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)

        calibration = self.options.calibration

        class Rows(CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = calibration.batches()

            def get_next(self):
                batch = next(self.batches, None)
                return None if batch is None else roles.feeds(np.ascontiguousarray(batch.categorical),
                                                              np.ascontiguousarray(batch.numeric))

        self.options.calibration_digest()  # refuses INT8 without calibration rows
        quantize_static(str(self.model), str(path), Rows(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=["Gemm", "MatMul"])
        return path

    def precision_evidence_impl(self) -> PrecisionEvidence:
        return onnx_evidence(self.build_record.artifact, self.options.precision)

    def _session(self, model: Path, session_options, **kwargs):
        session = self.runtime().InferenceSession(str(model), session_options, providers=list(self.providers()),
                                                  **kwargs)
        check_session_providers(self.providers(), session.get_providers())
        return session

    def load_impl(self, roles: Roles, artifact: Path) -> None:
        self.session = self._session(artifact, self._session_options(optimize=False))
        self.output_names = [roles.output]

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(self.output_names, feeds)[0]

    def deactivate_impl(self) -> None:
        del self.session
