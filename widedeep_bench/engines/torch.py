"""PyTorch: the converted ONNX's weights in an equivalent forward pass; CUDA graphs on a GPU, FP32 on a CPU.

Three parts, each small:

- ``weights_from_onnx``: the weights of a converted model (``widedeep_bench.conversion``'s final model,
  the IxRT variant, or a raw tf2onnx export with MatMul + Add) found by the graph's structure, never
  by generated node names: the two ``GatherND`` over constant tables reading the categorical input,
  the dense chain from the ``Concat`` with the numeric input, the wide bias, the head. Anything that
  is not this architecture raises ``WidedeepError`` naming the node and what was expected.
- ``TorchWideDeep``: the forward pass on torch tensors. One gather per table with flat indices
  ``field * 1000 + bucket`` (what ``GatherND`` on a row-major ``[26, 1000, k]`` table reads), the tower
  as ``addmm``, and the head ``softmax([0, logit]) = [sigmoid(-logit), sigmoid(logit)]``, computed in
  float32 in every precision. It is a plain class, not an ``nn.Module``: torch is imported lazily
  (the registry imports this module on machines without torch, and a subclass of ``nn.Module`` would
  need torch at import time), and nothing here uses a module's machinery (no training, hooks, state dicts).
- ``TorchRunner``: on CUDA, FP16 or FP32 weights, one CUDA graph per batch size captured on first use
  (static device buffers), pinned host staging buffers, non-blocking copies, one stream; ``infer`` is
  stage -> copy in -> replay -> copy out -> synchronize. Without CUDA it runs FP32 on the CPU.

Not a ``CompiledRunner``: nothing is worth caching. Reading the weights from the ONNX takes well under a
second, and what is compiled (the CUDA graphs, cuBLAS's kernel choice) belongs to one process and one
device and cannot be saved to the engine store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.engines.base import Runner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.layout import check_feed
from widedeep_bench.measure import Rotation, Timing, TimingPlan, measure, warm_up
from widedeep_bench.model.weights import LAYER_DIMS, WideDeepWeights
from widedeep_bench.onnx_roles import Roles, input_roles

CPU_ONLY_FP32 = "torch on CPU runs fp32 only (no CUDA device)"
WARMUP_BEFORE_CAPTURE = 3  # eager calls before capture: cuBLAS handles, workspaces and kernel choices exist
TOWER_WIDTHS = tuple(zip(LAYER_DIMS[:-1], LAYER_DIMS[1:]))  # (in, out) of the 4 dense layers


# --- weights from the ONNX graph ---------------------------------------------------------------------

class _Graph:
    """Lookups over one ONNX graph, with errors that name the model."""

    def __init__(self, model, where: str):
        from widedeep_bench.conversion.graph import consumers, producers

        self.graph, self.where = model.graph, where
        self.readers, self.made_by = consumers(model.graph), producers(model.graph)

    def fail(self, what: str) -> WidedeepError:
        return WidedeepError(f"{self.where}: not the Wide & Deep architecture: {what}")

    def constant(self, name: str, what: str) -> np.ndarray:
        from widedeep_bench.conversion.graph import constant_value

        value = constant_value(self.graph, name)
        if value is None:
            raise self.fail(f"{what} ({name!r}) is not a constant (initializer or Constant node)")
        return value

    def only_reader(self, tensor: str, op_types: tuple[str, ...], what: str, *, shape_readers_allowed: bool = False):
        """The one node reading ``tensor``, which must be one of ``op_types``.

        ``shape_readers_allowed``: also accept ``Shape`` nodes reading it (they read its dims, not its values).
        """
        readers = [node for node in self.readers.get(tensor, [])
                   if not (shape_readers_allowed and node.op_type == "Shape")]
        if len(readers) != 1 or readers[0].op_type not in op_types:
            found = [f"{n.op_type} {n.name!r}" for n in readers] or "nothing"
            raise self.fail(f"{what}: expected {tensor!r} to be read by one {'/'.join(op_types)}, found {found}")
        return readers[0]

    @staticmethod
    def attribute(node, name: str, default):
        from onnx import helper

        return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)

    def axis_is_last_of_2d(self, node, what: str, default: int | None = None) -> None:
        axis = self.attribute(node, "axis", default)
        if axis not in (1, -1):
            raise self.fail(f"{what} {node.op_type} {node.name!r}: axis {axis}, expected 1 (the last of [N, k])")


def _tables(g: _Graph, categorical: str) -> dict[int, tuple[np.ndarray, str]]:
    """``{last dim: (table, GatherND output)}`` for the GatherND nodes reading the categorical input."""
    tables = {}
    for node in g.readers.get(categorical, []):
        if node.op_type != "GatherND" or list(node.input[1:]) != [categorical] or g.attribute(node, "batch_dims", 0):
            raise g.fail(f"the categorical input {categorical!r} is read by {node.op_type} {node.name!r}; "
                         f"expected only GatherND(table, {categorical!r}) with batch_dims 0")
        table = g.constant(node.input[0], f"GatherND {node.name!r} table")
        if table.ndim != 3 or table.shape[:2] != (layout.NUM_FIELDS, layout.BUCKETS):
            raise g.fail(f"GatherND {node.name!r} table has shape {list(table.shape)}, expected "
                         f"[{layout.NUM_FIELDS}, {layout.BUCKETS}, 1] or [.., {layout.EMBEDDING_DIM}]")
        tables[table.shape[2]] = (table, node.output[0])
    if sorted(tables) != [1, layout.EMBEDDING_DIM] or len(g.readers.get(categorical, [])) != 2:
        raise g.fail(f"expected 2 GatherND over a [26, 1000, 1] wide table and a [26, 1000, "
                     f"{layout.EMBEDDING_DIM}] embedding table; found tables with last dims {sorted(tables)}")
    return tables


def _reshape_to(g: _Graph, tensor: str, width: int, what: str) -> str:
    """Follow ``tensor`` through its one ``Reshape`` to ``[-1, width]``; return the Reshape's output."""
    reshape = g.only_reader(tensor, ("Reshape",), what)
    shape = g.constant(reshape.input[1], f"{what} Reshape {reshape.name!r} shape")
    if shape.shape != (2,) or int(shape[1]) != width:
        raise g.fail(f"{what} Reshape {reshape.name!r} to {shape.tolist()}, expected [-1, {width}]")
    return reshape.output[0]


def _dense_layer(g: _Graph, x: str, index: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``(kernel [in, out], bias [out], output)`` of the dense layer reading ``x``: Gemm, or MatMul + Add."""
    fan_in, fan_out = TOWER_WIDTHS[index]
    what = f"dense layer {index} ([{fan_in}, {fan_out}])"
    node = g.only_reader(x, ("Gemm", "MatMul"), what)
    if node.op_type == "Gemm":
        if g.attribute(node, "transA", 0):
            raise g.fail(f"{what} Gemm {node.name!r} has transA=1; expected the activations [N, {fan_in}] as is")
        kernel = g.constant(node.input[1], f"{what} Gemm {node.name!r} B")
        if g.attribute(node, "transB", 0):
            kernel = kernel.T  # B is [out, in]; Y = A @ B.T
        bias = g.constant(node.input[2], f"{what} Gemm {node.name!r} C") if len(node.input) > 2 and node.input[2] \
            else np.zeros(fan_out, np.float32)
        kernel, bias = kernel * g.attribute(node, "alpha", 1.0), bias * g.attribute(node, "beta", 1.0)
        output = node.output[0]
    else:
        kernel = g.constant(node.input[1], f"{what} MatMul {node.name!r} weight")
        add = g.only_reader(node.output[0], ("Add",), f"{what} bias")
        bias = g.constant(next(name for name in add.input if name != node.output[0]), f"{what} Add {add.name!r} bias")
        output = add.output[0]
    if kernel.shape != (fan_in, fan_out):
        trans_b = f" (transB={g.attribute(node, 'transB', 0)})" if node.op_type == "Gemm" else ""
        raise g.fail(f"{what} {node.op_type} {node.name!r}: kernel{trans_b} multiplies as {list(kernel.shape)}, "
                     f"expected [{fan_in}, {fan_out}] (a Gemm with transB=1 must hold the kernel as [out, in])")
    if bias.size != fan_out:
        raise g.fail(f"{what} {node.op_type} {node.name!r}: bias has shape {list(bias.shape)}, expected [{fan_out}]")
    return kernel.astype(np.float32), bias.reshape(fan_out).astype(np.float32), output


def _tower(g: _Graph, deep_input: str) -> tuple[list, list, str]:
    """Kernels, biases and the logit tensor of the 4 dense layers (ReLU after the first 3) from ``deep_input``."""
    kernels, biases, x = [], [], deep_input
    for index in range(len(TOWER_WIDTHS)):
        kernel, bias, x = _dense_layer(g, x, index)
        kernels.append(kernel)
        biases.append(bias)
        if index < len(TOWER_WIDTHS) - 1:
            x = g.only_reader(x, ("Relu",), f"dense layer {index} activation").output[0]
    return kernels, biases, x


def _wide_logit(g: _Graph, gathered: str) -> tuple[np.ndarray, str]:
    """(wide bias [1], wide output): gathered weights -> Reshape [-1, 26] -> ReduceSum(1) -> Add(bias)."""
    summed = g.only_reader(_reshape_to(g, gathered, layout.NUM_FIELDS, "wide part"), ("ReduceSum",), "wide sum")
    axes = g.constant(summed.input[1], f"ReduceSum {summed.name!r} axes") if len(summed.input) > 1 \
        else np.asarray(g.attribute(summed, "axes", []))
    if axes.tolist() not in ([1], [-1]) or g.attribute(summed, "keepdims", 1) != 1:
        raise g.fail(f"wide sum ReduceSum {summed.name!r}: axes {axes.tolist()}, keepdims "
                     f"{g.attribute(summed, 'keepdims', 1)}; expected axes [1] with keepdims 1")
    add = g.only_reader(summed.output[0], ("Add",), "wide bias")
    bias = g.constant(next(name for name in add.input if name != summed.output[0]), f"wide bias Add {add.name!r}")
    if bias.size != 1:
        raise g.fail(f"wide bias Add {add.name!r}: bias has shape {list(bias.shape)}, expected [1]")
    return bias.reshape(1).astype(np.float32), add.output[0]


def _is_zeros(g: _Graph, tensor: str, roles: Roles) -> bool:
    """True for the zeros_like graph input or a ``ConstantOfShape`` filled with 0 (its default)."""
    if tensor == roles.zeros_like:
        return True
    from widedeep_bench.conversion.graph import is_zero_fill

    node = g.made_by.get(tensor)
    return node is not None and is_zero_fill(node)


def _check_head(g: _Graph, logit: str, roles: Roles) -> None:
    """logit -> Concat([zeros, logit], axis 1) -> Softmax(axis 1) -> the probabilities output."""
    concat = g.only_reader(logit, ("Concat",), "head", shape_readers_allowed=True)  # Shape -> zeros_like
    g.axis_is_last_of_2d(concat, "head")
    if len(concat.input) != 2 or concat.input[1] != logit or not _is_zeros(g, concat.input[0], roles):
        raise g.fail(f"head Concat {concat.name!r} has inputs {list(concat.input)}; expected [zeros, logit "
                     f"{logit!r}] with the zeros from ConstantOfShape(0) or the zeros_like input")
    softmax = g.only_reader(concat.output[0], ("Softmax",), "head")
    g.axis_is_last_of_2d(softmax, "head", default=1)  # 1 before opset 13, -1 since: both the last of [N, 2]
    if softmax.output[0] != roles.output:
        raise g.fail(f"head Softmax {softmax.name!r} writes {softmax.output[0]!r}, not the output {roles.output!r}")


def weights_from_onnx(path: Path) -> tuple[Roles, WideDeepWeights]:
    """The model's input/output roles and its weights, read from the ONNX file ``path`` by graph structure.

    Raises ``WidedeepError`` naming the file, the node and what was expected when the graph is not
    this architecture (other tables, a missing layer, a Gemm whose ``transB`` does not fit its kernel).
    """
    from widedeep_bench.conversion.onnx_file import read_onnx

    model = read_onnx(Path(path))
    roles = input_roles(Path(path))
    g = _Graph(model, str(path))
    tables = _tables(g, roles.categorical)
    (wide, wide_gathered), (embeddings, deep_gathered) = tables[1], tables[layout.EMBEDDING_DIM]
    concat = g.only_reader(_reshape_to(g, deep_gathered, layout.NUM_FIELDS * layout.EMBEDDING_DIM, "deep part"),
                           ("Concat",), "deep input")
    g.axis_is_last_of_2d(concat, "deep input")
    if list(concat.input[1:]) != [roles.numeric]:
        raise g.fail(f"deep input Concat {concat.name!r} has inputs {list(concat.input)}; expected "
                     f"[embeddings, {roles.numeric!r}] (embeddings first, then the numeric input)")
    kernels, biases, deep_logit = _tower(g, concat.output[0])
    wide_bias, wide_logit = _wide_logit(g, wide_gathered)
    add = g.only_reader(deep_logit, ("Add",), "logit")
    if sorted(add.input) != sorted([deep_logit, wide_logit]):
        raise g.fail(f"logit Add {add.name!r} adds {list(add.input)}; expected the deep logit {deep_logit!r} "
                     f"and the wide part {wide_logit!r}")
    _check_head(g, add.output[0], roles)
    return roles, WideDeepWeights(wide=wide, wide_bias=wide_bias, embeddings=embeddings, kernels=kernels,
                                  biases=biases)


# --- the forward pass ----------------------------------------------------------------------------------

class TorchWideDeep:
    """The model on one device in one dtype: ``self(categorical, numeric) -> probabilities [N, 2] float32``.

    ``categorical`` is ``[26*N, 2] int64`` (row ``26*r + j`` = ``(j, bucket)``), ``numeric`` ``[N, 13]
    float32``, both on ``device``. Tables and tower are held in ``dtype``; the logit is cast to float32
    before the head, so FP16 rounds weights and activations but not the probabilities.
    """

    def __init__(self, weights: WideDeepWeights, device, dtype):
        import torch

        def tensor(array: np.ndarray):
            return torch.from_numpy(np.array(array, dtype=np.float32, order="C")).to(device=device, dtype=dtype)

        self.device, self.dtype = torch.device(device), dtype
        self.wide = tensor(weights.wide.reshape(-1))  # [26000]: flat index field * 1000 + bucket
        self.wide_bias = tensor(weights.wide_bias)  # [1]
        self.embeddings = tensor(weights.embeddings.reshape(-1, layout.EMBEDDING_DIM))  # [26000, 32]
        self.kernels = [tensor(kernel) for kernel in weights.kernels]  # [in, out]
        self.biases = [tensor(bias) for bias in weights.biases]  # [out]

    def __call__(self, categorical, numeric):
        import torch

        samples = numeric.shape[0]
        # GatherND reads table[field, bucket]; on the row-major table flattened to [26000, k] that is row
        # field * 1000 + bucket: one add kernel, then one gather per table.
        flat = categorical[:, 1].add(categorical[:, 0], alpha=layout.BUCKETS)
        wide = self.wide.index_select(0, flat).view(samples, layout.NUM_FIELDS).sum(1, keepdim=True)
        deep = torch.cat([self.embeddings.index_select(0, flat).view(samples, -1), numeric.to(self.dtype)], 1)
        for kernel, bias in zip(self.kernels[:-1], self.biases[:-1]):
            deep = torch.addmm(bias, deep, kernel).relu_()
        logit = (torch.addmm(self.biases[-1], deep, self.kernels[-1]) + (wide + self.wide_bias)).float()
        # softmax([0, l]) = [1 / (1 + e^l), e^l / (1 + e^l)] = [sigmoid(-l), sigmoid(l)], without 1 - p cancellation.
        return torch.sigmoid(torch.cat([-logit, logit], 1))


# --- CUDA graphs ------------------------------------------------------------------------------------------

@dataclass
class CapturedBatch:
    """One batch size's CUDA graph with its static device buffers and pinned host staging buffers.

    The graph always reads ``categorical`` / ``numeric`` and writes ``probabilities`` (device tensors);
    ``host_*`` are page-locked CPU tensors of the same shapes and ``*_array`` their NumPy views.
    """

    graph: object
    categorical: object  # [26*B, 2] int64, device
    numeric: object  # [B, 13] float32, device
    probabilities: object  # [B, 2] float32, device
    host_categorical: object
    host_numeric: object
    host_probabilities: object

    def __post_init__(self) -> None:
        self.categorical_array = self.host_categorical.numpy()
        self.numeric_array = self.host_numeric.numpy()
        self.probabilities_array = self.host_probabilities.numpy()


def capture_batch(forward: TorchWideDeep, samples: int, stream) -> CapturedBatch:
    """Warm up and capture ``forward`` for ``samples`` samples on ``stream`` (CUDA only)."""
    import torch

    with torch.no_grad(), torch.cuda.stream(stream):
        # Valid rows (field j, bucket 0) for the warm-up calls: the gathers have no bounds checks.
        fields = torch.arange(layout.NUM_FIELDS, device=forward.device).repeat(samples)
        categorical = torch.stack([fields, torch.zeros_like(fields)], 1)
        numeric = torch.zeros((samples, layout.NUM_NUMERIC), dtype=torch.float32, device=forward.device)
        for _ in range(WARMUP_BEFORE_CAPTURE):
            forward(categorical, numeric)
        stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            probabilities = forward(categorical, numeric)
    pinned = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in (categorical, numeric, probabilities)]
    return CapturedBatch(graph, categorical, numeric, probabilities, *pinned)


# --- the runner --------------------------------------------------------------------------------------------

class TorchRunner(Runner):
    """PyTorch on CUDA (FP16 / FP32, CUDA graphs) or on the CPU (FP32, eager, ``threads`` intra-op threads)."""

    name = "torch"
    module_name = "torch"

    @classmethod
    def version(cls) -> str:
        return str(cls.runtime().__version__)

    @classmethod
    def options_unsupported(cls, options) -> str | None:
        if options.providers:
            return f"torch has no providers (got {list(options.providers)}); it runs on CUDA when present, else the CPU"
        if options.precision != "fp32" and not cls.runtime().cuda.is_available():
            return CPU_ONLY_FP32
        return None

    @property
    def uses_cuda(self) -> bool:
        return self.forward.device.type == "cuda"

    def device_name(self) -> str:
        """``"cuda:0 (NVIDIA H100 80GB HBM3)"`` or ``"cpu"``: where this runner computes."""
        torch = self.runtime()
        device = self.forward.device
        return f"{device} ({torch.cuda.get_device_name(device)})" if self.uses_cuda else str(device)

    def activate_impl(self) -> Roles:
        torch = self.runtime()
        reason = self.unavailable_reason(self.options)
        if reason is not None:
            raise WidedeepError(f"{self.name} cannot run {self.model} in {self.options.precision}: {reason}")
        if self.model is None:
            raise WidedeepError(f"{self.name} needs an ONNX model (got none)")
        roles, weights = weights_from_onnx(self.model)
        dtype = torch.float16 if self.options.precision == "fp16" else torch.float32
        if torch.cuda.is_available():
            self.stream = torch.cuda.Stream()
            self.captured: dict[int, CapturedBatch] = {}
            with torch.cuda.stream(self.stream):  # one stream for everything: weights, copies, replays
                self.forward = TorchWideDeep(weights, torch.device("cuda", torch.cuda.current_device()), dtype)
            self.stream.synchronize()
        else:
            # Process-wide in torch: the last CPU runner activated sets it.
            torch.set_num_threads(self.options.intra_op_threads())
            self.forward = TorchWideDeep(weights, "cpu", dtype)
        return roles

    def deactivate_impl(self) -> None:
        if self.uses_cuda:
            self.stream.synchronize()
            del self.captured, self.stream
        del self.forward

    def captured_batch(self, samples: int) -> CapturedBatch:
        """The CUDA graph for ``samples`` samples, captured on first use (each size keeps its own buffers)."""
        if samples not in self.captured:
            self.captured[samples] = capture_batch(self.forward, samples, self.stream)
        return self.captured[samples]

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        # A zeros_like input (the IxRT variant) is zeros by definition: the forward pass makes its own.
        categorical, numeric = feeds[self.roles.categorical], feeds[self.roles.numeric]
        if not self.uses_cuda:
            torch = self.runtime()
            with torch.inference_mode():
                return self.forward(_cpu_tensor(torch, categorical), _cpu_tensor(torch, numeric)).numpy()
        batch = self.captured_batch(numeric.shape[0])
        np.copyto(batch.categorical_array, categorical)
        np.copyto(batch.numeric_array, numeric)
        with self.runtime().cuda.stream(self.stream):
            batch.categorical.copy_(batch.host_categorical, non_blocking=True)
            batch.numeric.copy_(batch.host_numeric, non_blocking=True)
            batch.graph.replay()
            batch.host_probabilities.copy_(batch.probabilities, non_blocking=True)
        self.stream.synchronize()
        return batch.probabilities_array.copy()  # the staging buffer is reused by the next call

    def _require_active(self, to_do: str) -> None:
        if not self.is_active:
            raise WidedeepError(f"{self.name} runner is not active: activate it before you {to_do}")

    def device_batch(self, categorical: np.ndarray, numeric: np.ndarray) -> tuple:
        """A validated batch as tensors on this runner's device, for ``compute_seconds``."""
        self._require_active("make device batches")
        check_feed(categorical, numeric)
        torch = self.runtime()
        if not self.uses_cuda:
            return torch.from_numpy(np.array(categorical)), torch.from_numpy(np.array(numeric))
        with torch.cuda.stream(self.stream):
            return (torch.from_numpy(np.array(categorical)).to(self.forward.device),
                    torch.from_numpy(np.array(numeric)).to(self.forward.device))

    def compute_seconds(self, device_batches: list[tuple], plan: TimingPlan) -> Timing:
        """Compute time per batch, inputs already on the device, batches rotated, planned by ``plan``.

        CPU: ``widedeep_bench.measure.measure`` around the forward pass. CUDA: warm-up and the round count
        from ``measure.warm_up`` / ``plan.rounds_for`` over wall time per round (copy in, replay,
        synchronize), then CUDA events recorded on the stream just before and after each timed
        ``graph.replay()``; each round first copies its batch into the graph's static inputs (device to
        device, outside the events), so the event seconds measured are somewhat below ``min_duration_s``.
        """
        self._require_active("time it")
        samples = {int(numeric.shape[0]) for _, numeric in device_batches}
        if len(samples) != 1:
            raise WidedeepError(f"compute_seconds needs batches of one size, got sizes {sorted(samples)}")
        batch_size = samples.pop()
        torch = self.runtime()
        if not self.uses_cuda:
            with torch.inference_mode():
                return measure(self.forward, device_batches, batch_size, plan)
        batch = self.captured_batch(batch_size)

        def replay(categorical, numeric, events=None):
            batch.categorical.copy_(categorical, non_blocking=True)
            batch.numeric.copy_(numeric, non_blocking=True)
            if events is not None:
                events[0].record(self.stream)
            batch.graph.replay()
            if events is not None:
                events[1].record(self.stream)

        def replay_and_wait(categorical, numeric):
            with torch.cuda.stream(self.stream):
                replay(categorical, numeric)
            self.stream.synchronize()

        rotation = Rotation(device_batches)
        rounds = plan.rounds_for(warm_up([replay_and_wait], rotation, plan)[0])
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(rounds)]
        with torch.cuda.stream(self.stream):
            for pair in events:
                replay(*rotation(), events=pair)
        self.stream.synchronize()
        return Timing(np.asarray([start.elapsed_time(end) / 1e3 for start, end in events]), batch_size)  # ms -> s


def _cpu_tensor(torch, array: np.ndarray):
    """A CPU tensor sharing ``array``'s memory, or a copy where it is read-only (a memory-mapped cache)."""
    return torch.from_numpy(np.require(array, requirements=["C", "W"]))
