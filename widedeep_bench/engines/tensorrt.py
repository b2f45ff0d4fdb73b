"""TensorRT and IxRT: one implementation of the TensorRT-compatible API the vendor uses.

Build: ``Builder`` -> EXPLICIT_BATCH network -> ``OnnxParser`` -> builder config (precision flags below,
``ProfilingVerbosity.DETAILED`` so the plan describes its layers) with one optimization profile
(min/opt/max samples from ``EngineOptions``; the categorical input has 26 rows per sample) ->
``build_serialized_network`` -> the cached plan. Run:
``Runtime.deserialize_cuda_engine`` -> execution context -> input shapes -> ``execute_v2`` on device
buffers sized for the profile's max batch, copied with cuda-python's runtime API (what Iluvatar's
CoreX stack ships). The engine key carries the device's name and compute capability (``device()``):
a plan is bound to the GPU model it was built on.

Engines list their I/O either by tensor name (TensorRT >= 8.5) or by binding index (TensorRT 8.x
before that, IxRT); both are handled. A TensorRT 8 engine takes int32 where the ONNX says int64:
the validated field and bucket indices (< 1000) fit.

Precisions:

- FP32: no precision flag. FP16: ``BuilderFlag.FP16``. BF16: ``BuilderFlag.BF16``, offered only where the
  runtime has that flag (TensorRT 9 and later).
- INT8: ``BuilderFlag.INT8`` (with FP16 allowed for what stays unquantized) and an entropy calibrator
  (``trt.IInt8EntropyCalibrator2``, ``entropy_calibrator``) fed the run's calibration rows
  (``widedeep_bench.calibration``) in batches of ``CALIBRATION_BATCH`` samples through a calibration
  profile of that one shape; its scales are cached (``calibration_cache``) under the engine store's root,
  keyed by model, calibration rows, TensorRT version, build code and device, and read by the next build of
  that key (another batch profile, a rebuild) instead of calibrating again.

Evidence is the engine's own layer list: ``create_engine_inspector().get_engine_information(JSON)``, read
with an execution context at the profile's opt shapes. Each layer runs in the precision of the tensors it
reads (their ``Format/Datatype``, e.g. ``"Row major linear FP16 format"``); ``inspector_evidence`` counts
layers by precision and shows a claim when at least one layer runs in it (FP32: none in a reduced one).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.cache import atomic_file
from widedeep_bench.calibration import CALIBRATION_BATCH
from widedeep_bench.engines.base import CompiledRunner, EngineOptions
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles
from widedeep_bench.precision import REDUCED_PRECISIONS, PrecisionEvidence

Shape = tuple[int, int]
CALIBRATION_CACHE = "calibration.cache"
MATRIX_MULTIPLICATION_WORDS = ("gemm", "matrixmultiply", "matmul", "fullyconnected", "convolution")
# Words of an inspector's "Format/Datatype" -> precision ("Float" is TensorRT 10's FP32, "Half" its FP16).
FORMAT_WORDS = {"fp32": "fp32", "float": "fp32", "float32": "fp32", "fp16": "fp16", "half": "fp16",
                "float16": "fp16", "bf16": "bf16", "bfloat16": "bf16", "int8": "int8", "fp8": "fp8",
                "int32": "int32", "int64": "int64", "bool": "bool"}
CONVERSION_LAYERS = frozenset({"Reformat"})  # they only convert between formats: they run in no precision


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


def cuda_device_count() -> int:
    """The CUDA devices cuda-python counts (0 where the runtime reports an error); ImportError without it."""
    cudart = cuda_runtime()
    err, count = cudart.cudaGetDeviceCount()
    return int(count) if err == cudart.cudaError_t.cudaSuccess else 0


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


def tensor_precision(format_datatype: str) -> str | None:
    """The precision an inspector's ``Format/Datatype`` names (``"Thirty-two wide channel vectorized row major
    Int8 format."`` -> ``"int8"``), or None (``"N/A due to dynamic shapes"``)."""
    words = re.findall(r"[a-z0-9]+", format_datatype.lower())
    return next((FORMAT_WORDS[word] for word in words if word in FORMAT_WORDS), None)


def is_matrix_multiplication(layer: dict) -> bool:
    """Whether an inspector layer multiplies matrices (the Gemms whose precision is the claim; a gather or a
    softmax reading FP16 tensors proves nothing): its type or name says GEMM, MatrixMultiply, MatMul,
    FullyConnected or Convolution, as TensorRT's kernels and Myelin's fused layers (named after the ONNX
    nodes) do."""
    text = f"{layer.get('LayerType', '')} {layer.get('Name', '')}".lower()
    return any(word in text for word in MATRIX_MULTIPLICATION_WORDS)


def layer_precisions(information: str | dict) -> Counter:
    """``{"int8": 3, "fp32": 1}``: how many matrix-multiplication layers (``is_matrix_multiplication``) of an
    engine inspector's JSON (``{"Layers": [...]}``) run
    in each precision, a layer counted once for each precision among the tensors it reads (its outputs'
    where it reads none); ``"unformatted"`` counts layers whose formats are not given, ``"undetailed"`` the
    layers of an engine built without ``ProfilingVerbosity.DETAILED``."""
    layers = (json.loads(information) if isinstance(information, str) else information).get("Layers", [])
    counts = Counter()
    for layer in layers:
        if not isinstance(layer, dict):
            counts["undetailed"] += 1
            continue
        if layer.get("LayerType") in CONVERSION_LAYERS or not is_matrix_multiplication(layer):
            continue
        tensors = layer.get("Inputs") or layer.get("Outputs") or []
        precisions = {tensor_precision(str(tensor.get("Format/Datatype", ""))) for tensor in tensors} - {None}
        counts.update(precisions or {"unformatted"})
    return counts


def inspector_evidence(information: str | dict, claimed: str) -> PrecisionEvidence:
    """Judge ``claimed`` from an engine inspector's JSON (``layer_precisions``): a reduced precision is shown
    when at least one layer runs in it, FP32 when some layer runs in FP32 and none in a reduced one."""
    counts = layer_precisions(information)
    method = "the engine inspector's layer formats (Format/Datatype)"
    layers = {precision: n for precision, n in counts.items() if precision not in ("undetailed", "unformatted")}
    if not layers:
        why = ("built without ProfilingVerbosity.DETAILED: the inspector lists layer names only"
               if counts["undetailed"] else "the inspector gives no layer formats")
        return PrecisionEvidence(claimed, False, method, why, {f"{k} layers": n for k, n in sorted(counts.items())})
    reduced = {precision: n for precision, n in layers.items() if precision in REDUCED_PRECISIONS}
    if claimed == "fp32":
        shown = layers.get("fp32", 0) > 0 and not reduced
        detail = (f"{layers.get('fp32', 0)} layers read fp32 tensors, none a reduced precision" if shown
                  else f"{sum(reduced.values())} layers read {'/'.join(sorted(reduced))} tensors" if reduced
                  else "no layer reads fp32 tensors")
    else:
        shown = layers.get(claimed, 0) > 0
        detail = f"{layers.get(claimed, 0)} layers read {claimed} tensors"
    return PrecisionEvidence(claimed=claimed, shown=shown, method=method, detail=detail,
                             counts={f"{k} layers": n for k, n in sorted(counts.items())})


def calibration_feeds(network, trt, roles: Roles, options: EngineOptions) -> list[dict[str, np.ndarray]]:
    """The calibration rows as feeds in the network's input dtypes, every batch of one size (the calibration
    profile's): ``CALIBRATION_BATCH`` samples, or all rows where there are fewer; a shorter last batch is left
    out."""
    options.calibration_digest()  # refuses INT8 without calibration rows
    calibration = options.calibration
    samples = min(CALIBRATION_BATCH, calibration.rows)
    dtypes = {network.get_input(i).name: np.dtype(trt.nptype(network.get_input(i).dtype))
              for i in range(network.num_inputs)}
    return [{name: np.ascontiguousarray(array, dtype=dtypes.get(name, array.dtype))
             for name, array in roles.feeds(batch.categorical, batch.numeric).items()}
            for batch in calibration.batches() if batch.rows == samples]


def entropy_calibrator(trt, cudart, feeds: list[dict[str, np.ndarray]], cache: Path):
    """A ``trt.IInt8EntropyCalibrator2`` that copies ``feeds`` one by one into device buffers (cuda-python) and
    keeps its cache in ``cache``. The class is made here because ``trt`` is imported lazily; call ``free()``
    once the build is done."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = iter(feeds)
            self.buffers = {name: _cuda_call(cudart, cudart.cudaMalloc(array.nbytes),
                                             f"cudaMalloc of {array.nbytes} bytes for calibrating {name}")
                            for name, array in feeds[0].items()}

        def get_batch_size(self) -> int:
            return 1  # an explicit-batch network takes its batch from the calibration profile's shapes

        def get_batch(self, names):
            batch = next(self.batches, None)
            if batch is None:
                return None
            to_device = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            for name in names:
                _cuda_call(cudart, cudart.cudaMemcpy(self.buffers[name], batch[name].ctypes.data, batch[name].nbytes,
                                                     to_device), f"copy of calibration rows for {name} to the device")
            return [int(self.buffers[name]) for name in names]

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data) -> None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(cache) as tmp:  # never half a cache for the next build to read
                tmp.write_bytes(bytes(data))

        def free(self) -> None:
            for buffer in self.buffers.values():
                _cuda_call(cudart, cudart.cudaFree(buffer), "cudaFree")

    return EntropyCalibrator()


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
        trt = cls.runtime()
        if options.precision == "bf16" and not hasattr(trt.BuilderFlag, "BF16"):
            return f"{cls.name} {cls.version()} has no BuilderFlag.BF16 (it appeared in TensorRT 9)"
        if options.precision == "int8" and not hasattr(trt, "IInt8EntropyCalibrator2"):
            return f"{cls.name} {cls.version()} has no IInt8EntropyCalibrator2 to calibrate INT8 with"
        try:
            cudart = cuda_runtime()
        except ImportError as exc:
            return f"cuda-python (device buffers for {cls.name}) not importable: {exc}"
        err, count = cudart.cudaGetDeviceCount()
        if err != cudart.cudaError_t.cudaSuccess or count == 0:
            return f"no CUDA device (cudaGetDeviceCount: {count} devices, {err})"
        return None

    @classmethod
    def accelerator_count(cls, options) -> int | None:
        return cuda_device_count()

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
        if hasattr(trt, "ProfilingVerbosity"):  # the layer formats the precision evidence is read from
            config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        precision = self.options.precision
        if precision in ("fp16", "int8"):  # INT8: FP16 for what is left unquantized
            config.set_flag(trt.BuilderFlag.FP16)
        if precision == "bf16":
            config.set_flag(trt.BuilderFlag.BF16)
        profile = builder.create_optimization_profile()
        for name, (smallest, optimal, largest) in profile_shapes(roles, self.options).items():
            profile.set_shape(name, smallest, optimal, largest)
        config.add_optimization_profile(profile)
        calibrator = None
        if precision == "int8":
            calibrator = self._calibrate(builder, config, network, roles, directory)
        try:
            plan = builder.build_serialized_network(network, config)
        finally:
            if calibrator is not None:
                calibrator.free()
        if plan is None:
            raise WidedeepError(f"{self.name} could not build an engine from {self.model} "
                                f"(its log above says why)")
        (directory / self.artifact_name).write_bytes(bytes(plan))

    def _calibrate(self, builder, config, network, roles: Roles, directory: Path):
        """Set INT8 with an entropy calibrator over the calibration rows, through a calibration profile of
        the batches' one shape; returns the calibrator (its device buffers are freed after the build)."""
        trt = self.runtime()
        feeds = calibration_feeds(network, trt, roles, self.options)
        profile = builder.create_optimization_profile()
        for name, array in feeds[0].items():
            profile.set_shape(name, array.shape, array.shape, array.shape)
        config.set_calibration_profile(profile)
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator = entropy_calibrator(trt, cuda_runtime(), feeds, self.calibration_cache())
        return calibrator

    def calibration_cache(self) -> Path:
        """Where the calibrator keeps its scales: shared by every build of this model, calibration rows,
        runtime version and device (another batch profile or a rebuild reads them instead of calibrating
        again), under the engine store's root."""
        key = self.engine_key()
        name = "-".join((self.name, key.onnx_sha256[:16], key.calibration[:16], key.runner_version, key.code,
                         hashlib.sha256(key.device.encode()).hexdigest()[:8]))
        return self.store.root / "calibration" / f"{name}.{CALIBRATION_CACHE}"

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

    def precision_evidence_impl(self) -> PrecisionEvidence:
        claimed = self.options.precision
        if not hasattr(self.engine, "create_engine_inspector"):
            return PrecisionEvidence.not_shown(claimed, f"{self.name} {self.version()} has no engine inspector")
        # A dynamic-shape engine's formats are given for the shapes of an execution context: the opt shapes.
        optimal = {name: shapes[1] for name, shapes in profile_shapes(self.roles, self.options).items()}
        for tensor in self.io:
            if tensor.is_input:
                self._set_input_shape(tensor, optimal[tensor.name])
        inspector = self.engine.create_engine_inspector()
        inspector.execution_context = self.context
        return inspector_evidence(inspector.get_engine_information(self.runtime().LayerInformationFormat.JSON),
                                  claimed)

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
