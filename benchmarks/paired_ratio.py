"""The ONNX Runtime FP32 / TF original ratio at batch 1024, measured N times: how far it moves, quiet or loaded.

    python benchmarks/paired_ratio.py [--load quiet|busy] [--runs 5] [--saved-model DIR --onnx FILE]
                                      [--eval-csv FILE] [--batch 1024] [--threads N] [--rounds 200]
                                      [--duration 4] [--warmup 3] [--warmup-s 0.5] [--profile cpu-default]
                                      [--json PATH]

Each run times ONNX Runtime FP32 and the TF original in alternating rounds on the same real batch
(``widedeep_bench.measure.measure_interleaved``: warm-up by time, batches rotated, at least ``--rounds``
rounds and ``--duration`` seconds each) and takes the paired ratio: the median over rounds of TF time / ORT
time (``paired_ratio``; > 1: ORT is faster). The runs follow one another in one process, the two runners
activated once. The figure is the median of the runs' ratios and the spread ``(max - min) / median``.
ONNX Runtime's idle threads block instead of spinning (``widedeep_bench.engines.onnxruntime``): a spinning
pool would take a core from the TF call timed right after it and lift the ratio (1.3-1.4 against 1.0-1.05).

``--load busy`` keeps one core busy for the whole measurement: a pure-Python busy loop in a subprocess pinned
to the last core this process may use (``os.sched_setaffinity``), stopped at the end, and ending by itself
when this process ends or after ``BUSY_LIMIT_S``. The spread is judged by the ``--profile``'s
``[[target]]`` with ``benchmark = "paired_ratio"``: metric ``spread_quiet`` for ``--load quiet``,
``spread_loaded`` for ``--load busy``. Exit status 0 when the target is met, 1 when it is not (or the busy
loop died before the end), 2 for a usage error.

``--threads N`` sets the intra-op threads of both runtimes (ONNX Runtime's session, TensorFlow's process-wide
pool); the default is the suite's, the physical core count. The JSON records the machine (CPU model and
SIMD flags, cores, load averages), the load, the threads, each run's ratio, quartiles and samples/s of both,
and the method. Models and rows: ``widedeep_bench.bench_setup``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: python benchmarks/...

from widedeep_bench import bench_setup  # noqa: E402
from widedeep_bench.bench_setup import ORT_FP32, TF_ORIGINAL  # noqa: E402
from widedeep_bench.cache import write_json  # noqa: E402
from widedeep_bench.environment import timing_machine  # noqa: E402
from widedeep_bench.errors import WidedeepError  # noqa: E402
from widedeep_bench.measure import PairedRatio, TimingPlan  # noqa: E402
from widedeep_bench.progress import say  # noqa: E402

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
        record = bench_setup.ort_over_tf(runners, batches, batch, plan)
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", choices=sorted(SPREAD_METRIC), default="quiet",
                        help="quiet: nothing added; busy: one core kept busy throughout (default %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="repeated measurements (default %(default)s)")
    bench_setup.add_model_options(parser)
    parser.add_argument("--batch", type=int, default=1024, help="samples per infer call (default %(default)s)")
    parser.add_argument("--threads", type=int, help="intra-op threads of both runtimes (default: physical cores)")
    bench_setup.add_timing_options(parser, DEFAULT_PLAN)
    bench_setup.add_profile_option(parser)
    parser.add_argument("--json", type=Path, default=Path("out/paired_ratio.json"), help="result file")
    args = parser.parse_args(argv)
    if args.runs < 2 or args.batch < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--runs must be at least 2 (a spread needs two runs), --batch and --threads at least 1")
    bench_setup.check_model_options(args, parser)
    args.plan = bench_setup.timing_plan(args, parser)
    try:
        args.profile_source, targets = bench_setup.profile_targets(args.profile, BENCHMARK)
    except WidedeepError as exc:
        parser.error(str(exc))
    metric = SPREAD_METRIC[args.load]
    args.targets = [t for t in targets if t.metric == metric]
    if not args.targets:
        parser.error(f"profile {args.profile_source}: no [[target]] for benchmark {BENCHMARK!r} with metric "
                     f"{metric!r}, which judges --load {args.load}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    from widedeep_bench.engines import EngineOptions, make_runner

    saved_model, onnx_path = bench_setup.models_of(args)
    rows, rows_source = bench_setup.eval_rows(args.eval_csv)
    batches = bench_setup.real_batches(rows, args.batch, rows_source)
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
    targets = [bench_setup.judged(target, figures["spread"]) for target in args.targets]
    load = {"mode": args.load, "load_average_after": list(os.getloadavg())}
    if busy is not None:
        load.update(busy_core=busy.core, busy_throughout=loaded_throughout,
                    how="a pure-Python busy loop in a subprocess pinned to that core for the whole measurement")
    report = {"benchmark": BENCHMARK, "machine": machine, "load": load, "command": sys.argv,
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
    for line in bench_setup.verdict_lines(targets):
        print(line)
    print(f"wrote {args.json}")
    met = all(target["met"] for target in targets) and (busy is None or loaded_throughout)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
