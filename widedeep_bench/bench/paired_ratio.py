"""The ONNX Runtime FP32 / TF original ratio at batch 1024, measured N times: how far it moves, quiet or loaded.

    widedeep-bench bench paired-ratio [--load quiet|busy] [--runs 5] [--saved-model DIR --onnx FILE]
                                      [--eval-csv FILE] [--batch 1024] [--threads N] [--rounds 300]
                                      [--duration 6] [--warmup 3] [--warmup-s 2] [--profile cpu-default]
                                      [--json out/paired_ratio.json]

Each run is ``bench engines``' paired measurement (``engine_throughput.ort_over_tf``): ONNX Runtime FP32 and
the TF original timed in alternating rounds on the same real batch (``widedeep_bench.measure.measure_interleaved``:
warm-up by time, batches rotated, at least ``--rounds`` rounds and ``--duration`` seconds each), and the paired
ratio: the median over rounds of TF time / ORT time (``paired_ratio``; > 1: ORT is faster). The runs follow
one another in one process, the two runners activated once. The figure is the median of the runs' ratios and
the spread ``(max - min) / median``.
ONNX Runtime's idle threads block instead of spinning (``widedeep_bench.engines.onnxruntime``): a spinning
pool would take a core from the TF call timed right after it and lift the ratio (1.3-1.4 against 1.0-1.05).

``--load busy`` keeps one core busy for the whole measurement: a pure-Python busy loop in a subprocess pinned
to the last core this process may use (``os.sched_setaffinity``), stopped at the end, and ending by itself
when this process ends or after ``BUSY_LIMIT_S``. The spread is judged by the ``--profile``'s
``[[target]]`` with ``benchmark = "paired_ratio"``: metric ``spread_quiet`` for ``--load quiet``,
``spread_loaded`` for ``--load busy``. The run fails (exit status 1) when the target is missed or the busy
loop died before the end; a usage error is exit status 2.

``--threads N`` sets the intra-op threads of both runtimes (ONNX Runtime's session, TensorFlow's process-wide
pool); the default is the suite's, the physical core count. The JSON records the machine (CPU model and
SIMD flags, cores, load averages), the load, the threads, each run's ratio, quartiles and samples/s of both,
and the method. Models and rows: ``widedeep_bench.bench.inputs``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from widedeep_bench.bench import engine_throughput, inputs
from widedeep_bench.bench.inputs import ORT_FP32, TF_ORIGINAL
from widedeep_bench.bench.targets import judged, missed, profile_targets, verdict_lines
from widedeep_bench.cache import write_json
from widedeep_bench.environment import provenance, timing_machine
from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import PairedRatio, TimingPlan
from widedeep_bench.progress import say

BENCHMARK = "paired_ratio"
DEFAULT_PLAN = TimingPlan(warmup_s=2.0, min_warmup_rounds=3, min_rounds=300, min_duration_s=6.0)
SPREAD_METRIC = {"quiet": "spread_quiet", "busy": "spread_loaded"}
BUSY_LIMIT_S = 3600.0  # the busy loop ends by itself after this, whatever happens to this process
# Checks the clock and its parent every 2**16 iterations (a few ms): otherwise nothing but the loop.
BUSY_LOOP = """import os, sys, time
core, parent, deadline = int(sys.argv[1]), os.getppid(), time.monotonic() + float(sys.argv[2])
os.sched_setaffinity(0, {core})
print("busy", flush=True)
n = 0
while True:
    n += 1
    if n & 0xFFFF == 0 and (time.monotonic() > deadline or os.getppid() != parent):
        break
"""


class BusyCore:
    """A context: one core kept busy by a pure-Python loop in a subprocess pinned to it."""

    def __init__(self, limit_s: float | None = None):
        self.core = max(os.sched_getaffinity(0))
        self.limit_s = BUSY_LIMIT_S if limit_s is None else limit_s
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "BusyCore":
        self.process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(self.core), str(self.limit_s)],
                                        stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "busy":  # pinned and looping before anything is timed
            self.process.wait()
            raise WidedeepError(f"the busy loop for core {self.core} did not start (exit {self.process.returncode})")
        say(f"core {self.core} kept busy by process {self.process.pid}")
        return self

    def still_busy(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process.stdout.close()


def spread(ratios: list[float]) -> float:
    """``(max - min) / median`` of the runs' ratios: 0.05 means they lie within 5% of their median."""
    return float((max(ratios) - min(ratios)) / np.median(ratios))


def set_threads(threads: int | None) -> None:
    """TensorFlow's intra-op pool is process-wide and fixed at its first use: set it before anything runs."""
    if threads is None:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError as exc:  # TensorFlow already ran in this process
        raise WidedeepError(f"--threads {threads}: TensorFlow's thread pool is already fixed ({exc})") from exc


def measure_runs(runners: dict, batches: list, batch: int, plan: TimingPlan, runs: int) -> list[dict]:
    """``runs`` paired measurements of ORT FP32 against the TF original, one after another."""
    records = []
    for run in range(runs):
        record = engine_throughput.ort_over_tf(runners, batches, batch, plan)
        records.append(record)
        rates = record["samples_per_s"]
        print(f"run {run + 1}/{runs}: ORT FP32 / TF {record['ratio']:.3f} (quartiles {record['q25']:.3f}.."
              f"{record['q75']:.3f}, {record['pairs']} pairs); ORT {rates[ORT_FP32]:,.0f} samples/s, "
              f"TF {rates[TF_ORIGINAL]:,.0f} samples/s; load {os.getloadavg()[0]:.2f}", flush=True)
    return records


def tensorflow_threads() -> int:
    """TensorFlow's intra-op threads as it runs them: the configured count, or (0: its default) the logical CPUs."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or len(os.sched_getaffinity(0))


def targets_in(profile: str, load: str) -> tuple[str, list]:
    """``(profile source, targets)``: the profile's ``paired_ratio`` targets on the spread that judges ``load``
    (``SPREAD_METRIC``); ``WidedeepError`` for a profile with none."""
    source, targets = profile_targets(profile, BENCHMARK)
    metric = SPREAD_METRIC[load]
    targets = [t for t in targets if t.metric == metric]
    if not targets:
        raise WidedeepError(f"profile {source}: no [[target]] for benchmark {BENCHMARK!r} with metric {metric!r}, "
                            f"which judges --load {load}")
    return source, targets


def misses(report: dict) -> list[str]:
    """What fails the run: the spread's target missed, or a busy loop that ended before the measurement did.
    Empty: the run passed."""
    load = report["load"]
    died = [] if load.get("busy_throughout", True) else [
        f"FAIL the busy loop on core {load['busy_core']} ended before the measurement did: not a loaded figure"]
    return missed(report["targets"]) + died


def run(args) -> dict:
    """The benchmark as ``widedeep-bench bench paired-ratio`` asks for it (``args``: ``load``, ``runs``,
    ``saved_model``, ``onnx``, ``eval_csv``, ``batch``, ``threads``, ``plan``, ``profile_source``, ``targets``,
    ``json``): prints each run and the verdict, writes the report to ``args.json`` and returns it."""
    set_threads(args.threads)
    from widedeep_bench.engines import EngineOptions, make_runner

    saved_model, onnx_path = inputs.models(args.saved_model, args.onnx)
    rows, rows_source = inputs.eval_rows(args.eval_csv)
    batches = inputs.real_batches(rows, args.batch, rows_source)
    machine = timing_machine()
    busy = BusyCore() if args.load == "busy" else None
    with make_runner("tensorflow", saved_model) as tf, \
            make_runner("onnxruntime", onnx_path, EngineOptions(threads=args.threads)) as ort:
        runners = {ORT_FP32: ort, TF_ORIGINAL: tf}
        threads = {ORT_FP32: ort.options.intra_op_threads(), TF_ORIGINAL: tensorflow_threads()}
        if busy is None:
            records = measure_runs(runners, batches, args.batch, args.plan, args.runs)
        else:
            with busy:
                records = measure_runs(runners, batches, args.batch, args.plan, args.runs)
                loaded_throughout = busy.still_busy()
    ratios = [record["ratio"] for record in records]
    figures = {"median_ratio": float(np.median(ratios)), "spread": spread(ratios), "ratios": ratios}
    targets = [judged(target, figures["spread"]) for target in args.targets]
    load = {"mode": args.load, "load_average_after": list(os.getloadavg())}
    if busy is not None:
        load.update(busy_core=busy.core, busy_throughout=loaded_throughout,
                    how="a pure-Python busy loop in a subprocess pinned to that core for the whole measurement")
    report = {"benchmark": BENCHMARK, "machine": machine, "load": load, "command": sys.argv, **provenance(),
              "models": {"saved_model": str(saved_model), "onnx": str(onnx_path)}, "rows": rows_source,
              "batch": args.batch, "threads": threads, "runs": records, **figures,
              "method": {"run": f"{ORT_FP32} and {TF_ORIGINAL} in alternating rounds on the same batch "
                                f"(one infer() call each, feed validation included), {args.plan.describe()}; "
                                f"batches rotated over {len(batches)} distinct batches; {PairedRatio.METHOD}",
                         "idle_threads": "ONNX Runtime session.intra_op.allow_spinning = 0: its idle threads "
                                         "block, so they take no core from the TF call timed after it",
                         "repeats": f"{args.runs} runs one after another in one process, runners activated "
                                    f"once; figure = median of the runs' ratios; spread = (max - min) / median",
                         "clock": "time.perf_counter"},
              "profile": args.profile_source, "targets": targets}
    write_json(args.json, report)
    print(f"\nORT FP32 / TF original at batch {args.batch}, {args.runs} runs, load {args.load}"
          f"{'' if busy is None else f' (core {busy.core} busy)'}; threads ORT {threads[ORT_FP32]}, "
          f"TF {threads[TF_ORIGINAL]}; {machine['cpu']} [{' '.join(machine['cpu_flags'])}]")
    print(f"ratios {' '.join(f'{r:.3f}' for r in ratios)}: median {figures['median_ratio']:.3f}, "
          f"spread {figures['spread']:.1%} of the median")
    if busy is not None and not loaded_throughout:
        print(f"FAIL  the busy loop on core {busy.core} ended before the measurement did: not a loaded figure")
    for line in verdict_lines(targets):
        print(line)
    print(f"wrote {args.json}")
    return report
