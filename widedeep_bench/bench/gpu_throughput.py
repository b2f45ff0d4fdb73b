"""GPU throughput of the torch runner: batch 1024 / 4096 / 16384 x FP16 / FP32, compute only and end to end.

    widedeep-bench bench gpu [--onnx FILE] [--eval-csv FILE] [--batches 1024 4096 16384]
                             [--precisions fp16 fp32] [--rounds N] [--duration S] [--warmup N]
                             [--warmup-s S] [--torch-profile] [--targets h100-torch]
                             [--peak-fp16-tflops 989.4] [--peak-fp32-tflops 66.9]
                             [--hbm-gbps 3350] [--link-gbps 64] [--json out/gpu_throughput.json]
                             [--cpu]

Two figures per case, timed by ``widedeep_bench.measure``: each subject warmed up for at least ``--warmup-s``
seconds and ``--warmup`` calls (untimed), then timed for at least ``--rounds`` rounds and ``--duration``
seconds; the figure is the median round, the tail p99 over 100 rounds or more and the max below; batches
rotated over distinct real rows (never all-zero indices), samples counted as samples (not the 26
categorical rows each):

- compute only: CUDA events recorded on the runner's stream just before and after ``graph.replay()``,
  the inputs already on the device (each round first copies its batch into the graph's static inputs,
  device to device, outside the events);
- end to end: ``time.perf_counter`` around ``runner.infer(categorical, numeric)``: host NumPy arrays in,
  probabilities out: feed validation, staging into pinned memory, host-to-device copies, replay,
  device-to-host copy and the synchronize included.

Before timing, each case's output on its first batch is compared with ONNX Runtime (CPU, FP32) on the
same ONNX, against the precision's tolerance (``widedeep_bench.compare.TOLERANCES``). Beside each case:
the ratio to the seed's 77,073.93 samples/s (Iluvatar MR-V100, FP16, batch 1024), and two floors:
the FLOP floor ``3.04 MFLOP x batch / peak FLOP/s``, and the bytes floor: the bytes the device must at
least read and write (inputs as fed, gathered table rows, tower weights once per batch, output) over
HBM bandwidth, plus for end to end the inputs and output over the host link. Peaks default to the
H100 SXM5 datasheet (dense FP16 tensor 989.4 TFLOP/s; FP32 without TF32 66.9 TFLOP/s; HBM3 3.35 TB/s;
PCIe Gen5 x16 64 GB/s per direction); give the figures of another device with the options.

``--torch-profile`` adds where the time goes: ``torch.profiler`` over end-to-end calls, kernel time split
into gathers, GEMMs, other kernels and copies, plus the gaps inside the graph (compute-only time minus
kernel time: launch latency) and the host's share (end to end minus compute minus copies).

Targets: the ``[[target]]`` tables with ``benchmark = "gpu_throughput"`` of the profile ``--targets`` names
(default ``h100-torch``: issue 6's H100 FP16 figures), on metrics named
``<precision>_b<batch>_<compute|end_to_end>_samples_per_s`` (e.g. ``fp16_b1024_compute_samples_per_s``).
Targets apply on a GPU only; a target for a case this run did not select (``--batches``, ``--precisions``)
is shown as n/a and not judged. Exit status: 0 when every case agrees with the reference and every target
judged is met, 1 otherwise, 2 when no CUDA device is present. ``--cpu`` runs the same code path on the CPU
in FP32 as a smoke check; its figures are not GPU figures and no target applies (all n/a).
Without ``--onnx`` the model is the suite's default conversion of a random-weights SavedModel with the
real shapes (same FLOP and kernels as the real model); without ``--eval-csv`` the rows are synthetic
Criteo-format rows read by the real preprocessing.
"""

from __future__ import annotations

import datetime
import re
import sys
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
DEFAULT_TARGETS = "h100-torch"  # the profile whose [[target]] tables judge the figures
METRIC = re.compile(r"(fp16|fp32)_b([1-9][0-9]*)_(compute|end_to_end)_samples_per_s")  # what a target can name
SEED_SAMPLES_PER_S = 77_073.93  # DeepSparkInference README: Iluvatar MR-V100, FP16, batch 1024
PEAKS = {  # H100 SXM5 datasheet figures, the defaults of the options
    "fp16_tflops": 989.4,  # dense FP16 tensor core (1979 is with 2:4 sparsity, which this model has not)
    "fp32_tflops": 66.9,  # FP32 on CUDA cores: torch runs FP32 matmuls without TF32 by default
    "hbm_gbps": 3350.0,  # HBM3
    "link_gbps": 64.0,  # PCIe Gen5 x16, per direction
}
GPU_PLAN = TimingPlan(warmup_s=0.5, min_warmup_rounds=100, min_rounds=1000, min_duration_s=1.0)
CPU_PLAN = TimingPlan(warmup_s=0.1, min_warmup_rounds=2, min_rounds=10, min_duration_s=0.2)  # --cpu: a smoke check
ROTATION = 16  # distinct batches cycled through the rounds, at most
SYNTHETIC_BATCHES = 4  # synthetic rows: this many batches of the largest size
PROFILED_CALLS = 50
TOWER_PARAMETERS = sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(LAYER_DIMS[:-1], LAYER_DIMS[1:]))
INPUT_BYTES_PER_SAMPLE = layout.NUM_FIELDS * 2 * 8 + layout.NUM_NUMERIC * 4  # int64 [26, 2] + float32 [13]
OUTPUT_BYTES_PER_SAMPLE = 2 * 4  # float32 [2]


def floors(batch: int, precision: str, peaks: dict) -> dict:
    """Lower bounds on one batch's time, seconds: FLOP at peak, device bytes at HBM speed, host link bytes."""
    element = 2 if precision == "fp16" else 4
    device_bytes = (batch * (INPUT_BYTES_PER_SAMPLE + OUTPUT_BYTES_PER_SAMPLE
                             + layout.NUM_FIELDS * (layout.EMBEDDING_DIM + 1) * element)
                    + TOWER_PARAMETERS * element)
    link_bytes = batch * (INPUT_BYTES_PER_SAMPLE + OUTPUT_BYTES_PER_SAMPLE)
    flop_s = layout.FLOP_PER_SAMPLE * batch / (peaks[f"{precision}_tflops"] * 1e12)
    hbm_s = device_bytes / (peaks["hbm_gbps"] * 1e9)
    link_s = link_bytes / (peaks["link_gbps"] * 1e9)
    return {"flop_s": flop_s, "hbm_s": hbm_s, "link_s": link_s, "device_bytes": device_bytes,
            "link_bytes": link_bytes, "compute_floor_s": max(flop_s, hbm_s),
            "end_to_end_floor_s": max(flop_s, hbm_s) + link_s}


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


def time_split(runner, host_batches: list, calls: int) -> dict:
    """Microseconds per batch by kind (``kernel_kind``) from ``torch.profiler`` over ``calls`` infer calls."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if runner.uses_cuda else [])
    with profile(activities=activities) as profiled:
        for i in range(calls):
            runner.infer(*host_batches[i % len(host_batches)])
    split = {"gathers": 0.0, "gemms": 0.0, "other": 0.0, "copies": 0.0}
    seen = 0
    for event in profiled.key_averages():
        if runner.uses_cuda and event.device_type == DeviceType.CUDA:
            split[kernel_kind(event.key)] += event.self_device_time_total
        elif not runner.uses_cuda and event.key.startswith("aten::"):
            split[kernel_kind(event.key)] += event.self_cpu_time_total
        else:
            continue
        seen += event.count
    return {**{f"{kind}_us": total / calls for kind, total in split.items()}, "events_per_batch": seen / calls,
            "source": "CUDA kernels and memcpys (self device time)" if runner.uses_cuda
            else "CPU aten ops (self CPU time)"}


def host_batches_of(rows, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    batches = [(np.ascontiguousarray(b.categorical), np.ascontiguousarray(b.numeric))
               for b in rows.batches(batch)][:ROTATION]
    if not batches:
        raise WidedeepError(f"{rows.source}: {rows.rows} rows, fewer than one batch of {batch}")
    return batches


def reference_probabilities(onnx_path: Path, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """ONNX Runtime CPU FP32 on the same ONNX: it runs the graph itself, not the weights torch read from it."""
    from widedeep_bench.engines import make_runner

    with make_runner("onnxruntime", onnx_path) as reference:
        return reference.infer(categorical, numeric)


def measure_case(runner, batch: int, host_batches: list, reference: np.ndarray, args) -> dict:
    precision = runner.options.precision
    tolerance = TOLERANCES[precision]
    agreement = compare(runner.infer(*host_batches[0]), reference, atol=tolerance.atol, rtol=tolerance.rtol)
    device_batches = [runner.device_batch(categorical, numeric) for categorical, numeric in host_batches]
    say(f"{precision} batch {batch}: compute only, then end to end; {args.plan.describe()}")
    compute = runner.compute_seconds(device_batches, args.plan).summary()
    end_to_end = measure(runner.infer, host_batches, batch, args.plan).summary()
    case = {"precision": precision, "batch": batch, "distinct_batches": len(host_batches), "compute": compute,
            "end_to_end": end_to_end, "floors": floors(batch, precision, args.peaks),
            "ratio_to_seed": {"compute": compute["samples_per_s"] / SEED_SAMPLES_PER_S,
                              "end_to_end": end_to_end["samples_per_s"] / SEED_SAMPLES_PER_S},
            "agreement_with_onnxruntime_fp32": {"max_abs": agreement.max_abs, "atol": tolerance.atol,
                                                "passed": agreement.passed}}
    if args.torch_profile:
        split = time_split(runner, host_batches, PROFILED_CALLS)
        kernels_us = split["gathers_us"] + split["gemms_us"] + split["other_us"]
        # On CUDA the copies sit outside the graph (compute only excludes them); on the CPU there are none
        # outside the forward pass, so whatever "copies" the CPU profile shows is already in compute.
        outside_compute_us = split["copies_us"] if runner.uses_cuda else 0.0
        split["graph_gaps_us"] = compute["median_ms"] * 1e3 - kernels_us if runner.uses_cuda else None
        split["host_us"] = (end_to_end["median_ms"] - compute["median_ms"]) * 1e3 - outside_compute_us
        split["validation_us"] = measure(layout.check_feed, host_batches, batch, args.plan).median_s * 1e6
        case["split"] = split
    return case


def figures_of(cases: list[dict]) -> dict[str, float]:
    """``{"fp16_b1024_compute_samples_per_s": samples/s, ...}``: every figure of the cases measured, by the
    metric name a ``[[target]]`` gives it (``METRIC``)."""
    return {f"{c['precision']}_b{c['batch']}_{figure}_samples_per_s": c[figure]["samples_per_s"]
            for c in cases for figure in ("compute", "end_to_end")}


def targets_in(profile: str) -> tuple[str, list]:
    """``(profile source, targets)``: the profile's ``gpu_throughput`` targets, each on a metric ``METRIC``
    matches (``WidedeepError`` otherwise, and for a profile with none)."""
    return profile_targets(profile, BENCHMARK, measures=lambda metric: METRIC.fullmatch(metric) is not None,
                           metrics="its metrics are <fp16|fp32>_b<batch>_<compute|end_to_end>_samples_per_s, "
                                   "e.g. fp16_b1024_compute_samples_per_s")


def targets_of(targets: list, cases: list[dict], gpu: bool, selected: set[tuple[str, int]]) -> list[dict]:
    """Each ``[[target]]`` judged on its figure (``targets.judged``: unmeasured is missed) when the run is on
    a GPU and selected its case (``selected``: the ``(precision, batch)`` pairs asked for); otherwise recorded
    with ``met`` None and why (``targets.not_applicable``): a CPU figure is no GPU figure."""
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


def table(report: dict) -> str:
    """The short text table: one line per case, then floors, the targets and the split where profiled."""
    lines = [f"torch {report['torch']} on {report['device']}, {report['date']}"]
    if not report["gpu_figure"]:
        lines.append("NOT A GPU FIGURE: --cpu smoke check of the code path on the CPU (FP32); no target applies")
    lines += [f"{'case':<12} {'compute samples/s':>18} {'p50/tail ms':>19} {'e2e samples/s':>14} {'p50/tail ms':>19} "
             f"{'x seed (e2e)':>12} {'max|p-ref|':>10}"]
    for c in report["cases"]:
        compute, e2e = c["compute"], c["end_to_end"]
        lines.append(f"{c['precision']} b{c['batch']:<7} {compute['samples_per_s']:>18,.0f} {_median_tail(compute)} "
                     f"{e2e['samples_per_s']:>14,.0f} {_median_tail(e2e)} {c['ratio_to_seed']['end_to_end']:>12,.1f} "
                     f"{c['agreement_with_onnxruntime_fp32']['max_abs']:>10.1e}")
    lines.append("tail: p99 over 100 rounds or more, else the max")
    lines.append(f"\nfloors per batch, us (peaks: {report['peaks']})")
    for c in report["cases"]:
        f = c["floors"]
        lines.append(f"{c['precision']} b{c['batch']:<7} FLOP {f['flop_s'] * 1e6:9.2f}  HBM {f['hbm_s'] * 1e6:8.2f} "
                     f"({f['device_bytes'] / 1e6:.2f} MB)  link {f['link_s'] * 1e6:8.2f} "
                     f"({f['link_bytes'] / 1e6:.2f} MB)"
                     f"  -> compute {f['compute_floor_s'] * 1e6:8.2f}, end to end {f['end_to_end_floor_s'] * 1e6:8.2f}")
    splits = [c for c in report["cases"] if "split" in c]
    if splits:
        lines.append(f"\nwhere the time goes, us per batch ({splits[0]['split']['source']})")
        for c in splits:
            s = c["split"]
            gaps = "-" if s["graph_gaps_us"] is None else f"{s['graph_gaps_us']:.1f}"
            lines.append(f"{c['precision']} b{c['batch']:<7} gathers {s['gathers_us']:.1f}  GEMMs {s['gemms_us']:.1f}  "
                         f"other {s['other_us']:.1f}  copies {s['copies_us']:.1f}  graph gaps {gaps}  "
                         f"host {s['host_us']:.1f} (validation {s['validation_us']:.1f})")
    lines += ["", f"targets from {report['targets_profile']} (samples/s):",
              *verdict_lines(report["targets"])]
    failed = [f"{c['precision']} b{c['batch']}" for c in report["cases"]
              if not c["agreement_with_onnxruntime_fp32"]["passed"]]
    lines.append(f"agreement with ONNX Runtime FP32: {'FAILED for ' + ', '.join(failed) if failed else 'every case'}")
    return "\n".join(lines)


def _median_tail(figure: dict) -> str:
    """``"  0.012/0.020 p99"``: median and tail ms, and which statistic the tail is."""
    return f"{figure['median_ms']:>7.3f}/{figure['tail_ms']:<7.3f} {figure['tail_statistic']:<3}"


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
    """What fails the run: each target judged and missed (n/a ones are not), and each case whose output does
    not agree with ONNX Runtime FP32. Empty: the run passed."""
    disagree = [f"FAIL {c['precision']} b{c['batch']} disagrees with ONNX Runtime FP32 (max |p - p_ref| "
                f"{c['agreement_with_onnxruntime_fp32']['max_abs']:.1e})"
                for c in report["cases"] if not c["agreement_with_onnxruntime_fp32"]["passed"]]
    return missed(report["targets"]) + disagree


def run(args) -> dict:
    """The benchmark as ``widedeep-bench bench gpu`` asks for it (``args``: ``onnx``, ``eval_csv``, ``batches``,
    ``precisions``, ``plan``, ``torch_profile``, ``cpu``, ``peaks``, ``targets_profile``, ``profile_targets``,
    ``json``), once ``torch_device_or_refusal`` has let it run: prints the table, writes the report to
    ``args.json`` and the table beside it (``.txt``), and returns the report."""
    import torch

    from widedeep_bench.engines import EngineOptions, make_runner

    onnx_path = args.onnx if args.onnx is not None else inputs.default_models()[1]
    rows, rows_source = inputs.eval_rows(args.eval_csv, SYNTHETIC_BATCHES * max(args.batches))
    batches = {batch: host_batches_of(rows, batch) for batch in args.batches}
    references = {batch: reference_probabilities(onnx_path, *host[0]) for batch, host in batches.items()}
    cases, device = [], None
    for precision in args.precisions:
        with make_runner("torch", onnx_path, EngineOptions(precision=precision)) as runner:
            device = runner.device_name()
            gpu = runner.uses_cuda
            for batch, host in batches.items():
                cases.append(measure_case(runner, batch, host, references[batch], args))
    report = {"benchmark": BENCHMARK, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds"), "device": device, "gpu_figure": gpu, "torch": torch.__version__,
              "cuda": torch.version.cuda, "fp32_matmul_precision": torch.get_float32_matmul_precision(),
              "command": sys.argv, "machine": timing_machine(), **provenance(), "onnx": str(onnx_path),
              "rows": rows_source,
              "peaks": args.peaks, "seed_samples_per_s": SEED_SAMPLES_PER_S,
              "method": {"compute": "CUDA events around graph.replay(), inputs already on the device" if gpu
                         else "time.perf_counter around the CPU forward pass, inputs already tensors",
                         "end_to_end": "time.perf_counter around runner.infer(host arrays) incl. validation, "
                                       "staging, copies and synchronize",
                         "plan": args.plan.describe(), "statistic": "samples/s = batch / median round; tail "
                                                                    "p99 over >= 100 rounds, else the max"},
              "cases": cases, "targets_profile": args.targets_profile,
              "targets": targets_of(args.profile_targets, cases, gpu,
                                    {(precision, batch) for precision in args.precisions for batch in args.batches})}
    write_json(args.json, report)
    text = table(report)
    with atomic_file(args.json.with_suffix(".txt")) as temporary:
        temporary.write_text(text + "\n")
    print(text)
    print(f"\nwrote {args.json} and {args.json.with_suffix('.txt')}")
    return report
