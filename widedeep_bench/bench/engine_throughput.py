"""Engine throughput at batch 1024 on real-format rows, every runner and a SGEMM ceiling in one run.

    widedeep-bench bench engines [--saved-model DIR --onnx FILE] [--eval-csv FILE] [--batch 1024]
                                 [--rounds 100] [--duration 1.0] [--warmup 3] [--warmup-s 0.3]
                                 [--profile cpu-default] [--json out/engine_throughput.json]

All timing is ``widedeep_bench.measure``'s. Block figures: each runner in turn is warmed up (at least
``--warmup-s`` seconds and ``--warmup`` calls, untimed), then timed for at least ``--rounds`` rounds and
``--duration`` seconds; a round is one ``runner.infer`` call (feed validation included) on the next of the
distinct real batches (never one batch repeated, never all-zero indices); samples/s = batch / median round
time, the tail is p99 over 100 rounds or more and the max below. Blocks, not call-by-call interleaving, for
the per-runner figures, because each runtime's idle threads spin for a while after a call (ONNX Runtime,
OpenBLAS) and would slow whichever runner came next; the warm-up absorbs that.

The ONNX Runtime FP32 / TF original ratio is judged from a second, paired measurement: the two timed in
alternating rounds on the same batch (``measure_interleaved``), the ratio the median over rounds of
TF time / ORT time (``paired_ratio``), so load that comes and goes hits both alike. The ratio of the two
block figures is printed beside it. ``widedeep-bench bench paired-ratio`` repeats that paired measurement
to see how far it moves (``paired_ratio``).

Runners: the TF original (SavedModel ``serving_default``), ONNX Runtime FP32 and FP16 (CPU), OpenVINO
FP32 (when importable), the null runner (validation only: the harness's own overhead), and a NumPy
SGEMM ceiling: the tower's three large GEMMs at this batch (``[B,845]x[845,1024]``,
``[B,1024]x[1024,512]``, ``[B,512]x[512,256]``) timed the same way, their FLOP / median time = the
machine's SGEMM rate, divided by ``layout.FLOP_PER_SAMPLE`` (3.04 MFLOP) = samples/s no engine can beat
by much. Next to each figure: the runner's max |p - p_TF| on the first batch.

Targets: the ``[[target]]`` tables of ``--profile`` with ``benchmark = "engine_throughput"``, on the metrics
``ort_fp32_over_tf`` (the paired ratio), ``ort_fp32_over_sgemm_ceiling`` (ratio of samples/s) and
``null_time_over_ort_fp32_time`` (ratio of median times); PASS/MISS per target, exit status 1 when one is
missed or could not be measured. And before any of those, parity: every engine's probabilities on the first
batch agree with the TF original's within ``widedeep_bench.compare.TOLERANCES`` for its precision (PASS/FAIL
per runner, in the JSON under ``parity``); one that does not fails the run however fast it is.
Models and rows: ``widedeep_bench.bench.inputs`` (random-weights SavedModel with the real shapes and its
default conversion, synthetic Criteo-format rows, unless given).
"""

from __future__ import annotations

import sys

import numpy as np

from widedeep_bench import layout
from widedeep_bench.bench import inputs
from widedeep_bench.bench.inputs import ORT_FP32, TF_ORIGINAL
from widedeep_bench.bench.targets import judged, missed, profile_targets, verdict_lines
from widedeep_bench.cache import write_json
from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.environment import provenance, timing_machine
from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import PairedRatio, TimingPlan, measure, measure_interleaved, paired_ratio
from widedeep_bench.progress import say

BENCHMARK = "engine_throughput"
DEFAULT_PLAN = TimingPlan(warmup_s=0.3, min_warmup_rounds=3, min_rounds=100, min_duration_s=1.0)
RUNNERS = (("tensorflow", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16"), ("openvino", "fp32"),
           ("null", "fp32"))
METRICS = {  # what each metric this benchmark measures is, in words
    "ort_fp32_over_tf": "ONNX Runtime FP32 over the TF original, paired ratio of interleaved rounds",
    "ort_fp32_over_sgemm_ceiling": "ONNX Runtime FP32 samples/s over the SGEMM ceiling's, block figures",
    "null_time_over_ort_fp32_time": "null runner median time over ONNX Runtime FP32 median time, block figures",
}


def targets_in(profile: str) -> tuple[str, list]:
    """``(profile source, targets)``: the profile's ``engine_throughput`` targets, each on a metric of ``METRICS``
    (``WidedeepError`` otherwise, and for a profile with none)."""
    return profile_targets(profile, BENCHMARK, measures=METRICS.__contains__,
                           metrics=f"it measures {sorted(METRICS)}")


class SgemmCeiling:
    """The tower's three large GEMMs in float32 NumPy (its BLAS, its threads), shaped like ``infer``."""

    name, precision = "sgemm-ceiling", "fp32"
    SHAPES = ((layout.DEEP_INPUT_DIM, layout.HIDDEN_UNITS[0]), (layout.HIDDEN_UNITS[0], layout.HIDDEN_UNITS[1]),
              (layout.HIDDEN_UNITS[1], layout.HIDDEN_UNITS[2]))

    def __init__(self, batch: int):
        rng = np.random.default_rng(0)
        self.inputs = [rng.standard_normal((batch, k), np.float32) for k, _ in self.SHAPES]
        self.weights = [rng.standard_normal((k, n), np.float32) for k, n in self.SHAPES]
        self.outputs = [np.empty((batch, n), np.float32) for _, n in self.SHAPES]
        self.flop = sum(2 * batch * k * n for k, n in self.SHAPES)

    def infer(self, categorical, numeric) -> None:
        for a, b, out in zip(self.inputs, self.weights, self.outputs):
            np.matmul(a, b, out=out)


def time_in_blocks(subjects: dict, batches: list, batch: int, plan: TimingPlan) -> dict:
    """``{label: Timing}``: each subject's ``infer`` measured in its own block (``measure``), in turn."""
    timings = {}
    for label, subject in subjects.items():
        say(f"timing {label}: {plan.describe()}")
        timings[label] = measure(subject.infer, batches, batch, plan)
    return timings


def agreement_with_tf(runners: dict, batch) -> dict:
    """Each engine's ``Comparison`` with the TF original on one batch, under ``TOLERANCES`` for its
    precision: a fast engine must first be a correct one. The null runner computes nothing and is left out."""
    reference = runners[TF_ORIGINAL].infer(*batch)
    parity = {}
    for label, runner in runners.items():
        if label in (TF_ORIGINAL, "null-fp32"):
            continue
        tolerance = TOLERANCES[runner.options.precision]
        parity[label] = compare(runner.infer(*batch), reference, atol=tolerance.atol, rtol=tolerance.rtol)
    return parity


def ort_over_tf(runners: dict, batches: list, batch: int, plan: TimingPlan) -> dict:
    """ONNX Runtime FP32 and the TF original (``runners[ORT_FP32]``, ``runners[TF_ORIGINAL]``) timed in
    alternating rounds on the same batches (``measure_interleaved``): the paired ratio (the median over rounds
    of TF time / ORT time, > 1: ORT is faster), its quartiles and pairs, and each one's samples/s in that window."""
    say(f"timing {ORT_FP32} and {TF_ORIGINAL} interleaved: {plan.describe()}")
    timings = measure_interleaved({ORT_FP32: runners[ORT_FP32].infer, TF_ORIGINAL: runners[TF_ORIGINAL].infer},
                                  batches, batch, plan)
    ratio = paired_ratio(timings[ORT_FP32], timings[TF_ORIGINAL])
    return {**ratio.as_dict(), "samples_per_s": {label: timing.samples_per_s for label, timing in timings.items()}}


def parity_record(comparison) -> dict:
    """What the JSON keeps of a ``Comparison``: the verdict, the rule and the error it measured."""
    return {"passed": comparison.passed, "atol": comparison.atol, "rtol": comparison.rtol,
            "max_abs": comparison.max_abs, "required_atol": comparison.required_atol,
            "failing_elements": comparison.failing, "elements": comparison.elements}


def parity_targets(report: dict) -> dict[str, bool]:
    """One target per engine compared: agrees with the TF original within its precision's tolerance."""
    return {f"{label} agrees with TF (max |p - p_TF| {record['max_abs']:.1e}, atol {record['atol']:g})":
            record["passed"] for label, record in report["parity"].items()}


def misses(report: dict) -> list[str]:
    """What fails the run: each of the profile's targets missed or not measured, each engine compared that
    does not agree with TF. Empty: the run passed."""
    return missed(report["targets"]) + [f"FAIL {target}" for target, met in parity_targets(report).items() if not met]


def summarise(timings: dict, runners: dict, ceiling: SgemmCeiling, parity: dict) -> dict:
    """Per-runner figures (``Timing.summary()``: samples/s, median / p90 / tail ms, rounds) with the version,
    engine key and max |p - p_TF|; the ceiling's samples/s is its SGEMM rate over 3.04 MFLOP per sample."""
    results = {}
    for label, timing in timings.items():
        results[label] = timing.summary()
        if label in runners:
            record = getattr(runners[label], "build_record", None)
            comparison = parity.get(label)
            results[label].update(version=runners[label].version(),
                                  max_abs_error_vs_tf=None if comparison is None else comparison.max_abs,
                                  agrees_with_tf=None if comparison is None else comparison.passed,
                                  engine_key=None if record is None else record.key)
    sgemm_rate = ceiling.flop / timings[ceiling.name].median_s
    results[ceiling.name].update(gflop_per_s=sgemm_rate / 1e9, samples_per_s=sgemm_rate / layout.FLOP_PER_SAMPLE)
    return results


def ratios_of(results: dict, paired: dict | None) -> dict:
    """The metrics the profile's targets name (``METRICS``), plus the block ratio ORT / TF beside the paired
    one; a metric whose runners did not run is left out (its target then reads as not measured)."""
    ort, tf = results.get(ORT_FP32), results.get(TF_ORIGINAL)
    ratios = {}
    if paired is not None:
        ratios["ort_fp32_over_tf"] = paired["ratio"]
    if ort is not None and tf is not None:
        ratios["ort_fp32_over_tf_blocks"] = ort["samples_per_s"] / tf["samples_per_s"]
    if ort is not None:
        ratios["ort_fp32_over_sgemm_ceiling"] = ort["samples_per_s"] / results[SgemmCeiling.name]["samples_per_s"]
        if "null-fp32" in results:
            ratios["null_time_over_ort_fp32_time"] = results["null-fp32"]["median_ms"] / ort["median_ms"]
    return ratios


def print_report(report: dict) -> None:
    print(f"\nEngine throughput, batch {report['batch']} ({report['method']['blocks']})")
    print(f"{'runner':<18} {'samples/s':>11} {'median ms':>9} {'p90 ms':>8} {'tail ms':>12} {'rounds':>6} "
          f"{'max|p-TF|':>9}  how")
    for label, result in report["results"].items():
        how = (f"SGEMM rate of the 3 tower GEMMs ({result['gflop_per_s']:.1f} GFLOP/s) / 3.04 MFLOP per sample"
               if label == SgemmCeiling.name else "batch / median infer() time")
        error = result.get("max_abs_error_vs_tf")
        error_text = "-" if error is None else f"{error:.1e}"
        tail = f"{result['tail_ms']:.3f} {result['tail_statistic']}"
        print(f"{label:<18} {result['samples_per_s']:>11,.0f} {result['median_ms']:>9.3f} {result['p90_ms']:>8.3f} "
              f"{tail:>12} {result['rounds']:>6} {error_text:>9}  {how}")
    for label, reason in report["skipped"].items():
        print(f"{label:<18} {'skipped':>11}  {reason}")
    ratios, paired = report["ratios"], report["paired"]
    if paired is not None:
        print(f"\nORT FP32 / TF original      {paired['ratio']:7.3f}x  paired: median of {paired['pairs']} "
              f"interleaved rounds, quartiles {paired['q25']:.3f}..{paired['q75']:.3f}")
    if "ort_fp32_over_tf_blocks" in ratios:
        print(f"ORT FP32 / TF original      {ratios['ort_fp32_over_tf_blocks']:7.3f}x  blocks: ratio of samples/s")
    if "ort_fp32_over_sgemm_ceiling" in ratios:
        print(f"ORT FP32 / SGEMM ceiling    {ratios['ort_fp32_over_sgemm_ceiling']:7.1%}  blocks: ratio of samples/s")
    if "null_time_over_ort_fp32_time" in ratios:
        print(f"null / ORT FP32 time        {ratios['null_time_over_ort_fp32_time']:7.2%}  blocks: ratio of "
              f"median times")
    print(f"\ntargets from {report['profile']}:")
    for line in verdict_lines(report["targets"]):
        print(line)
    for target, met in parity_targets(report).items():
        print(f"{'PASS' if met else 'FAIL'}  {target}")


def run(args) -> dict:
    """The benchmark as ``widedeep-bench bench engines`` asks for it (``args``: ``saved_model``, ``onnx``,
    ``eval_csv``, ``batch``, ``plan``, ``profile_source``, ``targets``, ``json``): prints the table and the
    verdicts, writes the report to ``args.json`` and returns it (``misses`` says whether it passed)."""
    saved_model, onnx_path = inputs.models(args.saved_model, args.onnx)
    rows, rows_source = inputs.eval_rows(args.eval_csv)
    batches = inputs.real_batches(rows, args.batch, rows_source)
    runners, skipped = inputs.activated_runners(RUNNERS, saved_model, onnx_path)
    if TF_ORIGINAL not in runners:
        raise WidedeepError(f"the TF original cannot run here ({skipped[TF_ORIGINAL]}): every figure is "
                            f"compared with it")
    parity = agreement_with_tf(runners, batches[0])
    machine = timing_machine()  # its load averages as the timing starts
    ceiling = SgemmCeiling(args.batch)
    timings = time_in_blocks({**runners, ceiling.name: ceiling}, batches, args.batch, args.plan)
    paired = ort_over_tf(runners, batches, args.batch, args.plan) if ORT_FP32 in runners else None
    for runner in runners.values():
        runner.deactivate()
    results = summarise(timings, runners, ceiling, parity)
    ratios = ratios_of(results, paired)
    targets = [judged(target, ratios.get(target.metric)) for target in args.targets]
    where = f"batch {args.batch}; batches rotated over {len(batches)} distinct batches of {rows_source}"
    method = {"blocks": f"each runner in turn, one infer() call (feed validation included) per round; "
                        f"{args.plan.describe()}; samples/s = batch / median round; {where}",
              "paired": f"{ORT_FP32} and {TF_ORIGINAL} in alternating rounds on the same batch, "
                        f"{args.plan.describe()}; {PairedRatio.METHOD}",
              "metrics": dict(METRICS), "clock": "time.perf_counter"}
    report = {"benchmark": BENCHMARK, "method": method, "machine": machine, "command": sys.argv, **provenance(),
              "models": {"saved_model": str(saved_model), "onnx": str(onnx_path)}, "rows": rows_source,
              "batch": args.batch, "results": results, "skipped": skipped, "paired": paired, "ratios": ratios,
              "profile": args.profile_source, "targets": targets,
              "parity": {label: parity_record(comparison) for label, comparison in parity.items()},
              "note": "timings on a shared machine are noisy: compare ratios from the same run"}
    write_json(args.json, report)
    print_report(report)
    print(f"\nwrote {args.json}")
    return report
