"""PyTorch: the converted ONNX's weights in an equivalent forward pass; CUDA graphs on a GPU, eager on a CPU.

The weights come from ``widedeep_bench.model.onnx_weights.weights_from_onnx`` (read by the graph's
structure, from the converted model, the IxRT variant or a raw tf2onnx export). Two parts, each small:

- ``TorchWideDeep``: the forward pass on torch tensors. One gather per table with flat indices
  ``field * 1000 + bucket`` (what ``GatherND`` on a row-major ``[26, 1000, k]`` table reads), the tower
  as ``addmm``, and the head ``softmax([0, logit]) = [sigmoid(-logit), sigmoid(logit)]``. It is a plain
  class, not an ``nn.Module``: torch is imported lazily (the registry imports this module on machines
  without torch, and a subclass of ``nn.Module`` would need torch at import time), and nothing here uses
  a module's machinery (no training, hooks, state dicts).
- ``TorchRunner``: on CUDA, one CUDA graph per batch size captured on first use (static device buffers),
  pinned host staging buffers, non-blocking copies, one stream; ``infer`` is feed check -> stage -> copy
  in -> replay -> copy out -> synchronize. Without CUDA it runs eagerly on the CPU.

Precisions (no INT8: torch has no quantized path here):

- FP32: float32 weights and arithmetic, on CUDA or the CPU.
- FP16 (CUDA only): float16 tables, tower weights and activations. The wide part's sum over the 26 terms,
  the wide bias (held in float32) and the final add of wide + deep are float32: the gathered float16
  terms are summed into a float32 result, the deep logit from the last GEMM is cast to float32 before the
  add, and the head runs on the float32 logit. So FP16 rounds the tables, weights and activations, not
  the logit's sum nor the probabilities. A CPU's float16 GEMMs are emulated, so FP16 is refused there
  (``TorchWideDeep`` itself runs float16 on the CPU, slowly, which the tests use).
- BF16: on CUDA (a GPU with native BF16, sm_80+), bfloat16 like FP16 (wide sum and final add in float32).
  On the CPU, float32 weights under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (the GEMMs in
  bfloat16, the gathers and head in float32), offered only where the CPU has AMX-BF16 or AVX512-BF16
  (``/proc/cpuinfo`` flags ``amx_bf16``, ``avx512_bf16``); elsewhere oneDNN would emulate BF16 and
  measure nothing a user would run.

Speed levers (``LEVERS``), each a switch of its own so the device can measure each and keep what wins;
``DEFAULT_LEVERS`` is what a runner uses unless told. Every combination computes the same function (the
tests hold each to FP32's tolerance against the baseline):

- ``split_first_layer``: no concat. The first layer is two GEMMs chained through ``addmm``'s input: the
  numeric part ``[N, 13]``, padded on the device to ``[N, 16]`` (zeros) against the numeric rows of the
  kernel padded to ``[16, 1024]`` (zero rows), with the bias; then the embeddings ``[N, 832]`` against
  the kernel's first 832 rows, accumulated onto it. Both K (16, 832) are multiples of 16 (tensor cores),
  and the host still copies 13 numeric columns, not 16.
- ``fused_epilogue``: bias + ReLU of the hidden layers as ``torch._addmm_activation`` (cuBLASLt's
  RELU_BIAS epilogue on CUDA where the bias is a vector; with ``split_first_layer`` the first layer's
  input is a matrix, so cuBLAS runs a GEMM with beta = 1 and PyTorch a ReLU after it).
- ``narrow_indices``: only the buckets travel, as ``int16 [N, 26]`` (2 bytes per index instead of the
  feed's 16 for field and bucket); the device adds the field offsets (``field * 1000``, a constant
  ``int32 [26]``) to form ``int32`` flat indices. The feed is still checked in full first (``check_feed``).
- ``f32_head``: the float32 head as one multiply by a constant ``[-1, +1]`` and one sigmoid, instead of
  neg + cat + sigmoid; still ``[sigmoid(-l), sigmoid(l)]``, bit for bit, without ``1 - p`` cancellation.

``torch.compile`` is not a lever: compiling the forward (and autotuning it) takes minutes of device time
per batch size and precision, which the device's 15-minute budget cannot spare; the captured graph
already removes the launch overhead that compiling would mostly save.

Evidence (``precision_evidence``) comes from a probe call of the forward pass: the dtype of the output of
every ``torch.addmm`` and ``torch._addmm_activation`` that ran (observed with a ``TorchFunctionMode``),
attributed to its tower layer by its weight, beside the weights' dtype and the autocast dtype; the claim
is shown when every GEMM of every tower layer produced the claimed dtype.

Not a ``CompiledRunner``: nothing is worth caching. Reading the weights from the ONNX takes well under a
second, and what is compiled (the CUDA graphs, cuBLAS's kernel choice) belongs to one process and one
device and cannot be saved to the engine store.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from widedeep_bench import layout
from widedeep_bench.engines.base import Runner
from widedeep_bench.environment import cpu_flags
from widedeep_bench.errors import WidedeepError
from widedeep_bench.layout import check_feed
from widedeep_bench.measure import Rotation, Timing, TimingPlan, measure, warm_up
from widedeep_bench.model.weights import WideDeepWeights
from widedeep_bench.onnx_roles import Roles
from widedeep_bench.precision import PrecisionEvidence

CPU_NO_FP16 = "torch on CPU runs fp32 (and bf16 where the CPU has AMX-BF16 or AVX512-BF16), not fp16 (no CUDA device)"
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native BF16 dot products
DTYPE_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
WARMUP_BEFORE_CAPTURE = 3  # eager calls before capture: cuBLAS handles, workspaces and kernel choices exist
PROBE_SAMPLES = 4  # samples in the evidence probe call

LEVERS = ("split_first_layer", "fused_epilogue", "narrow_indices", "f32_head")
DEFAULT_LEVERS: frozenset[str] = frozenset()  # what TorchRunner uses unless told; set from the device's figures
EMBEDDED_DIM = layout.NUM_FIELDS * layout.EMBEDDING_DIM  # 832: the embeddings' columns of the deep input
NUMERIC_PADDED = 16  # the numeric GEMM's K under split_first_layer: 13 columns and 3 zero columns
GEMM_FUNCTIONS = ("addmm", "_addmm_activation")  # the torch functions the tower's GEMMs run as



# --- levers --------------------------------------------------------------------------------------------

def checked_levers(levers: Iterable[str], what: str = "") -> frozenset[str]:
    """``levers`` as a frozenset, each a name in ``LEVERS`` (``WidedeepError`` naming the first unknown)."""
    chosen = frozenset(levers)
    unknown = sorted(chosen - set(LEVERS))
    if unknown:
        raise WidedeepError(f"unknown torch lever {unknown[0]!r}{what}; the levers are {', '.join(LEVERS)} "
                            f"(or none, or all; join several with +)")
    return chosen


def parse_levers(text: str) -> frozenset[str]:
    """``"none"`` -> no lever, ``"all"`` -> every lever, ``"a+b"`` -> ``{a, b}``."""
    if text == "none":
        return frozenset()
    if text == "all":
        return frozenset(LEVERS)
    return checked_levers(text.split("+"), f" in {text!r}")


def levers_label(levers: Iterable[str]) -> str:
    """``"none"``, ``"all"`` or ``"a+b"`` in ``LEVERS`` order: what ``parse_levers`` reads back."""
    chosen = checked_levers(levers)
    if not chosen:
        return "none"
    if chosen == set(LEVERS):
        return "all"
    return "+".join(lever for lever in LEVERS if lever in chosen)


# --- the forward pass ----------------------------------------------------------------------------------

class TorchWideDeep:
    """The model on one device in one dtype: ``self(indices, numeric) -> probabilities [N, 2] float32``.

    ``indices`` is what ``host_indices`` makes of a feed: the feed's ``[26*N, 2] int64`` (row ``26*r + j``
    = ``(j, bucket)``), or with ``narrow_indices`` its buckets as ``[N, 26] int16``; ``numeric`` is ``[N,
    13] float32``; both on ``device``. Tables and tower are held in ``dtype``; the wide sum, the wide bias,
    the final add and the head are float32 in every dtype (the module docstring's FP16 paragraph).
    ``autocast``: a dtype the tower's GEMMs run in under ``torch.autocast`` (CPU BF16), or None.
    ``levers``: a subset of ``LEVERS``.
    """

    def __init__(self, weights: WideDeepWeights, device, dtype, autocast=None, levers: Iterable[str] = ()):
        import torch

        def tensor(array: np.ndarray, tensor_dtype=dtype):
            array = np.array(array, dtype=np.float32, order="C")
            return torch.from_numpy(array).to(device=device, dtype=tensor_dtype)

        self.device, self.dtype, self.autocast = torch.device(device), dtype, autocast
        self.levers = checked_levers(levers)
        self.wide = tensor(weights.wide.reshape(-1))  # [26000]: flat index field * 1000 + bucket
        self.wide_bias = tensor(weights.wide_bias, torch.float32)  # [1]
        self.embeddings = tensor(weights.embeddings.reshape(-1, layout.EMBEDDING_DIM))  # [26000, 32]
        self.kernels = [tensor(kernel) for kernel in weights.kernels]  # [in, out]
        self.biases = [tensor(bias) for bias in weights.biases]  # [out]
        # Each tower layer's GEMM weights (what the evidence attributes a GEMM to a layer by).
        self.layer_kernels = [[kernel] for kernel in self.kernels]
        if "split_first_layer" in self.levers:
            numeric_rows = np.zeros((NUMERIC_PADDED, weights.kernels[0].shape[1]), np.float32)
            numeric_rows[:layout.NUM_NUMERIC] = weights.kernels[0][EMBEDDED_DIM:]
            self.first_embedding_kernel = self.kernels[0][:EMBEDDED_DIM]  # [832, 1024], a view
            self.first_numeric_kernel = tensor(numeric_rows)  # [16, 1024], the last 3 rows zero
            self.layer_kernels[0] = [self.first_embedding_kernel, self.first_numeric_kernel]
        if "narrow_indices" in self.levers:
            self.field_offsets = torch.arange(layout.NUM_FIELDS, dtype=torch.int32, device=device) * layout.BUCKETS
        if "f32_head" in self.levers:
            self.head_sign = torch.tensor([[-1.0, 1.0]], dtype=torch.float32, device=device)

    def host_indices(self, categorical: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """What the forward pass takes as ``indices``, made on the host from a checked feed ``[26*N, 2]
        int64``: the feed itself, or with ``narrow_indices`` its buckets as ``int16 [N, 26]`` (0..999 fit).
        Written into ``out`` (a staging buffer of that shape and dtype) when given, else a new array or
        the feed itself."""
        if "narrow_indices" in self.levers:
            buckets = categorical[:, 1].reshape(-1, layout.NUM_FIELDS)
            if out is None:
                return buckets.astype(np.int16)
            np.copyto(out, buckets, casting="unsafe")  # int64 -> int16: check_feed bounded them to 0..999
            return out
        if out is None:
            return categorical
        np.copyto(out, categorical)
        return out

    def zero_inputs(self, samples: int) -> tuple:
        """``(indices, numeric)`` of ``samples`` valid rows (bucket 0, numerics 0) on the device, in the
        forward pass's input form: the gathers have no bounds checks."""
        import torch

        numeric = torch.zeros((samples, layout.NUM_NUMERIC), dtype=torch.float32, device=self.device)
        if "narrow_indices" in self.levers:
            return torch.zeros((samples, layout.NUM_FIELDS), dtype=torch.int16, device=self.device), numeric
        fields = torch.arange(layout.NUM_FIELDS, device=self.device).repeat(samples)
        return torch.stack([fields, torch.zeros_like(fields)], 1), numeric

    def __call__(self, indices, numeric):
        import torch

        if self.autocast is None:
            return self.head(torch, self.logit(torch, indices, numeric))
        with torch.autocast(self.device.type, dtype=self.autocast):
            return self.head(torch, self.logit(torch, indices, numeric))

    def logit(self, torch, indices, numeric):
        """``[N, 1] float32``: wide (26 terms summed into float32, + the float32 bias) + deep (the last
        GEMM's output, cast to float32)."""
        samples = numeric.shape[0]
        flat = self.flat_indices(indices)
        wide = self.wide.index_select(0, flat).view(samples, layout.NUM_FIELDS).sum(1, keepdim=True,
                                                                                      dtype=torch.float32)
        deep = self.first_layer(torch, self.embeddings.index_select(0, flat).view(samples, -1), numeric)
        for kernel, bias in zip(self.kernels[1:-1], self.biases[1:-1]):
            deep = self.relu_gemm(torch, bias, deep, kernel)
        return torch.addmm(self.biases[-1], deep, self.kernels[-1]).float() + (wide + self.wide_bias)

    def flat_indices(self, indices):
        """Row ``field * 1000 + bucket`` of the flattened tables (what GatherND reads on ``[26, 1000, k]``)."""
        if "narrow_indices" in self.levers:
            return (indices + self.field_offsets).view(-1)  # int16 [N, 26] + int32 [26] -> int32, one kernel
        return indices[:, 1].add(indices[:, 0], alpha=layout.BUCKETS)

    def first_layer(self, torch, embedded, numeric):
        if "split_first_layer" not in self.levers:
            deep_input = torch.cat([embedded, numeric.to(self.dtype)], 1)
            return self.relu_gemm(torch, self.biases[0], deep_input, self.kernels[0])
        padded = torch.nn.functional.pad(numeric.to(self.dtype), (0, NUMERIC_PADDED - layout.NUM_NUMERIC))
        numeric_part = torch.addmm(self.biases[0], padded, self.first_numeric_kernel)  # K = 16, bias epilogue
        return self.relu_gemm(torch, numeric_part, embedded, self.first_embedding_kernel)  # K = 832, beta = 1

    def relu_gemm(self, torch, bias, x, kernel):
        """``relu(bias + x @ kernel)``: the ReLU in the GEMM's epilogue with ``fused_epilogue``."""
        if "fused_epilogue" in self.levers:
            return torch._addmm_activation(bias, x, kernel, use_gelu=False)
        return torch.addmm(bias, x, kernel).relu_()

    def head(self, torch, logit):
        # softmax([0, l]) = [1 / (1 + e^l), e^l / (1 + e^l)] = [sigmoid(-l), sigmoid(l)], without 1 - p cancellation.
        if "f32_head" in self.levers:
            return torch.sigmoid(logit * self.head_sign)
        return torch.sigmoid(torch.cat([-logit, logit], 1))


def addmm_output_dtypes(forward: TorchWideDeep, samples: int = PROBE_SAMPLES) -> Counter:
    """``{(layer, function, dtype): calls}``: every ``torch.addmm`` / ``torch._addmm_activation`` that ran
    in one call of ``forward`` on ``samples`` zero rows, observed as it ran (autocast included), by the
    tower layer its weight (``mat2``) belongs to (None: not a tower weight), e.g. ``{(0, "addmm",
    "bfloat16"): 1, ...}``."""
    import torch
    from torch.overrides import TorchFunctionMode

    functions = {getattr(torch, name) for name in GEMM_FUNCTIONS if hasattr(torch, name)}
    layer_of = {id(kernel): layer for layer, kernels in enumerate(forward.layer_kernels) for kernel in kernels}
    outputs = Counter()

    class GemmOutputs(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            if func in functions:
                weight = args[2] if len(args) > 2 else (kwargs or {}).get("mat2")
                outputs[(layer_of.get(id(weight)), func.__name__, str(result.dtype).removeprefix("torch."))] += 1
            return result

    with torch.inference_mode(), GemmOutputs():
        forward(*forward.zero_inputs(samples))
    return outputs


def gemm_evidence(outputs: Counter, claimed: str, forward: TorchWideDeep, method: str) -> PrecisionEvidence:
    """Judge ``claimed`` from ``addmm_output_dtypes``: shown when every tower layer of ``forward`` ran its
    GEMMs (two for the first layer under ``split_first_layer``) and each output the claimed dtype, and no
    other GEMM ran."""
    expected = DTYPE_NAMES.get(claimed, claimed)
    layers = len(forward.kernels)
    dtypes = [{dtype for (layer, _, dtype) in outputs if layer == i} for i in range(layers)]
    shown_layers = sum(found == {expected} for found in dtypes)
    strays = sum(n for (layer, _, _), n in outputs.items() if layer is None)
    by_function = Counter()
    for (_, function, dtype), n in outputs.items():
        by_function[f"{function} {dtype} outputs"] += n
    weights = str(forward.kernels[0].dtype).removeprefix("torch.")
    autocast = "" if forward.autocast is None else f", under autocast to {str(forward.autocast).removeprefix('torch.')}"
    stray_text = f", {strays} GEMM(s) on no tower weight" if strays else ""
    return PrecisionEvidence(
        claimed=claimed, shown=shown_layers == layers and strays == 0, method=method,
        detail=(f"{shown_layers} of {layers} tower layers output {expected} from every GEMM "
                f"({sum(outputs.values())} GEMM calls{stray_text}; {weights} weights{autocast})"),
        counts={**dict(sorted(by_function.items())), f"{weights} tower weights": layers})


# --- CPU features ------------------------------------------------------------------------------------------

def cpu_bf16_unsupported(flags) -> str | None:
    """Why the CPU cannot run BF16 natively (no AMX-BF16 or AVX512-BF16 among ``flags``, its SIMD flags as
    ``environment.cpu_flags`` reads them), or None."""
    if any(flag in flags for flag in CPU_BF16_FLAGS):
        return None
    simd = " ".join(sorted(flags))
    return (f"the CPU has no AMX-BF16 or AVX512-BF16 (flags: {simd or 'none read from /proc/cpuinfo'}): "
            f"BF16 would be emulated")


# --- CUDA graphs ------------------------------------------------------------------------------------------

@dataclass
class CapturedBatch:
    """One batch size's CUDA graph with its static device buffers and pinned host staging buffers.

    The graph always reads ``categorical`` (the forward pass's indices: ``[26*B, 2] int64``, or ``[B, 26]
    int16`` with ``narrow_indices``) and ``numeric`` (``[B, 13] float32``) and writes ``probabilities``
    (``[B, 2] float32``), all device tensors; ``host_*`` are page-locked CPU tensors of the same shapes
    and ``*_array`` their NumPy views.
    """

    graph: object
    categorical: object
    numeric: object
    probabilities: object
    host_categorical: object
    host_numeric: object
    host_probabilities: object

    def __post_init__(self) -> None:
        self.categorical_array = self.host_categorical.numpy()
        self.numeric_array = self.host_numeric.numpy()
        self.probabilities_array = self.host_probabilities.numpy()


def capture_batch(forward: TorchWideDeep, samples: int, stream) -> CapturedBatch:
    """Warm up and capture ``forward`` (with its levers) for ``samples`` samples on ``stream`` (CUDA only)."""
    import torch

    with torch.no_grad(), torch.cuda.stream(stream):
        categorical, numeric = forward.zero_inputs(samples)
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
    """PyTorch on CUDA (FP32 / FP16 / BF16, CUDA graphs) or on the CPU (FP32, or BF16 autocast where the CPU
    has it; eager, ``threads`` intra-op threads). ``levers``: names from ``LEVERS``, or a label
    ``parse_levers`` reads (None: ``DEFAULT_LEVERS``)."""

    name = "torch"
    module_name = "torch"
    precisions = ("fp32", "fp16", "bf16")

    def __init__(self, model, options=None, levers: Iterable[str] | None = None):
        super().__init__(model, options)
        if levers is None:
            self.levers = DEFAULT_LEVERS
        else:
            self.levers = parse_levers(levers) if isinstance(levers, str) else checked_levers(levers)

    @classmethod
    def version(cls) -> str:
        return str(cls.runtime().__version__)

    @classmethod
    def options_unsupported(cls, options) -> str | None:
        if options.providers:
            return f"torch has no providers (got {list(options.providers)}); it runs on CUDA when present, else the CPU"
        torch = cls.runtime()
        if torch.cuda.is_available():
            if options.precision == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
                return (f"the CUDA device {torch.cuda.get_device_name()} has no native BF16 (compute capability "
                        f"8.0 or later has)")
            return None
        if options.precision == "fp16":
            return CPU_NO_FP16
        if options.precision == "bf16":
            return cpu_bf16_unsupported(cpu_flags())
        return None

    @classmethod
    def accelerator_count(cls, options) -> int | None:
        torch = cls.runtime()
        return torch.cuda.device_count() if torch.cuda.is_available() else None

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
        if "fused_epilogue" in self.levers and not hasattr(torch, "_addmm_activation"):
            raise WidedeepError(f"the torch lever fused_epilogue needs torch._addmm_activation, which torch "
                                f"{torch.__version__} lacks")
        from widedeep_bench.model.onnx_weights import weights_from_onnx  # imports onnx: not at registry listing

        roles, weights = weights_from_onnx(self.model)
        dtype = getattr(torch, DTYPE_NAMES[self.options.precision])
        if torch.cuda.is_available():
            self.stream = torch.cuda.Stream()
            self.captured: dict[int, CapturedBatch] = {}
            with torch.cuda.stream(self.stream):  # one stream for everything: weights, copies, replays
                self.forward = TorchWideDeep(weights, torch.device("cuda", torch.cuda.current_device()), dtype,
                                             levers=self.levers)
            self.stream.synchronize()
        else:
            # Process-wide in torch: the last CPU runner activated sets it.
            torch.set_num_threads(self.options.intra_op_threads())
            # FP16 never gets here (refused); BF16 keeps float32 weights and runs its GEMMs under autocast.
            autocast = dtype if self.options.precision == "bf16" else None
            self.forward = TorchWideDeep(weights, "cpu", torch.float32, autocast=autocast, levers=self.levers)
        return roles

    def precision_evidence_impl(self) -> PrecisionEvidence:
        if self.uses_cuda:
            with self.runtime().cuda.stream(self.stream):
                outputs = addmm_output_dtypes(self.forward)
            self.stream.synchronize()
        else:
            outputs = addmm_output_dtypes(self.forward)
        return gemm_evidence(outputs, self.options.precision, self.forward,
                             f"dtype of each torch.addmm / torch._addmm_activation output in a probe call of "
                             f"{PROBE_SAMPLES} samples on {self.device_name()} (levers: {levers_label(self.levers)})")

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
                return self.forward(_cpu_tensor(torch, self.forward.host_indices(categorical)),
                                    _cpu_tensor(torch, numeric)).numpy()
        batch = self.captured_batch(numeric.shape[0])
        self.forward.host_indices(categorical, out=batch.categorical_array)
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
        """A validated batch as the forward pass's inputs on this runner's device, for ``compute_seconds``."""
        self._require_active("make device batches")
        check_feed(categorical, numeric)
        torch = self.runtime()
        inputs = [torch.from_numpy(np.array(array)) for array in (self.forward.host_indices(categorical), numeric)]
        if not self.uses_cuda:
            return tuple(inputs)
        with torch.cuda.stream(self.stream):
            return tuple(tensor.to(self.forward.device) for tensor in inputs)

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
