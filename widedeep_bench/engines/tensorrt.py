"""TensorRT and IxRT: one implementation of the TensorRT-compatible API the vendor uses.

Build: ``Builder`` -> EXPLICIT_BATCH network -> ``OnnxParser`` -> builder config (``BuilderFlag.FP16``
for fp16) with one optimization profile (min/opt/max samples from ``EngineOptions``; the categorical
input has 26 rows per sample) -> ``build_serialized_network`` -> the cached plan. Run:
``Runtime.deserialize_cuda_engine`` -> execution context -> input shapes -> ``execute_v2`` on device
buffers sized for the profile's max batch, copied with cuda-python's runtime API (what Iluvatar's
CoreX stack ships). The engine key carries the device's name and compute capability (``device()``):
a plan is bound to the GPU model it was built on.

Engines list their I/O either by tensor name (TensorRT >= 8.5) or by binding index (TensorRT 8.x
before that, IxRT); both are handled. A TensorRT 8 engine takes int32 where the ONNX says int64:
the validated field and bucket indices (< 1000) fit.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.engines.base import CompiledRunner, EngineOptions
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles

Shape = tuple[int, int]


def profile_shapes(roles: Roles, options: EngineOptions) -> dict[str, tuple[Shape, Shape, Shape]]:
    """``{input name: (min, opt, max) shape}`` for the profile's min/opt/max batch (samples).

    The categorical input has 26 rows per sample: batch 1024 is ``[26624, 2]``, not ``[1024, 2]``
    (the vendor's ixrtexec counted those rows as samples and reported 26x the throughput).
    """
    rows_and_columns = {roles.categorical: (layout.NUM_FIELDS, 2), roles.numeric: (1, layout.NUM_NUMERIC)}
    if roles.zeros_like is not None:
        rows_and_columns[roles.zeros_like] = (1, 1)
    return {name: tuple((rows * batch, columns) for batch in options.batch_profile)
            for name, (rows, columns) in rows_and_columns.items()}


def check_profile_batch(samples: int, options: EngineOptions) -> None:
    """An engine runs only batches inside its profile; say how to rebuild instead of failing on the device."""
    if not options.min_batch <= samples <= options.max_batch:
        raise WidedeepError(f"batch of {samples} samples is outside the engine's optimization profile "
                            f"{options.min_batch}..{options.max_batch}; rebuild with --min-batch/--max-batch")


def cuda_runtime():
    """cuda-python's runtime module: ``cuda.bindings.runtime`` (12.6+), or ``cuda.cudart`` before that."""
    try:
        return importlib.import_module("cuda.bindings.runtime")
    except ImportError:
        return importlib.import_module("cuda.cudart")


def _cuda_call(cudart, result, what: str):
    err, *values = result
    if err != cudart.cudaError_t.cudaSuccess:
        raise WidedeepError(f"CUDA {what} failed: {cudart.cudaGetErrorString(err)[1].decode()}")
    return values[0] if values else None


@dataclass(frozen=True)
class IoTensor:
    index: int
    name: str
    is_input: bool
    dtype: np.dtype


def io_tensors(trt, engine) -> list[IoTensor]:
    """The engine's inputs and outputs in binding order (the order ``execute_v2`` takes pointers in)."""
    if hasattr(engine, "num_io_tensors"):
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        return [IoTensor(i, name, engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                         np.dtype(trt.nptype(engine.get_tensor_dtype(name)))) for i, name in enumerate(names)]
    return [IoTensor(i, engine.get_binding_name(i), engine.binding_is_input(i),
                     np.dtype(trt.nptype(engine.get_binding_dtype(i)))) for i in range(engine.num_bindings)]


class TensorrtRunner(CompiledRunner):
    name = "tensorrt"
    module_name = "tensorrt"
    artifact_name = "engine.plan"
    uses_batch_profile = True

    @classmethod
    def version(cls) -> str:
        module = cls.runtime()
        if hasattr(module, "__version__"):
            return module.__version__
        return importlib.metadata.version(cls.module_name)

    @classmethod
    def options_unsupported(cls, options: EngineOptions) -> str | None:
        if options.providers:
            return f"{cls.name} has no providers (got {list(options.providers)})"
        try:
            cudart = cuda_runtime()
        except ImportError as exc:
            return f"cuda-python (device buffers for {cls.name}) not importable: {exc}"
        err, count = cudart.cudaGetDeviceCount()
        if err != cudart.cudaError_t.cudaSuccess or count == 0:
            return f"no CUDA device (cudaGetDeviceCount: {count} devices, {err})"
        return None

    def device(self) -> str:
        """The current CUDA device's name and compute capability: a plan loads only on the GPU model it was
        built for, so two models never share a key (e.g. ``NVIDIA H100 80GB HBM3 sm_90``)."""
        cudart = cuda_runtime()
        index = _cuda_call(cudart, cudart.cudaGetDevice(), "cudaGetDevice")
        props = _cuda_call(cudart, cudart.cudaGetDeviceProperties(index), f"cudaGetDeviceProperties({index})")
        name = props.name
        if isinstance(name, (bytes, bytearray)):
            name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
        return f"{name.strip()} sm_{props.major}{props.minor}"

    def _logger(self):
        trt = self.runtime()
        return trt.Logger(trt.Logger.WARNING)

    def build_impl(self, roles: Roles, directory: Path) -> None:
        trt = self.runtime()
        logger = self._logger()
        builder = trt.Builder(logger)
        network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(self.model.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise WidedeepError(f"{self.name} could not parse {self.model}: {errors}")
        config = builder.create_builder_config()
        if self.options.precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for name, (smallest, optimal, largest) in profile_shapes(roles, self.options).items():
            profile.set_shape(name, smallest, optimal, largest)
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise WidedeepError(f"{self.name} could not build an engine from {self.model} "
                                f"(its log above says why)")
        (directory / self.artifact_name).write_bytes(bytes(plan))

    def load_impl(self, roles: Roles, artifact: Path) -> None:
        trt, self.cudart = self.runtime(), cuda_runtime()
        self.logger = self._logger()
        self.engine = trt.Runtime(self.logger).deserialize_cuda_engine(artifact.read_bytes())
        if self.engine is None:
            raise WidedeepError(f"{self.name} could not deserialize {artifact} (built by another version?)")
        self.context = self.engine.create_execution_context()
        self.io = io_tensors(trt, self.engine)
        largest = {name: shapes[2] for name, shapes in profile_shapes(roles, self.options).items()}
        largest[roles.output] = (self.options.max_batch, 2)
        unknown = [t.name for t in self.io if t.name not in largest]
        if unknown:
            raise WidedeepError(f"{artifact}: engine tensors {unknown} are none of the model's roles {roles}")
        self.buffers = [self._device_buffer(int(np.prod(largest[t.name])) * t.dtype.itemsize, t.name)
                        for t in self.io]

    def _device_buffer(self, nbytes: int, name: str) -> int:
        return _cuda_call(self.cudart, self.cudart.cudaMalloc(nbytes), f"cudaMalloc of {nbytes} bytes for {name}")

    def _set_input_shape(self, tensor: IoTensor, shape: tuple[int, ...]) -> None:
        if hasattr(self.context, "set_input_shape"):
            accepted = self.context.set_input_shape(tensor.name, shape)
        else:
            accepted = self.context.set_binding_shape(tensor.index, shape)
        if accepted is False:
            raise WidedeepError(f"{self.name} rejected shape {list(shape)} for input {tensor.name}")

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        cudart = self.cudart
        samples = feeds[self.roles.numeric].shape[0]
        check_profile_batch(samples, self.options)
        to_device = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        for tensor, buffer in zip(self.io, self.buffers):
            if tensor.is_input:
                host = np.ascontiguousarray(feeds[tensor.name], dtype=tensor.dtype)
                self._set_input_shape(tensor, host.shape)
                _cuda_call(cudart, cudart.cudaMemcpy(buffer, host.ctypes.data, host.nbytes, to_device),
                           f"copy of {tensor.name} to the device")
        if not self.context.execute_v2(self.buffers):
            raise WidedeepError(f"{self.name} execute_v2 failed for a batch of {samples} samples")
        output = next(t for t in self.io if t.name == self.roles.output)
        probabilities = np.empty((samples, 2), output.dtype)
        _cuda_call(cudart, cudart.cudaMemcpy(probabilities.ctypes.data, self.buffers[output.index],
                                             probabilities.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost),
                   f"copy of {output.name} from the device")
        return probabilities.astype(np.float32, copy=False)

    def deactivate_impl(self) -> None:
        for buffer in self.buffers:
            _cuda_call(self.cudart, self.cudart.cudaFree(buffer), "cudaFree")
        del self.buffers, self.context, self.engine


class IxrtRunner(TensorrtRunner):
    """Iluvatar's IxRT: the same API under the module name ``ixrt``."""

    name = "ixrt"
    module_name = "ixrt"
