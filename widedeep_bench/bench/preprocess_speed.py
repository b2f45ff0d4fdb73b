"""eval.csv -> tensors speed: the vectorised reader against ByteMLPerf's per-row approach, same run.

    widedeep-bench bench preprocess [--rows 2000000] [--baseline-rows 20000] [--csv FILE] [--rounds 3]
                                    [--warmup 0] [--duration 0] [--warmup-s 0] [--profile cpu-default]
                                    [--world-seed 0] [--row-seed 1] [--json PATH]

On one synthetic Criteo-format file (``write_criteo_csv``, written once into the cache) it times:
1. vectorised, cold: ``read_eval_csv`` (no cache): parse, check, hash, normalise every row;
2. per-row, as ByteMLPerf does it (its ``preprocess_dataset.py`` loop: one ``tf.strings.to_hash_bucket_fast``
   call per row), on the first ``--baseline-rows`` rows, extrapolated to the whole file (and said so);
   its output is checked against the vectorised one on those rows;
3. the cache: the first ``load_eval_tensors`` (parse + write the entry), then warm loads (memory maps).
Timing is ``widedeep_bench.measure``'s: 1 and 2 are timed in alternating rounds (``measure_interleaved``,
at least ``--rounds`` of them, after an untimed read that gives 2 its min/max), so that a burst of load from
other processes on a shared machine hits both sides alike, and the median round of each counts; 3 is one
round for the build and the median of 5 warm loads. CPU seconds (all threads of this process) are recorded
beside wall seconds for the same rounds, as the figure that load disturbs least.

Targets: the ``[[target]]`` tables of ``--profile`` with ``benchmark = "preprocess_speed"``, on the metrics
``speedup_over_per_row``, ``cold_read_s`` and ``warm_load_s`` (``METRICS``); PASS/MISS per target, exit
status 1 when one is missed or could not be measured. And before those, the per-row output must equal the
vectorised output on the baseline's rows (PASS/FAIL); exit status 1 when it does not. The JSON (``--json``)
records the file, every figure, the machine (CPU model and SIMD flags, load) and the versions.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.bench.targets import judged, missed, profile_targets, verdict_lines
from widedeep_bench.cache import write_json
from widedeep_bench.data import criteo_csv, tensor_cache
from widedeep_bench.environment import provenance, timing_machine
from widedeep_bench.measure import Timing, TimingPlan, measure, measure_interleaved
from widedeep_bench.progress import progress
from widedeep_bench.synthetic.criteo_rows import cached_criteo_csv

BENCHMARK = "preprocess_speed"
METRICS = {  # what each metric this benchmark measures is, in words
    "speedup_over_per_row": "vectorised cold rows/s over per-row ByteMLPerf rows/s, wall clock, median rounds",
    "cold_read_s": "vectorised cold read_eval_csv of the whole file, wall seconds, median round",
    "warm_load_s": "warm load_eval_tensors (memory maps) of the whole file, wall seconds, median of 5",
}
DEFAULT_PLAN = TimingPlan(warmup_s=0.0, min_warmup_rounds=0, min_rounds=3, min_duration_s=0.0)
ONCE = TimingPlan(warmup_s=0.0, min_warmup_rounds=0, min_rounds=1, min_duration_s=0.0, cold=True)  # happens once
WARM_LOADS = TimingPlan(warmup_s=0.0, min_warmup_rounds=0, min_rounds=5, min_duration_s=0.0)


def per_row_bytemlperf(path: Path, rows: int, numeric_range: np.ndarray) -> dict:
    """ByteMLPerf's per-row loop on the first ``rows`` rows of ``path``: the tensors it made.

    The loop body follows ByteMLPerf's ``open_criteo_kaggle/preprocess_dataset.py`` (a dict per row,
    lists in sorted column order, one ``tf.strings.to_hash_bucket_fast`` call per row), reading rows
    with Python ``csv`` where it uses pandas (not installed here). Its min/max step is replaced by the
    whole file's min/max from the vectorised run, untimed, so the outputs compare row for row; leaving
    that step out only flatters the baseline.
    """
    import tensorflow as tf

    data_columns = [layout.LABEL_COLUMN, *layout.NUMERIC_COLUMNS, *(f"{name}_embedding" for name in
                                                                     layout.CATEGORICAL_COLUMNS)]
    categorical_sorted = sorted(data_columns[14:])
    numeric_names = list(layout.NUMERIC_COLUMNS)
    low, high = numeric_range[:, [layout.NUMERIC_ORDER.index(name) for name in numeric_names]]
    span = np.where(high > low, high - low, 1.0)
    all_data = []
    with path.open(newline="") as handle:
        for i, row in enumerate(progress(csv.reader(handle), desc="per-row baseline", total=rows, unit="rows")):
            if i == rows:
                break
            normalized_vals = (np.array([float(value or 0.0) for value in row[1:14]]) - low) / span
            new_categorical_dict = dict(zip(data_columns[14:], row[14:40]))
            new_categorical_list = [new_categorical_dict[name] for name in categorical_sorted]
            hash_values = tf.strings.to_hash_bucket_fast(new_categorical_list, layout.BUCKETS).numpy()
            new_numerical_dict = dict(zip(numeric_names, normalized_vals))
            item = {"numeric": [], "categorical": [], "label": [int(row[0])]}
            for name in layout.NUMERIC_ORDER:
                item["numeric"].extend([new_numerical_dict[name]])
            for j in range(layout.NUM_FIELDS):
                item["categorical"].extend([j, hash_values[j]])
            all_data.append(item)
    return {"categorical": np.array([item["categorical"] for item in all_data], np.int64).reshape(-1, 2),
            "numeric": np.array([item["numeric"] for item in all_data], np.float32),
            "labels": np.array([item["label"][0] for item in all_data], np.int64)}


class WithCpuSeconds:
    """``call`` with the CPU seconds (all threads of this process) of each call kept beside ``measure``'s wall
    clock; with ``keep_result`` the last call's result too (not for 2 M rows of tensors: 1 GB each)."""

    def __init__(self, call, keep_result: bool = False):
        self.call, self.keep_result, self.cpu_seconds, self.result = call, keep_result, [], None

    def __call__(self) -> None:
        started = time.process_time()
        result = self.call()
        self.cpu_seconds.append(time.process_time() - started)
        if self.keep_result:
            self.result = result

    def cpu_timing(self, wall: Timing) -> Timing:
        """The CPU seconds of the rounds ``wall`` timed (the last ones: warm-up calls come first)."""
        return Timing(np.asarray(self.cpu_seconds[-wall.rounds:]), wall.batch_size)


def timed_once(call, plan: TimingPlan, rows: int) -> tuple[Timing, Timing]:
    """(wall, CPU) timings of ``call`` under ``plan``, a round being one call (it takes no batch)."""
    subject = WithCpuSeconds(call)
    wall = measure(subject, [()], rows, plan)
    return wall, subject.cpu_timing(wall)


def targets_in(profile: str) -> tuple[str, list]:
    """``(profile source, targets)``: the profile's ``preprocess_speed`` targets, each on a metric of ``METRICS``
    (``WidedeepError`` otherwise, and for a profile with none)."""
    return profile_targets(profile, BENCHMARK, measures=METRICS.__contains__,
                           metrics=f"it measures {sorted(METRICS)}")


def misses(report: dict) -> list[str]:
    """What fails the run: each of the profile's targets missed or not measured, and a per-row output that
    differs from ours. Empty: the run passed."""
    differs = [] if report["per_row_output_equals_vectorised"] else [
        "FAIL per-row output differs from the vectorised output"]
    return missed(report["targets"]) + differs


def run(args) -> dict:
    """The benchmark as ``widedeep-bench bench preprocess`` asks for it (``args``: ``rows``, ``baseline_rows``,
    ``csv``, ``world_seed``, ``row_seed``, ``plan``, ``profile_source``, ``targets``, ``json``): prints the
    table and the verdicts, writes the report to ``args.json`` when given, and returns it."""
    plan = args.plan
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    path = args.csv or cached_criteo_csv(args.rows, world_seed=args.world_seed, row_seed=args.row_seed)
    tf.strings.to_hash_bucket_fast(["warm-up"], layout.BUCKETS)  # TF's first-call setup is not per-row work
    machine = timing_machine()
    cold = criteo_csv.read_eval_csv(path)  # untimed: the baseline's min/max, and the file in the page cache
    rows, baseline_rows = cold.rows, min(args.baseline_rows, cold.rows)
    vectorised = WithCpuSeconds(lambda: criteo_csv.read_eval_csv(path))
    per_row = WithCpuSeconds(lambda: per_row_bytemlperf(path, baseline_rows, cold.numeric_range), keep_result=True)
    timings = measure_interleaved({"vectorised": vectorised, "per-row": per_row}, [()], rows, plan)
    cold_wall, cold_cpu = timings["vectorised"], vectorised.cpu_timing(timings["vectorised"])
    baseline_wall = Timing(timings["per-row"].seconds, baseline_rows)
    baseline_cpu, baseline = per_row.cpu_timing(baseline_wall), per_row.result

    entry = tensor_cache.entry_for(cold.sha256, criteo_csv.PREPROCESS_VERSION)
    shutil.rmtree(entry, ignore_errors=True)  # so that the cache build below is a real one
    build_wall, build_cpu = timed_once(lambda: criteo_csv.load_eval_tensors(path), ONCE, rows)
    warm_wall, warm_cpu = timed_once(lambda: criteo_csv.load_eval_tensors(path), WARM_LOADS, rows)
    touch_wall, touch_cpu = timed_once(lambda: [float(np.sum(a)) for a in
                                                criteo_csv.load_eval_tensors(path).arrays().values()], ONCE, rows)
    load_after = os.getloadavg()
    cold_s, cold_cpu_s = cold_wall.median_s, cold_cpu.median_s
    baseline_s, baseline_cpu_s = baseline_wall.median_s, baseline_cpu.median_s
    build_s, build_cpu_s = build_wall.median_s, build_cpu.median_s
    warm_s, warm_cpu_s = warm_wall.median_s, warm_cpu.median_s
    touch_s, touch_cpu_s = touch_wall.median_s, touch_cpu.median_s

    head = cold.head(baseline_rows)
    matches = bool(np.array_equal(baseline["categorical"], head.categorical)
                   and np.allclose(baseline["numeric"], head.numeric, rtol=0, atol=1e-6)
                   and np.array_equal(baseline["labels"], head.labels))
    speedup = (rows / cold_s) / (baseline_rows / baseline_s)
    cpu_speedup = (rows / cold_cpu_s) / (baseline_rows / baseline_cpu_s)
    per_row_whole_s = baseline_s * rows / baseline_rows
    results = [
        (f"vectorised, cold (read_eval_csv, no cache), median of {cold_wall.rounds}", rows, cold_s, cold_cpu_s,
         "measured"),
        (f"per-row ByteMLPerf (1 TF hash call per row), median of {baseline_wall.rounds}", baseline_rows,
         baseline_s, baseline_cpu_s, "measured"),
        ("per-row ByteMLPerf, whole file", rows, per_row_whole_s, baseline_cpu_s * rows / baseline_rows,
         f"extrapolated from {baseline_rows} rows"),
        ("vectorised + cache build (first load_eval_tensors)", rows, build_s, build_cpu_s, "measured"),
        ("warm cache load (memory maps), median of 5", rows, warm_s, warm_cpu_s, "measured"),
        ("warm cache load + one pass over every array", rows, touch_s, touch_cpu_s, "measured"),
    ]
    figures = {"speedup_over_per_row": speedup, "cold_read_s": cold_s, "warm_load_s": warm_s}
    targets = [judged(target, figures.get(target.metric)) for target in args.targets]

    print(f"\n{path} ({path.stat().st_size / 1e6:.0f} MB, {rows} rows); {os.cpu_count()} CPUs, "
          f"load average {machine['load_average'][0]:.1f} before / {load_after[0]:.1f} after")
    print(f"{'method':<66} {'rows':>9} {'wall s':>9} {'CPU s':>9} {'rows/s (wall)':>14}  note")
    for method, n, seconds, cpu_seconds, note in results:
        print(f"{method:<66} {n:>9} {seconds:>9.3f} {cpu_seconds:>9.3f} {n / seconds:>14,.0f}  {note}")
    print(f"speed-up of vectorised cold over per-row: {speedup:.1f}x wall, {cpu_speedup:.1f}x CPU time")
    print(f"\ntargets from {args.profile_source}:")
    for line in verdict_lines(targets):
        print(line)
    print(f"{'PASS' if matches else 'FAIL'}  per-row output equals vectorised output on the first {baseline_rows} rows")

    report = {
        "benchmark": BENCHMARK, "command": " ".join(sys.argv),
        "file": str(path), "file_bytes": path.stat().st_size, "sha256": cold.sha256, "rows": rows,
        "results": [{"method": method, "rows": n, "wall_s": seconds, "cpu_s": cpu_seconds,
                     "rows_per_s": n / seconds, "note": note}
                    for method, n, seconds, cpu_seconds, note in results],
        "speedup_wall": speedup, "speedup_cpu": cpu_speedup, "metrics": dict(METRICS),
        "profile": args.profile_source, "targets": targets, "per_row_output_equals_vectorised": matches,
        "machine": {**machine, "load_average_after": list(load_after)},
        "method": f"measure_interleaved (vectorised, per-row): {plan.describe()}; median round; cache build "
                  f"and the pass over every array: one round each; warm load: median of 5",
        **provenance(), "preprocess_version": criteo_csv.PREPROCESS_VERSION}
    if args.json:
        write_json(args.json, report)
        print(f"wrote {args.json}")
    return report
