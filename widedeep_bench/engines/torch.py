"""PyTorch: the converted ONNX's weights in an equivalent forward pass; CUDA graphs on a GPU, eager on a CPU.

The weights come from ``widedeep_bench.model.onnx_weights.weights_from_onnx`` (read by the graph's
structure, from the converted model, the IxRT variant or a raw tf2onnx export). Three parts, each small:

- ``TorchWideDeep``: the forward pass on torch tensors. One gather per table with flat indices
  ``field * 1000 + bucket`` (what ``GatherND`` on a row-major ``[26, 1000, k]`` table reads), the tower
  as ``addmm``, and the head ``softmax([0, logit]) = [sigmoid(-logit), sigmoid(logit)]``. It is a plain
  class, not an ``nn.Module``: torch is imported lazily (the registry imports this module on machines
  without torch, and a subclass of ``nn.Module`` would need torch at import time), and nothing here uses
  a module's machinery (no training, hooks, state dicts).
- ``TorchRunner``: on CUDA, one CUDA graph per batch size captured on first use (static device buffers),
  pinned host staging buffers, non-blocking copies, one stream; ``infer`` is feed check -> stage -> copy
  in -> replay -> copy out -> synchronize. Without CUDA it runs eagerly on the CPU.
- ``time_replays``: compute-only timing of a captured graph (below).

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

Compute-only timing on CUDA (``time_replays``): warm-up by time, K back-to-back replays per CUDA event
pair (K chosen from the warm-up so one pair spans at least ``PAIR_SPAN_S`` of GPU time), one round = a
pair's seconds / K; ``TorchRunner.compute_method`` says what was timed, K included.

Evidence (``precision_evidence``) comes from a probe call of the forward pass: the dtype of the output of
every ``torch.addmm`` and ``torch._addmm_activation`` that ran (observed with a ``TorchFunctionMode``),
attributed to its tower layer by its weight, beside the weights' dtype and the autocast dtype; the claim
is shown when every GEMM of every tower layer produced the claimed dtype.

Not a ``CompiledRunner``: nothing is worth caching. Reading the weights from the ONNX takes well under a
second, and what is compiled (the CUDA graphs, cuBLAS's kernel choice) belongs to one process and one
device and cannot be saved to the engine store.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from widedeep_bench import layout
from widedeep_bench.engines.base import Runner
from widedeep_bench.environment import cpu_flags
from widedeep_bench.errors import WidedeepError
from widedeep_bench.layout import check_feed
from widedeep_bench.measure import Rotation, Timing, TimingPlan, measure
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

PAIR_SPAN_S = 1e-3  # GPU seconds one CUDA event pair spans, at least (so K replays hide launch latency)
MAX_REPLAYS_PER_PAIR = 1000  # K's cap
MAX_WARMUP_CHUNK = 4096  # replays between two host synchronizes in the warm-up, at most
SHORTEST_REPLAY_S = 1e-7  # a floor for a per-replay estimate (event resolution is about 0.5 us)


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


@dataclass(frozen=True)
class ReplayTiming:
    """What ``time_replays`` measured: ``seconds [pairs]`` per replay (a pair's seconds / K), K, and the
    warm-up's replays and GPU seconds."""

    seconds: np.ndarray
    replays_per_pair: int
    warmup_replays: int
    warmup_s: float


def time_replays(enqueue: Callable[[int], object], seconds_of: Callable[[object], float],
                 plan: TimingPlan) -> ReplayTiming:
    """Compute-only timing of a captured graph, in GPU time, with host launch latency hidden.

    ``enqueue(count)`` queues, without waiting: a copy of the next batch into the graph's static inputs,
    a start event, ``count`` replays back to back and an end event; it returns the event pair.
    ``seconds_of(pair)`` waits for the pair's end event and returns the GPU seconds between the events.

    - warm-up by time: chunks of back-to-back replays (1, 2, 4, ... up to ``MAX_WARMUP_CHUNK``, one host
      synchronize per chunk) until their event time adds up to ``plan.warmup_s`` and they number
      ``plan.min_warmup_rounds`` (at least 1); the largest chunk gives the per-replay estimate;
    - K = the replays one pair needs to span ``PAIR_SPAN_S`` at that estimate (1 .. ``MAX_REPLAYS_PER_PAIR``):
      the host queues the K replays while the GPU runs them, so the launch latency before the first one
      is a small part of the pair (where one replay's GPU time is shorter than its launch, the pair
      measures the launch rate: the rate replays can reach, not a flattering one);
    - pairs: ``plan.rounds_for(estimate) / K``, at least ``plan.min_rounds``; every pair is queued before
      any is waited for (no host synchronize between pairs), one round = a pair's seconds / K.

    A ``cold`` plan times ``plan.min_rounds`` pairs of one replay each, with no warm-up.
    """
    warmed, warm_replays, chunk, largest = 0.0, 0, 1, (0, 0.0)
    least = 0 if plan.cold else max(1, plan.min_warmup_rounds)
    while warm_replays < least or (not plan.cold and warmed < plan.warmup_s):
        seconds = seconds_of(enqueue(chunk))
        warmed, warm_replays = warmed + seconds, warm_replays + chunk
        if chunk >= largest[0]:
            largest = (chunk, seconds)
        per_replay = max(largest[1] / largest[0], SHORTEST_REPLAY_S)
        needed = max(math.ceil((plan.warmup_s - warmed) / per_replay), least - warm_replays, 1)
        chunk = min(2 * chunk, MAX_WARMUP_CHUNK, needed)
    if plan.cold:
        replays, pairs = 1, plan.min_rounds
    else:
        per_replay = max(largest[1] / largest[0], SHORTEST_REPLAY_S)
        replays = min(MAX_REPLAYS_PER_PAIR, max(1, math.ceil(PAIR_SPAN_S / per_replay)))
        pairs = max(plan.min_rounds, math.ceil(plan.rounds_for(per_replay) / replays))
    queued = [enqueue(replays) for _ in range(pairs)]
    seconds = np.asarray([seconds_of(pair) for pair in queued], dtype=float) / replays
    return ReplayTiming(seconds, replays, warm_replays, warmed)


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
        self.last_replay_timing: ReplayTiming | None = None

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

    @property
    def last_replays_per_pair(self) -> int | None:
        """K of the last CUDA ``compute_seconds`` (None before one, and on the CPU)."""
        return None if self.last_replay_timing is None else self.last_replay_timing.replays_per_pair

    def device_name(self) -> str:
        """``"cuda:0 (NVIDIA H100 80GB HBM3)"`` or ``"cpu"``: where this runner computes."""
        torch = self.runtime()
        device = self.forward.device
        return f"{device} ({torch.cuda.get_device_name(device)})" if self.uses_cuda else str(device)

    def compute_method(self) -> str:
        """What ``compute_seconds`` times, in words (K included once a CUDA timing has chosen it)."""
        cuda = self.uses_cuda if self.is_active else self.runtime().cuda.is_available()
        if not cuda:
            return ("CPU wall time (time.perf_counter) around one eager forward pass per round on tensors "
                    "already made (device_batch), batches rotated; warm-up by time (measure.measure)")
        timing = self.last_replay_timing
        k = (f"K = {timing.replays_per_pair} (warm-up: {timing.warmup_replays} replays, {timing.warmup_s:.3f} s)"
             if timing else f"K chosen from the warm-up so a pair spans >= {PAIR_SPAN_S * 1e3:g} ms, "
                            f"1..{MAX_REPLAYS_PER_PAIR}")
        return (f"CUDA events around K back-to-back CUDA graph replays per pair, {k}; one round = a pair's "
                f"seconds / K; the batch copied device to device into the graph's static inputs before each "
                f"pair, outside the events; no host synchronize between pairs; warm-up by time: back-to-back "
                f"replays for >= warmup_s of event time")

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

        CPU: ``widedeep_bench.measure.measure`` around the eager forward pass. CUDA: ``time_replays`` on
        the batch size's captured graph (K back-to-back replays per CUDA event pair; one round = a pair's
        seconds / K); ``compute_method`` says which, with K.
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
        rotation = Rotation(device_batches)

        def enqueue(replays: int):
            indices, numeric = rotation()
            pair = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            with torch.cuda.stream(self.stream):
                batch.categorical.copy_(indices, non_blocking=True)  # device to device, outside the events
                batch.numeric.copy_(numeric, non_blocking=True)
                pair[0].record(self.stream)
                for _ in range(replays):
                    batch.graph.replay()
                pair[1].record(self.stream)
            return pair

        def seconds_of(pair) -> float:
            pair[1].synchronize()
            return pair[0].elapsed_time(pair[1]) / 1e3  # ms -> s

        self.last_replay_timing = time_replays(enqueue, seconds_of, plan)
        return Timing(self.last_replay_timing.seconds, batch_size)


def _cpu_tensor(torch, array: np.ndarray):
    """A CPU tensor sharing ``array``'s memory, or a copy where it is read-only (a memory-mapped cache)."""
    return torch.from_numpy(np.require(array, requirements=["C", "W"]))
