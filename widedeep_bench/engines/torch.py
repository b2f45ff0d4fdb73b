"""PyTorch: the converted ONNX's weights in an equivalent forward pass; CUDA graphs on a GPU, eager on a CPU.

The weights come from ``widedeep_bench.model.onnx_weights.weights_from_onnx`` (read by the graph's
structure, from the converted model, the IxRT variant or a raw tf2onnx export). Two parts, each small:

- ``TorchWideDeep``: the forward pass on torch tensors. One gather per table with flat indices
  ``field * 1000 + bucket`` (what ``GatherND`` on a row-major ``[26, 1000, k]`` table reads), the tower
  as ``addmm``, and the head ``softmax([0, logit]) = [sigmoid(-logit), sigmoid(logit)]``, computed in
  float32 in every precision. It is a plain class, not an ``nn.Module``: torch is imported lazily
  (the registry imports this module on machines without torch, and a subclass of ``nn.Module`` would
  need torch at import time), and nothing here uses a module's machinery (no training, hooks, state dicts).
- ``TorchRunner``: on CUDA, one CUDA graph per batch size captured on first use (static device buffers),
  pinned host staging buffers, non-blocking copies, one stream; ``infer`` is stage -> copy in -> replay ->
  copy out -> synchronize. Without CUDA it runs eagerly on the CPU.

Precisions (no INT8: torch has no quantized path here):

- FP32: float32 weights and arithmetic, on CUDA or the CPU.
- FP16 (CUDA only): float16 weights and activations. A CPU's float16 GEMMs are emulated, so it is refused.
- BF16: on CUDA (a GPU with native BF16, sm_80+), bfloat16 weights like FP16. On the CPU, float32 weights
  under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (the GEMMs in bfloat16, the gathers and head in
  float32), offered only where the CPU has AMX-BF16 or AVX512-BF16 (``/proc/cpuinfo`` flags ``amx_bf16``,
  ``avx512_bf16``); elsewhere oneDNN would emulate BF16 and measure nothing a user would run.

Evidence (``precision_evidence``) comes from a probe call of the forward pass: the dtype of the output of
every ``torch.addmm`` that ran (observed with a ``TorchFunctionMode``), beside the weights' dtype and the
autocast dtype; the claim is shown when every tower GEMM produced the claimed dtype.

Not a ``CompiledRunner``: nothing is worth caching. Reading the weights from the ONNX takes well under a
second, and what is compiled (the CUDA graphs, cuBLAS's kernel choice) belongs to one process and one
device and cannot be saved to the engine store.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

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


# --- the forward pass ----------------------------------------------------------------------------------

class TorchWideDeep:
    """The model on one device in one dtype: ``self(categorical, numeric) -> probabilities [N, 2] float32``.

    ``categorical`` is ``[26*N, 2] int64`` (row ``26*r + j`` = ``(j, bucket)``), ``numeric`` ``[N, 13]
    float32``, both on ``device``. Tables and tower are held in ``dtype``; the logit is cast to float32
    before the head, so FP16 rounds weights and activations but not the probabilities. ``autocast``: a
    dtype the tower's GEMMs run in under ``torch.autocast`` (CPU BF16), or None.
    """

    def __init__(self, weights: WideDeepWeights, device, dtype, autocast=None):
        import torch

        def tensor(array: np.ndarray):
            return torch.from_numpy(np.array(array, dtype=np.float32, order="C")).to(device=device, dtype=dtype)

        self.device, self.dtype, self.autocast = torch.device(device), dtype, autocast
        self.wide = tensor(weights.wide.reshape(-1))  # [26000]: flat index field * 1000 + bucket
        self.wide_bias = tensor(weights.wide_bias)  # [1]
        self.embeddings = tensor(weights.embeddings.reshape(-1, layout.EMBEDDING_DIM))  # [26000, 32]
        self.kernels = [tensor(kernel) for kernel in weights.kernels]  # [in, out]
        self.biases = [tensor(bias) for bias in weights.biases]  # [out]

    def __call__(self, categorical, numeric):
        import torch

        if self.autocast is None:
            return self._forward(torch, categorical, numeric)
        with torch.autocast(self.device.type, dtype=self.autocast):
            return self._forward(torch, categorical, numeric)

    def _forward(self, torch, categorical, numeric):
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


def zero_rows(torch, samples: int, device) -> tuple:
    """``samples`` valid rows (field j, bucket 0; numerics 0) on ``device``: the gathers have no bounds checks."""
    fields = torch.arange(layout.NUM_FIELDS, device=device).repeat(samples)
    return (torch.stack([fields, torch.zeros_like(fields)], 1),
            torch.zeros((samples, layout.NUM_NUMERIC), dtype=torch.float32, device=device))


def addmm_output_dtypes(forward: TorchWideDeep, samples: int = PROBE_SAMPLES) -> Counter:
    """``{"bfloat16": 4}``: the dtype of every ``torch.addmm`` output in one call of ``forward`` on
    ``samples`` zero rows, observed as it ran (autocast included)."""
    import torch
    from torch.overrides import TorchFunctionMode

    outputs = Counter()

    class AddmmOutputs(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            if func is torch.addmm:
                outputs[str(result.dtype).removeprefix("torch.")] += 1
            return result

    with torch.inference_mode(), AddmmOutputs():
        forward(*zero_rows(torch, samples, forward.device))
    return outputs


def gemm_evidence(outputs: Counter, claimed: str, forward: TorchWideDeep, method: str) -> PrecisionEvidence:
    """Judge ``claimed`` from ``addmm_output_dtypes``: shown when every tower GEMM of ``forward`` (one per
    kernel) output the claimed dtype."""
    expected = DTYPE_NAMES.get(claimed, claimed)
    weights = str(forward.kernels[0].dtype).removeprefix("torch.")
    autocast = "" if forward.autocast is None else f", under autocast to {str(forward.autocast).removeprefix('torch.')}"
    total = sum(outputs.values())
    return PrecisionEvidence(
        claimed=claimed, shown=total == len(forward.kernels) and outputs[expected] == total, method=method,
        detail=f"{outputs[expected]} of {total} tower GEMMs output {expected} ({weights} weights{autocast})",
        counts={**{f"addmm {dtype} outputs": n for dtype, n in sorted(outputs.items())},
                f"{weights} tower weights": len(forward.kernels)})


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
        categorical, numeric = zero_rows(torch, samples, forward.device)
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
    has it; eager, ``threads`` intra-op threads)."""

    name = "torch"
    module_name = "torch"
    precisions = ("fp32", "fp16", "bf16")

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
        from widedeep_bench.model.onnx_weights import weights_from_onnx  # imports onnx: not at registry listing

        roles, weights = weights_from_onnx(self.model)
        dtype = getattr(torch, DTYPE_NAMES[self.options.precision])
        if torch.cuda.is_available():
            self.stream = torch.cuda.Stream()
            self.captured: dict[int, CapturedBatch] = {}
            with torch.cuda.stream(self.stream):  # one stream for everything: weights, copies, replays
                self.forward = TorchWideDeep(weights, torch.device("cuda", torch.cuda.current_device()), dtype)
            self.stream.synchronize()
        else:
            # Process-wide in torch: the last CPU runner activated sets it.
            torch.set_num_threads(self.options.intra_op_threads())
            # FP16 never gets here (refused); BF16 keeps float32 weights and runs its GEMMs under autocast.
            autocast = dtype if self.options.precision == "bf16" else None
            self.forward = TorchWideDeep(weights, "cpu", torch.float32, autocast=autocast)
        return roles

    def precision_evidence_impl(self) -> PrecisionEvidence:
        if self.uses_cuda:
            with self.runtime().cuda.stream(self.stream):
                outputs = addmm_output_dtypes(self.forward)
            self.stream.synchronize()
        else:
            outputs = addmm_output_dtypes(self.forward)
        return gemm_evidence(outputs, self.options.precision, self.forward,
                             f"dtype of each torch.addmm output in a probe call of {PROBE_SAMPLES} samples on "
                             f"{self.device_name()}")

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
