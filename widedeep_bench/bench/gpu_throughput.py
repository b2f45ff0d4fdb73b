"""GPU throughput of the torch runner: batch 1024 / 4096 / 16384 x FP16 / FP32 x speed levers, compute only
and end to end; or, with ``--torch-profile``, a run of its own that says where the time goes.

    widedeep-bench bench gpu [--bundle DIR | --onnx FILE [--eval-csv FILE | --rows FILE.npz]
                             [--reference FILE.npz]] [--batches 1024 4096 16384] [--precisions fp16 fp32]
                             [--levers SET [SET ...]] [--rounds N] [--duration S] [--warmup N]
                             [--warmup-s S] [--torch-profile] [--targets h100-torch]
                             [--peak-fp16-tflops 989.4] [--peak-fp32-tflops 66.9]
                             [--hbm-gbps 3350] [--link-gbps 64] [--json FILE] [--cpu]

Inputs. ``--bundle DIR`` (a bundle written by ``widedeep-bench bundle``, version 2): the model is its
``widedeep.onnx``, the rows its ``eval-tensors.npz`` (the eval set already preprocessed: no pyfarmhash, no
TensorFlow), the TF original's probabilities its ``reference.npz``: what a device without TensorFlow runs
from. ``--onnx FILE`` with ``--rows FILE.npz`` (an ``eval-tensors.npz``) and optionally ``--reference FILE.npz``
(the ``--wd-save-reference`` format) carries the same without a bundle. Otherwise, as before: ``--onnx`` or the
suite's default conversion of a random-weights SavedModel with the real shapes (TensorFlow needed), rows from
``--eval-csv`` or synthetic Criteo-format rows, both read by the real preprocessing (pyfarmhash needed).

Cases: each ``(precision, lever set, batch)``. A lever set (``--levers``, each SET ``none``, ``all`` or
``a+b`` of ``engines.torch.LEVERS``; default: none, each lever alone, all) is passed to ``TorchRunner`` (one
runner per precision and lever set, active from its first case to its last). Order (``case_order``): the
baseline lever set ``none`` for every precision and batch first, FP16 batch 1024 first of all, then per
precision and batch the other lever sets one after the other, so levers are compared side by side. Two
figures per case, timed by the runner and ``widedeep_bench.measure``: each subject warmed up for at least
``--warmup-s`` seconds and ``--warmup`` calls (untimed), then timed for at least ``--rounds`` rounds and
``--duration`` seconds; the figure is the median round, the tail p99 over 100 rounds or more and the max
below; batches rotated over distinct real rows, samples counted as samples:

- compute only: ``TorchRunner.compute_seconds`` on batches already on the device, as
  ``TorchRunner.compute_method()`` describes it (recorded in each case);
- end to end: ``time.perf_counter`` around ``runner.infer(categorical, numeric)``: host NumPy arrays in,
  probabilities out: feed validation, staging into pinned memory, host-to-device copies, replay,
  device-to-host copy and the synchronize included.

Before timing, each case's output on its first batch (rows 0..batch) is compared, within the precision's
tolerance (``widedeep_bench.compare.TOLERANCES``), with the TF original's saved probabilities where the run has
them (``--bundle``, ``--reference``; they cover whole batches of 1024 rows, so a larger batch is checked on the
rows they cover, and the case says so) and with ONNX Runtime (CPU, FP32) on the same ONNX where onnxruntime is
importable. A run with neither is refused. Beside each case: the ratio to the seed's 77,073.93 samples/s
(Iluvatar MR-V100, FP16, batch 1024), and two floors: the FLOP floor ``3.04 MFLOP x batch / peak FLOP/s``, and
the bytes floor: the bytes the device must at least read and write (inputs as the case's lever set feeds
them: with ``narrow_indices`` int16 buckets [26] + float32 [13], 104 bytes a sample, else the feed's int64
[26, 2] + float32 [13], 468; gathered table rows, tower weights once per batch, output) over HBM bandwidth,
plus for end to end the inputs and output over the host link. Peaks default to the H100 SXM5 datasheet (dense
FP16 tensor 989.4 TFLOP/s; FP32 without TF32 66.9 TFLOP/s; HBM3 3.35 TB/s; PCIe Gen5 x16 64 GB/s per
direction); give another device's with the options.

Figures that survive a crash: the JSON (``--json``, default ``out/gpu_throughput.json``) is written
atomically once the first runner is active (``device``, ``gpu_figure``) and after every case with
``"complete": false`` and the cases so far (the ``.txt`` table beside it too), and once more at the end with
``"complete": true`` and the targets. A case that raises is recorded with its error and full traceback (both
printed to stderr) and fails the run; the next ones still run. An error deactivating a runner is recorded
(``runner_errors``) and fails the run. After a fatal CUDA error (``fatal_cuda_error``: the context is
unusable for the rest of the process) every case left is recorded as not run, and the JSON ends with
``"complete": false``, ``"stopped"`` saying why, and the targets judged on what was measured; exit 1.

``--torch-profile`` is a run of its own (default ``--json out/gpu_profile.json``; benchmark ``gpu_profile``),
and times no figure: per case, ``torch.profiler`` over end-to-end calls (``PROFILED_CALLS`` on CUDA, after
``cupti_workaround``; ``CPU_PROFILED_CALLS`` with ``--cpu``) splits kernel time into gathers,
GEMMs, other kernels and copies, beside the gaps inside the graph (compute-only time minus kernel time:
launch latency) and the host's share (end to end minus compute minus copies), from short timings of its own
(``PROFILE_PLAN``), which are not figures. No target judges it.

Targets: the ``[[target]]`` tables with ``benchmark = "gpu_throughput"`` of the profile ``--targets`` names
(default ``h100-torch``: issue 6's H100 FP16 figures), on metrics named
``<precision>_b<batch>_<compute|end_to_end>_samples_per_s`` (e.g. ``fp16_b1024_compute_samples_per_s``),
each judged on the best lever set's figure for that precision, batch and figure among the cases that agree
with their references (``best_figures``). Targets
apply on a GPU only; a target for a case this run did not select (``--batches``, ``--precisions``) is shown as
n/a and not judged. Exit status: 0 when every case agrees with its references and every target judged is met,
1 otherwise, 2 for bad usage or bad input, and when no CUDA device is present. ``--cpu`` runs the same code path
on the CPU in FP32 as a smoke check; its figures are not GPU figures and no target applies (all n/a).
"""

from __future__ import annotations

import datetime
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.bench import inputs
from widedeep_bench.bench.targets import judged, missed, not_applicable, profile_targets, verdict_lines
from widedeep_bench.cache import atomic_file, write_json
from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.environment import provenance, timing_machine
from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import TimingPlan, measure
from widedeep_bench.model.weights import LAYER_DIMS
from widedeep_bench.progress import say

BENCHMARK = "gpu_throughput"
PROFILE_BENCHMARK = "gpu_profile"  # --torch-profile: its own run and JSON
DEFAULT_JSON = {BENCHMARK: Path("out/gpu_throughput.json"), PROFILE_BENCHMARK: Path("out/gpu_profile.json")}
DEFAULT_TARGETS = "h100-torch"  # the profile whose [[target]] tables judge the figures
METRIC = re.compile(r"(fp16|fp32)_b([1-9][0-9]*)_(compute|end_to_end)_samples_per_s")  # what a target can name
SEED_SAMPLES_PER_S = 77_073.93  # DeepSparkInference README: Iluvatar MR-V100, FP16, batch 1024
PEAKS = {  # H100 SXM5 datasheet figures, the defaults of the options
    "fp16_tflops": 989.4,  # dense FP16 tensor core (1979 is with 2:4 sparsity, which this model has not)
    "fp32_tflops": 66.9,  # FP32 on CUDA cores: torch runs FP32 matmuls without TF32 by default
    "hbm_gbps": 3350.0,  # HBM3
    "link_gbps": 64.0,  # PCIe Gen5 x16, per direction
}
# Warm-up by time (clocks ramp up over a fraction of a second of back-to-back work), a few calls at least.
GPU_PLAN = TimingPlan(warmup_s=0.3, min_warmup_rounds=3, min_rounds=1000, min_duration_s=1.0)
PROFILE_PLAN = TimingPlan(warmup_s=0.3, min_warmup_rounds=3, min_rounds=200, min_duration_s=0.2)  # the split's
CPU_PLAN = TimingPlan(warmup_s=0.1, min_warmup_rounds=2, min_rounds=10, min_duration_s=0.2)  # --cpu: a smoke check
ROTATION = 16  # distinct batches cycled through the rounds, at most
SYNTHETIC_BATCHES = 4  # synthetic rows: this many batches of the largest size
PROFILED_CALLS = 50  # end-to-end calls torch.profiler records per case on CUDA
CPU_PROFILED_CALLS = 5  # under --cpu: 50 calls of batch 16384 on a CPU take half a minute a case
TOWER_PARAMETERS = sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(LAYER_DIMS[:-1], LAYER_DIMS[1:]))
INPUT_BYTES_PER_SAMPLE = layout.NUM_FIELDS * 2 * 8 + layout.NUM_NUMERIC * 4  # int64 [26, 2] + float32 [13]
NARROW_INPUT_BYTES_PER_SAMPLE = layout.NUM_FIELDS * 2 + layout.NUM_NUMERIC * 4  # narrow_indices: int16 [26] + f32 [13]
INPUT_LAYOUTS = {False: "the feed: (field, bucket) int64 [26, 2] + numeric float32 [13]",
                 True: "narrow_indices: buckets int16 [26] + numeric float32 [13]"}
OUTPUT_BYTES_PER_SAMPLE = 2 * 4  # float32 [2]
HEADLINE = ("fp16", 1024)  # the seed's figure: measured first of all
# What a torch error says when the CUDA context is broken for the rest of the process (a sticky error).
FATAL_CUDA_WORDS = ("CUDA error", "illegal memory access", "device-side assert")
TF, ORT = "tensorflow", "onnxruntime-fp32"  # the references a case is checked against, as reference.npz names them


def floors(batch: int, precision: str, peaks: dict, levers=frozenset()) -> dict:
    """Lower bounds on one batch's time, seconds: FLOP at peak, device bytes at HBM speed, host link bytes.
    The inputs cross the link and are read on the device as the lever set ``levers`` feeds them: with
    ``narrow_indices`` only the buckets, int16 (``input_layout`` records which)."""
    element = 2 if precision == "fp16" else 4
    narrow = "narrow_indices" in levers
    input_bytes = NARROW_INPUT_BYTES_PER_SAMPLE if narrow else INPUT_BYTES_PER_SAMPLE
    device_bytes = (batch * (input_bytes + OUTPUT_BYTES_PER_SAMPLE
                             + layout.NUM_FIELDS * (layout.EMBEDDING_DIM + 1) * element)
                    + TOWER_PARAMETERS * element)
    link_bytes = batch * (input_bytes + OUTPUT_BYTES_PER_SAMPLE)
    flop_s = layout.FLOP_PER_SAMPLE * batch / (peaks[f"{precision}_tflops"] * 1e12)
    hbm_s = device_bytes / (peaks["hbm_gbps"] * 1e9)
    link_s = link_bytes / (peaks["link_gbps"] * 1e9)
    return {"flop_s": flop_s, "hbm_s": hbm_s, "link_s": link_s, "device_bytes": device_bytes,
            "link_bytes": link_bytes, "input_layout": INPUT_LAYOUTS[narrow], "input_bytes_per_sample": input_bytes,
            "compute_floor_s": max(flop_s, hbm_s), "end_to_end_floor_s": max(flop_s, hbm_s) + link_s}


def kernel_kind(name: str) -> str:
    """``gathers``, ``gemms``, ``copies`` or ``other`` for a CUDA kernel / memcpy name or a CPU ``aten::`` op."""
    lowered = name.lower()
    if lowered.startswith("memcpy") or lowered in ("aten::copy_", "aten::_to_copy"):
        return "copies"
    if any(word in lowered for word in ("index_select", "indexselect", "gather", "embedding")):
        return "gathers"
    if any(word in lowered for word in ("gemm", "addmm", "aten::mm", "cutlass", "nvjet", "xmma", "cublas")):
        return "gemms"
    return "other"


def cupti_workaround(torch) -> dict[str, str]:
    """Set, before the first ``torch.profiler`` session of a process that replays CUDA graphs, what PyTorch
    sets for inductor's CUDA graphs (``torch.profiler.profile.prepare_trace``) but not for graphs captured by
    hand: ``TEARDOWN_CUPTI=0`` (re-initialising CUPTI after a teardown crashes once graphs have run), and on
    CUDA older than 12.6 ``DISABLE_CUPTI_LAZY_REINIT=1`` too. Returns what it set."""
    from torch.torch_version import TorchVersion

    settings = {"TEARDOWN_CUPTI": "0"}
    if TorchVersion(torch.version.cuda or "0.0") < "12.6":
        settings["DISABLE_CUPTI_LAZY_REINIT"] = "1"
    os.environ.update(settings)
    return settings


def time_split(runner, host_batches: list, calls: int) -> dict:
    """Microseconds per batch by kind (``kernel_kind``) from ``torch.profiler`` over ``calls`` infer calls
    (``split_of``); on CUDA after ``cupti_workaround``."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    environment = cupti_workaround(torch) if runner.uses_cuda else {}
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if runner.uses_cuda else [])
    with profile(activities=activities) as profiled:
        for i in range(calls):
            runner.infer(*host_batches[i % len(host_batches)])
    return {**split_of(profiled.key_averages(), runner.uses_cuda, calls), "profiler_environment": environment}


def split_of(events, cuda: bool, calls: int) -> dict:
    """Microseconds per batch by kind from ``torch.profiler`` events (``key_averages()``): on CUDA the kernels
    and memcpys (self device time), on the CPU the ``aten::`` ops (self CPU time). On CUDA a profile without
    a single kernel event (CUPTI traced none of the graph's kernels) has no split: ``split_valid`` False and
    ``split_invalid_why``, rather than all the time shown as gaps."""
    from torch.autograd import DeviceType

    split = {"gathers": 0.0, "gemms": 0.0, "other": 0.0, "copies": 0.0}
    seen = kernels = 0
    for event in events:
        if cuda and event.device_type == DeviceType.CUDA:
            kind = kernel_kind(event.key)
            split[kind] += event.self_device_time_total
            kernels += event.count if kind != "copies" else 0
        elif not cuda and event.key.startswith("aten::"):
            split[kernel_kind(event.key)] += event.self_cpu_time_total
        else:
            continue
        seen += event.count
    result = {**{f"{kind}_us": total / calls for kind, total in split.items()}, "events_per_batch": seen / calls,
              "profiled_calls": calls, "split_valid": True,
              "source": "CUDA kernels and memcpys (self device time)" if cuda else "CPU aten ops (self CPU time)"}
    if cuda and not kernels:
        result.update(split_valid=False, split_invalid_why=(
            f"torch.profiler recorded no CUDA kernel event in {calls} calls (CUPTI traced none of the graph's "
            f"kernels): kernel time unknown, so no split and no graph gaps"))
    return result


def host_batches_of(rows, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    batches = [(np.ascontiguousarray(b.categorical), np.ascontiguousarray(b.numeric))
               for b in rows.batches(batch)][:ROTATION]
    if not batches:
        raise WidedeepError(f"{rows.source}: {rows.rows} rows, fewer than one batch of {batch}")
    return batches


# --- inputs -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GpuInputs:
    """What a run measures: the ONNX, the rows, and the TF original's probabilities on rows 0..R where the run
    has them (``tf_reference`` None: ``tf_reference_source`` says why not)."""

    onnx: Path
    rows: object  # EvalTensors
    rows_source: str
    tf_reference: np.ndarray | None
    tf_reference_source: str


NO_TF_REFERENCE = "no saved TF-original probabilities in this run (they come with --bundle, or --reference)"


def carried_inputs(args) -> GpuInputs | None:
    """The inputs of ``--bundle`` or ``--rows``, read with numpy alone (no pyfarmhash, no TensorFlow) and checked;
    None for a run that prepares its own (``default_inputs``). A bad input is one ``WidedeepError`` line."""
    if args.bundle is not None:
        from widedeep_bench.bundle import load_bundle

        bundle = load_bundle(args.bundle, "--bundle")
        rows = bundle.tensors()
        reference = inputs.saved_tf_probabilities(bundle.reference, rows.sha256, rows=bundle.reference_rows)
        return GpuInputs(bundle.onnx, rows, f"{bundle.eval_tensors} ({rows.rows} rows of the bundle's eval.csv, "
                                            f"preprocessed when the bundle was written)",
                         reference, f"{bundle.reference} ({TF}, rows 0..{reference.shape[0]})")
    if args.rows is not None:
        from widedeep_bench.data.eval_tensors_file import load_eval_tensors_file

        rows = load_eval_tensors_file(args.rows, label=f"--rows {args.rows}")
        return GpuInputs(args.onnx, rows, f"{args.rows} ({rows.rows} preprocessed rows, eval.csv SHA-256 "
                                          f"{rows.sha256})", *given_reference(args, rows))
    return None


def given_reference(args, rows) -> tuple[np.ndarray | None, str]:
    """``(probabilities, source)`` of ``--reference`` (the TF original's, checked against ``rows``' eval set),
    or ``(None, why not)`` without it."""
    if args.reference is None:
        return None, NO_TF_REFERENCE
    reference = inputs.saved_tf_probabilities(args.reference, rows.sha256)
    return reference, f"{args.reference} ({TF}, rows 0..{reference.shape[0]})"


def default_inputs(args) -> GpuInputs:
    """``--onnx`` or the default conversion (TensorFlow), rows read by the preprocessing (pyfarmhash)."""
    onnx_path = args.onnx if args.onnx is not None else inputs.default_models()[1]
    rows, rows_source = inputs.eval_rows(args.eval_csv, SYNTHETIC_BATCHES * max(args.batches))
    return GpuInputs(onnx_path, rows, rows_source, *given_reference(args, rows))


def onnxruntime_unavailable() -> str | None:
    """Why ONNX Runtime cannot be the FP32 reference here, or None."""
    from widedeep_bench.engines.base import EngineOptions
    from widedeep_bench.engines.registry import runner_class

    return runner_class("onnxruntime").unavailable_reason(EngineOptions(precision="fp32"))


def reference_probabilities(onnx_path: Path, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """ONNX Runtime CPU FP32 on the same ONNX: it runs the graph itself, not the weights torch read from it."""
    from widedeep_bench.engines import make_runner

    with make_runner("onnxruntime", onnx_path) as reference:
        return reference.infer(categorical, numeric)


@dataclass(frozen=True)
class Reference:
    """One reference's probabilities on a batch's first ``rows`` rows (None: not checked, ``why``)."""

    name: str
    source: str
    probabilities: np.ndarray | None
    why: str | None = None


def references_for(gpu_inputs: GpuInputs, onnx_reason: str | None, batch: int, first: tuple) -> list[Reference]:
    """The references the first batch of ``batch`` rows is checked against: the TF original's saved rows
    0..min(batch, R), and ONNX Runtime FP32 on the whole batch."""
    saved = gpu_inputs.tf_reference
    if saved is None:
        tf = Reference(TF, gpu_inputs.tf_reference_source, None, gpu_inputs.tf_reference_source)
    else:
        tf = Reference(TF, gpu_inputs.tf_reference_source, saved[:min(batch, saved.shape[0])])
    if onnx_reason is not None:
        ort = Reference(ORT, "ONNX Runtime CPU FP32", None, f"onnxruntime cannot run here: {onnx_reason}")
    else:
        ort = Reference(ORT, f"ONNX Runtime CPU FP32 on {gpu_inputs.onnx}",
                        reference_probabilities(gpu_inputs.onnx, *first))
    return [tf, ort]


def agreement(probabilities: np.ndarray, reference: Reference, precision: str) -> dict:
    """How the first batch's probabilities compare with ``reference`` (``passed`` None: not checked)."""
    if reference.probabilities is None:
        return {"source": reference.source, "passed": None, "not_checked": reference.why}
    tolerance = TOLERANCES[precision]
    rows = reference.probabilities.shape[0]
    result = compare(probabilities[:rows], reference.probabilities, atol=tolerance.atol, rtol=tolerance.rtol)
    record = {"source": reference.source, "rows": rows, "max_abs": result.max_abs, "atol": tolerance.atol,
              "rtol": tolerance.rtol, "passed": bool(result.passed)}
    if rows < probabilities.shape[0]:
        record["note"] = (f"the saved reference covers rows 0..{rows}, fewer than the batch's {probabilities.shape[0]}"
                          f"; those {rows} rows were checked")
    return record


# --- the cases ----------------------------------------------------------------------------------------

def lever_label(levers) -> str:
    """``"none"``, ``"all"`` or ``"a+b"``: how a lever set is named in cases, tables and messages."""
    from widedeep_bench.engines.torch import levers_label

    return levers_label(levers)


def case_key(case: dict) -> str:
    """``"fp16 b1024 none"``: what names a case in the table and in messages."""
    return f"{case['precision']} b{case['batch']} {case['levers']}"


def checked_first_batch(runner, host_batches: list, references: list[Reference]) -> dict:
    probabilities = runner.infer(*host_batches[0])
    return {reference.name: agreement(probabilities, reference, runner.options.precision)
            for reference in references}


def case_start(runner, batch: int, host_batches: list, references: list[Reference]) -> tuple[dict, list]:
    """A case's record so far (what it is, its first batch's agreement) and its batches on the device."""
    case = {"precision": runner.options.precision, "batch": batch, "levers": lever_label(runner.levers),
            "distinct_batches": len(host_batches), "agreement": checked_first_batch(runner, host_batches, references)}
    return case, [runner.device_batch(categorical, numeric) for categorical, numeric in host_batches]


def measure_case(runner, batch: int, host_batches: list, references: list[Reference], args) -> dict:
    """One case's figures: compute only and end to end, floors, the seed ratio, the first batch's agreement."""
    case, device_batches = case_start(runner, batch, host_batches, references)
    say(f"{case_key(case)}: compute only, then end to end; {args.plan.describe()}")
    compute = runner.compute_seconds(device_batches, args.plan).summary()
    case["compute_method"] = runner.compute_method()  # after the timing: it names what the timing chose (K)
    end_to_end = measure(runner.infer, host_batches, batch, args.plan).summary()
    return {**case, "compute": compute, "end_to_end": end_to_end,
            "floors": floors(batch, case["precision"], args.peaks, runner.levers),
            "ratio_to_seed": {"compute": compute["samples_per_s"] / SEED_SAMPLES_PER_S,
                              "end_to_end": end_to_end["samples_per_s"] / SEED_SAMPLES_PER_S}}


def profile_case(runner, batch: int, host_batches: list, references: list[Reference], args) -> dict:
    """One case's split (``time_split``) beside short timings of its own (``args.plan``), which are not figures:
    they only place the kernel time within compute only and end to end."""
    case, device_batches = case_start(runner, batch, host_batches, references)
    calls = PROFILED_CALLS if runner.uses_cuda else CPU_PROFILED_CALLS
    say(f"{case_key(case)}: torch.profiler over {calls} end-to-end calls")
    compute_ms = runner.compute_seconds(device_batches, args.plan).summary()["median_ms"]
    case["compute_method"] = runner.compute_method()
    end_to_end_ms = measure(runner.infer, host_batches, batch, args.plan).summary()["median_ms"]
    split = time_split(runner, host_batches, calls)
    kernels_us = split["gathers_us"] + split["gemms_us"] + split["other_us"]
    # On CUDA the copies sit outside the graph (compute only excludes them); on the CPU there are none
    # outside the forward pass, so whatever "copies" the CPU profile shows is already in compute.
    outside_compute_us = split["copies_us"] if runner.uses_cuda else 0.0
    split["compute_median_us"], split["end_to_end_median_us"] = compute_ms * 1e3, end_to_end_ms * 1e3
    split["graph_gaps_us"] = compute_ms * 1e3 - kernels_us if runner.uses_cuda and split["split_valid"] else None
    split["host_us"] = (end_to_end_ms - compute_ms) * 1e3 - outside_compute_us
    split["validation_us"] = measure(layout.check_feed, host_batches, batch, args.plan).median_s * 1e6
    return {**case, "split": split}


def one_line(exc: BaseException) -> str:
    """``"RuntimeError: first line of the message"``."""
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"


def failed_case(precision: str, batch: int, levers: str, stage: str, exc: BaseException, shown: bool = True) -> dict:
    """A case that raised: recorded with the error and its full traceback (and failing the run), so the next
    cases still run. The error line and the traceback go to stderr (once: ``shown`` False for a further case
    of an error already shown)."""
    error = f"{stage}: {one_line(exc)}"
    trace = "".join(traceback.format_exception(exc))
    if shown:
        print(f"widedeep_bench: {precision} b{batch} {levers}: FAILED while {error}\n{trace}", file=sys.stderr,
              end="", flush=True)
    return {"precision": precision, "batch": batch, "levers": levers, "error": error, "traceback": trace}


def fatal_cuda_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is a CUDA error after which the process's CUDA context
    is unusable: torch's ``AcceleratorError`` / ``torch.cuda.CudaError`` where this torch has them, or a torch
    error saying ``FATAL_CUDA_WORDS``. Out of memory is not (the context survives it)."""
    import torch

    kinds = tuple(kind for kind in (getattr(torch, "AcceleratorError", None), getattr(torch.cuda, "CudaError", None))
                  if isinstance(kind, type))
    out_of_memory = getattr(torch, "OutOfMemoryError", getattr(torch.cuda, "OutOfMemoryError", ()))
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if not isinstance(exc, out_of_memory) and (
                (kinds and isinstance(exc, kinds))
                or (isinstance(exc, RuntimeError) and any(word in str(exc) for word in FATAL_CUDA_WORDS))):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def case_order(precisions: list[str], lever_sets: list[frozenset], batches: list[int]) -> list[tuple]:
    """``[(precision, lever set, batch), ...]`` as measured: the baseline lever set (none) for every precision
    and batch first, the headline (``HEADLINE``: FP16 batch 1024) first of all, so a run that dies early has
    the baseline figures; then, per precision and batch, the other lever sets one after the other, so the
    levers of one case are compared on clocks and temperatures alike."""
    pairs = sorted(((p, b) for p in precisions for b in batches), key=lambda pair: pair != HEADLINE)
    baseline = frozenset()
    first = [(p, baseline, b) for p, b in pairs if baseline in lever_sets]
    return first + [(p, levers, b) for p, b in pairs for levers in lever_sets if levers != baseline]


def run_cases(args, gpu_inputs: GpuInputs, measure_one, report: dict, write) -> None:
    """Each case of ``case_order`` measured by ``measure_one``, appended to ``report["cases"]``, and ``write()``
    after each (and once when the first runner is active, with ``report``'s ``device`` and ``gpu_figure``).

    One runner per (precision, lever set), activated at its first case and deactivated after its last; a
    runner that cannot be activated fails its cases; an error deactivating one is recorded in
    ``report["runner_errors"]`` (and fails the run), never raised. After a fatal CUDA error
    (``fatal_cuda_error``) every case left is recorded as not run and ``report["stopped"]`` says why."""
    from widedeep_bench.engines.base import EngineOptions
    from widedeep_bench.engines.torch import TorchRunner

    batches = {batch: host_batches_of(gpu_inputs.rows, batch) for batch in args.batches}
    onnx_reason = onnxruntime_unavailable()
    references = {batch: references_for(gpu_inputs, onnx_reason, batch, host[0]) for batch, host in batches.items()}
    order = case_order(args.precisions, args.lever_sets, args.batches)
    last_use = {(precision, levers): i for i, (precision, levers, _) in enumerate(order)}
    runners, refused = {}, {}
    cases = report["cases"]
    report.setdefault("runner_errors", [])

    def close(key) -> BaseException | None:
        runner = runners.pop(key)
        try:
            runner.deactivate()
        except Exception as exc:  # recorded (failing the run), never raised: the other cases still count
            report["runner_errors"].append({
                "precision": key[0], "levers": lever_label(key[1]), "stage": "deactivating the runner",
                "error": one_line(exc), "traceback": "".join(traceback.format_exception(exc)),
                **({"after_stop": True} if "stopped" in report else {})})
            print(f"widedeep_bench: {key[0]} {lever_label(key[1])}: deactivating the runner FAILED: "
                  f"{one_line(exc)}", file=sys.stderr, flush=True)
            return exc
        return None

    try:
        for i, (precision, levers, batch) in enumerate(order):
            key, label = (precision, levers), lever_label(levers)
            if key not in runners and key not in refused:
                try:
                    runner = TorchRunner(gpu_inputs.onnx, EngineOptions(precision=precision), levers=levers)
                    runner.activate()
                except Exception as exc:  # its cases are recorded as failed (the run fails); the others run
                    refused[key] = [exc, False]
                else:
                    runners[key] = runner
                    if report["device"] is None:
                        report.update(device=runner.device_name(), gpu_figure=runner.uses_cuda)
                        write()
            if key in refused:
                error = refused[key][0]
                case = failed_case(precision, batch, label, "activating the runner", error, shown=not refused[key][1])
                refused[key][1] = True
            else:
                try:
                    case, error = measure_one(runners[key], batch, batches[batch], references[batch], args), None
                except Exception as exc:  # the same: recorded, failing the run; the next case runs
                    case, error = failed_case(precision, batch, label, "measuring", exc), exc
            cases.append(case)
            fatal, where = (error, case["error"]) if error is not None and fatal_cuda_error(error) else (None, "")
            if fatal is None and last_use[key] == i and key in runners:
                closing = close(key)
                if closing is not None and fatal_cuda_error(closing):
                    fatal, where = closing, f"deactivating the runner after it: {one_line(closing)}"
            if fatal is not None:
                left = order[i + 1:]
                report["stopped"] = (f"a fatal CUDA error in {case_key(case)} ({where}): the CUDA context is "
                                     f"unusable for the rest of the process; the {len(left)} cases left were not run")
                cases += [{"precision": p, "batch": b, "levers": lever_label(ls),
                           "not_run": f"stopped by a fatal CUDA error in {case_key(case)}"} for p, ls, b in left]
                write()
                return
            write()
    finally:
        for key in list(runners):
            close(key)


def best_figures(cases: list[dict]) -> dict[str, dict]:
    """``{"fp16_b1024_compute_samples_per_s": {"samples_per_s", "levers"}, ...}``: for every figure measured,
    by the metric name a ``[[target]]`` gives it (``METRIC``), the best lever set's among the cases that agree
    with every reference they were checked against (a case that failed, or disagrees, has no figure here:
    where no case of a figure is left, it is unmeasured)."""
    best = {}
    for case in cases:
        if "error" in case or "compute" not in case or disagrees(case):
            continue
        for figure in ("compute", "end_to_end"):
            metric = f"{case['precision']}_b{case['batch']}_{figure}_samples_per_s"
            value = case[figure]["samples_per_s"]
            if metric not in best or value > best[metric]["samples_per_s"]:
                best[metric] = {"samples_per_s": value, "levers": case["levers"]}
    return best


def disagrees(case: dict) -> bool:
    """Whether the case's first batch failed its agreement check against any reference."""
    return any(checked.get("passed") is False for checked in case.get("agreement", {}).values())


def figures_of(cases: list[dict]) -> dict[str, float]:
    """``{"fp16_b1024_compute_samples_per_s": samples/s, ...}``: every figure of the cases measured, by the
    metric name a ``[[target]]`` gives it (``METRIC``), the best lever set's (``best_figures``)."""
    return {metric: best["samples_per_s"] for metric, best in best_figures(cases).items()}


def targets_in(profile: str) -> tuple[str, list]:
    """``(profile source, targets)``: the profile's ``gpu_throughput`` targets, each on a metric ``METRIC``
    matches (``WidedeepError`` otherwise, and for a profile with none)."""
    return profile_targets(profile, BENCHMARK, measures=lambda metric: METRIC.fullmatch(metric) is not None,
                           metrics="its metrics are <fp16|fp32>_b<batch>_<compute|end_to_end>_samples_per_s, "
                                   "e.g. fp16_b1024_compute_samples_per_s")


def targets_of(targets: list, cases: list[dict], gpu: bool, selected: set[tuple[str, int]]) -> list[dict]:
    """Each ``[[target]]`` judged on its figure (``targets.judged``: unmeasured is missed) when the run is on
    a GPU and selected its case (``selected``: the ``(precision, batch)`` pairs asked for); otherwise recorded
    with ``met`` None and why (``targets.not_applicable``): a CPU figure is no GPU figure. The figure is the
    best lever set's (``figures_of``)."""
    figures = figures_of(cases)
    verdicts = []
    for target in targets:
        precision, batch, _ = METRIC.fullmatch(target.metric).groups()
        measured = figures.get(target.metric)
        if not gpu:
            verdicts.append(not_applicable(target, measured, "--cpu, not a GPU figure"))
        elif (precision, int(batch)) not in selected:
            verdicts.append(not_applicable(target, measured, f"{precision} batch {batch} not selected "
                                                             f"by --precisions/--batches"))
        else:
            verdicts.append(judged(target, measured))
    return verdicts


# --- the table ----------------------------------------------------------------------------------------

def _max_abs(case: dict, name: str) -> str:
    checked = case.get("agreement", {}).get(name, {})
    return "-" if checked.get("passed") is None else f"{checked['max_abs']:.1e}"


def table(report: dict) -> str:
    """The short text table: one line per case measured, then floors (per input layout), failures and cases
    not run, the targets (complete or stopped runs) and the agreement; for a profile run, the split per case.
    A partial report (``"complete": false``) may come before any runner was active (``device`` None)."""
    device = report["device"] or "(no runner active yet)"
    lines = [f"torch {report['torch']} on {device}, {report['date']}"]
    run_so_far = [c for c in report["cases"] if "not_run" not in c]
    if "stopped" in report:
        lines.append(f"STOPPED after {len(run_so_far)} of {report['cases_planned']} cases: {report['stopped']}")
    elif not report["complete"]:
        lines.append(f"INCOMPLETE: {len(run_so_far)} of {report['cases_planned']} cases so far")
    if report["gpu_figure"] is False:
        lines.append("NOT A GPU FIGURE: --cpu smoke check of the code path on the CPU (FP32); no target applies")
    cases = report["cases"]
    width = max([len(case_key(c)) for c in cases] + [4])
    measured = [c for c in cases if "compute" in c]
    if report["benchmark"] == BENCHMARK:
        lines.append(f"{'case':<{width}} {'compute samples/s':>18} {'p50/tail ms':>19} {'e2e samples/s':>14} "
                     f"{'p50/tail ms':>19} {'x seed (e2e)':>12} {'max|p-tf|':>9} {'max|p-ort|':>10}")
        for c in measured:
            compute, e2e = c["compute"], c["end_to_end"]
            lines.append(f"{case_key(c):<{width}} {compute['samples_per_s']:>18,.0f} {_median_tail(compute)} "
                         f"{e2e['samples_per_s']:>14,.0f} {_median_tail(e2e)} "
                         f"{c['ratio_to_seed']['end_to_end']:>12,.1f} {_max_abs(c, TF):>9} {_max_abs(c, ORT):>10}")
        lines.append("tail: p99 over 100 rounds or more, else the max; " + (
            "a compute-only round on the CPU is one forward pass" if report["gpu_figure"] is False else
            "a compute-only round on CUDA is one event pair's average over K back-to-back replays, so its p99 "
            "is over per-pair averages of K replays, not a per-replay tail"))
        if measured:
            lines.append(f"compute only ({case_key(measured[0])}; each case's in the JSON): "
                         f"{measured[0]['compute_method']}")
        lines.append(f"\nfloors per batch, us (peaks: {report['peaks']})")
        layouts = {}
        for c in measured:
            layouts.setdefault((c["precision"], c["batch"], c["floors"]["input_layout"]), c["floors"])
        for (precision, batch, _), f in sorted(layouts.items(), key=lambda item: item[0]):
            inputs_fed = "narrow" if f["input_bytes_per_sample"] == NARROW_INPUT_BYTES_PER_SAMPLE else "feed"
            lines.append(f"{precision} b{batch:<7} {inputs_fed:<6} FLOP {f['flop_s'] * 1e6:9.2f}  HBM "
                         f"{f['hbm_s'] * 1e6:8.2f} ({f['device_bytes'] / 1e6:.2f} MB)  link {f['link_s'] * 1e6:8.2f} "
                         f"({f['link_bytes'] / 1e6:.2f} MB)  -> compute {f['compute_floor_s'] * 1e6:8.2f}, "
                         f"end to end {f['end_to_end_floor_s'] * 1e6:8.2f}")
        lines.append(f"inputs: feed = {INPUT_LAYOUTS[False]} ({INPUT_BYTES_PER_SAMPLE} B/sample); narrow = "
                     f"{INPUT_LAYOUTS[True]} ({NARROW_INPUT_BYTES_PER_SAMPLE} B/sample); output float32 [2]")
    splits = [c for c in cases if "split" in c]
    if splits:
        lines.append(f"\nwhere the time goes, us per batch ({splits[0]['split']['source']} over "
                     f"{splits[0]['split']['profiled_calls']} calls a case; compute and end to end from this run's "
                     f"own short timings, not figures)")
        for c in splits:
            s = c["split"]
            if s.get("split_valid") is False:
                lines.append(f"{case_key(c):<{width}} compute {s['compute_median_us']:.1f}  e2e "
                             f"{s['end_to_end_median_us']:.1f}  NO SPLIT: {s['split_invalid_why']}")
                continue
            gaps = "-" if s["graph_gaps_us"] is None else f"{s['graph_gaps_us']:.1f}"
            lines.append(f"{case_key(c):<{width}} compute {s['compute_median_us']:.1f}  e2e "
                         f"{s['end_to_end_median_us']:.1f}  gathers {s['gathers_us']:.1f}  GEMMs {s['gemms_us']:.1f}  "
                         f"other {s['other_us']:.1f}  copies {s['copies_us']:.1f}  graph gaps {gaps}  "
                         f"host {s['host_us']:.1f} (validation {s['validation_us']:.1f})")
    lines += [f"FAILED {case_key(c)}: {c['error']}" for c in cases if "error" in c]
    lines += [f"FAILED deactivating {e['precision']} {e['levers']}: {e['error']}"
              for e in report.get("runner_errors", [])]
    not_run = [case_key(c) for c in cases if "not_run" in c]
    if not_run:
        lines.append(f"NOT RUN ({len(not_run)}): {', '.join(not_run)}")
    if "best" in report and report["benchmark"] == BENCHMARK:
        lines += ["", f"targets from {report['targets_profile']} (samples/s), each on the best lever set's figure "
                      f"among the cases that agree with their references:",
                  *verdict_lines(report["targets"])]
        lines += [f"best lever set: {metric} {best['samples_per_s']:,.0f} with {best['levers']}"
                  for metric, best in sorted(report["best"].items())]
    for name, what in ((TF, "the TF original"), (ORT, "ONNX Runtime FP32")):
        lines.append(f"agreement with {what}: {_agreement_line(cases, name)}")
    return "\n".join(lines)


def _agreement_line(cases: list[dict], name: str) -> str:
    checked = [c for c in cases if "agreement" in c]
    failed = [case_key(c) for c in checked if c["agreement"][name]["passed"] is False]
    if failed:
        return "FAILED for " + ", ".join(failed)
    unchecked = [c["agreement"][name] for c in checked if c["agreement"][name]["passed"] is None]
    if unchecked:
        return f"not checked: {unchecked[0]['not_checked']}"
    notes = sorted({c["agreement"][name]["note"] for c in checked if "note" in c["agreement"][name]})
    return "every case" + (f" ({'; '.join(notes)})" if notes else "")


def _median_tail(figure: dict) -> str:
    """``"  0.012/0.020 p99"``: median and tail ms, and which statistic the tail is."""
    return f"{figure['median_ms']:>7.3f}/{figure['tail_ms']:<7.3f} {figure['tail_statistic']:<3}"


# --- the run ------------------------------------------------------------------------------------------

def torch_device_or_refusal(cpu: bool) -> str | None:
    """None when the run can go ahead, else why not (no torch; no CUDA device without --cpu)."""
    try:
        import torch
    except ImportError as exc:
        return f"torch is not importable ({exc}); pip install 'widedeep-bench[torch]'"
    if not cpu and not torch.cuda.is_available():
        return ("no CUDA device: torch.cuda.is_available() is False (torch " + torch.__version__ + "). "
                "This benchmark measures a GPU; run it on one, or pass --cpu for a smoke check of the code path")
    return None


def misses(report: dict) -> list[str]:
    """What fails the run: each target judged and missed (n/a ones are not; a profile run has none), each case
    whose output does not agree with a reference, and each case that raised. Empty: the run passed."""
    failed = [f"STOPPED: {report['stopped']}"] if "stopped" in report else []
    failed += [f"FAIL deactivating {e['precision']} {e['levers']}: {e['error']}"
               for e in report.get("runner_errors", []) if not e.get("after_stop")]
    for c in report["cases"]:
        if "not_run" in c:
            continue
        if "error" in c:
            failed.append(f"FAIL {case_key(c)}: {c['error']}")
            continue
        failed += [f"FAIL {case_key(c)} disagrees with {name} (max |p - p_ref| {checked['max_abs']:.1e} > atol "
                   f"{checked['atol']:g})" for name, checked in c["agreement"].items() if checked["passed"] is False]
    return (missed(report["targets"]) if report["benchmark"] == BENCHMARK else []) + failed


def run(args) -> dict:
    """The benchmark as ``widedeep-bench bench gpu`` asks for it (``args``: ``carried`` or the options
    ``default_inputs`` reads, ``batches``, ``precisions``, ``lever_sets``, ``plan``,
    ``torch_profile``, ``cpu``, ``peaks``, ``targets_profile``, ``profile_targets``, ``json``), once
    ``torch_device_or_refusal`` has let it run: writes the report to ``args.json`` once the first runner is
    active and after every case, and the table beside it (``.txt``), prints the table, and returns the report.
    A run stopped by a fatal CUDA error ends ``"complete": false`` with ``"stopped"`` (the targets judged on
    what it measured)."""
    import torch

    gpu_inputs = args.carried or default_inputs(args)
    inputs.check_model(gpu_inputs.onnx)
    if gpu_inputs.tf_reference is None:
        reason = onnxruntime_unavailable()
        if reason is not None:
            raise WidedeepError(f"nothing to check the outputs against: {NO_TF_REFERENCE}, and onnxruntime cannot "
                                f"run here ({reason})")
    benchmark = PROFILE_BENCHMARK if args.torch_profile else BENCHMARK
    report = {"benchmark": benchmark, "complete": False,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": None, "gpu_figure": None, "torch": torch.__version__, "cuda": torch.version.cuda,
              "fp32_matmul_precision": torch.get_float32_matmul_precision(), "command": sys.argv,
              "machine": timing_machine(), **provenance(), "onnx": str(gpu_inputs.onnx), "rows": gpu_inputs.rows_source,
              "tf_reference": gpu_inputs.tf_reference_source, "peaks": args.peaks,
              "seed_samples_per_s": SEED_SAMPLES_PER_S,
              "lever_sets": [lever_label(levers) for levers in args.lever_sets],
              "method": method(args, benchmark),
              "cases_planned": len(args.precisions) * len(args.lever_sets) * len(args.batches), "cases": []}

    run_cases(args, gpu_inputs, profile_case if args.torch_profile else measure_case, report,
              lambda: _write(args.json, report))
    report["complete"] = "stopped" not in report
    if benchmark == BENCHMARK:
        report["best"] = best_figures(report["cases"])
        report["targets"] = targets_of(args.profile_targets, report["cases"], bool(report["gpu_figure"]),
                                       {(p, b) for p in args.precisions for b in args.batches})
        report["targets_profile"] = args.targets_profile
    else:
        report["targets"] = []
    text = _write(args.json, report)
    print(text)
    print(f"\nwrote {args.json} and {args.json.with_suffix('.txt')}")
    return report


def _write(path: Path, report: dict) -> str:
    """The report (atomically) and its table beside it (``.txt``); returns the table."""
    write_json(path, report)
    text = table(report)
    with atomic_file(path.with_suffix(".txt")) as temporary:
        temporary.write_text(text + "\n")
    return text


def method(args, benchmark: str) -> dict:
    """How the figures (or the split) were taken, in words, as the JSON records it."""
    shared = {"plan": args.plan.describe(),
              "agreement": "each case's first batch (rows 0..batch) against the TF original's saved probabilities "
                           "(rows they cover) and ONNX Runtime CPU FP32 on the same ONNX, within "
                           "widedeep_bench.compare.TOLERANCES of the precision",
              "levers": "each lever set passed to TorchRunner(levers=...); see engines.torch.LEVERS"}
    if benchmark == PROFILE_BENCHMARK:
        return {**shared, "split": f"torch.profiler over {PROFILED_CALLS} end-to-end calls per case on CUDA "
                                   f"({CPU_PROFILED_CALLS} on the CPU, --cpu: each case records profiled_calls); "
                                   f"compute and end to end medians from this run's own short timings (not "
                                   f"figures); on CUDA TEARDOWN_CUPTI=0 before the first profile (CUPTI stays "
                                   f"attached afterwards, so later cases' short timings may carry its overhead); "
                                   f"a CUDA profile with no kernel event has split_valid false"}
    return {**shared, "compute": "TorchRunner.compute_seconds, inputs already on the device; each case records "
                                 "compute_method",
            "end_to_end": "time.perf_counter around runner.infer(host arrays) incl. validation, staging, copies "
                          "and synchronize",
            "statistic": "samples/s = batch / median round; tail p99 over >= 100 rounds, else the max",
            "targets": "each judged on the best lever set's figure for its precision, batch and figure, among "
                       "the cases that agree with every reference (none left: unmeasured, missed on a GPU)",
            "order": "the baseline lever set (none) for every precision and batch first (FP16 batch 1024 first of "
                     "all), then per precision and batch the other lever sets one after the other",
            "floors": "per case, with the inputs as its lever set feeds them (input_layout)"}
