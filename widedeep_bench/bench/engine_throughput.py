"""Engine throughput at batch 1024, 4096 and 16384 on real-format rows: every runner in every precision it
runs here, beside a SGEMM ceiling per batch, in one run.

    widedeep-bench bench engines [--saved-model DIR --onnx FILE] [--eval-csv FILE] [--calibration-csv FILE]
                                 [--batch 1024,4096,16384] [--rounds 100] [--duration 1.0] [--warmup 3]
                                 [--warmup-s 0.3] [--profile cpu-default] [--json out/engine_throughput.json]

Cases: ONNX Runtime, OpenVINO and torch (CPU) in each of FP32, FP16, BF16 and INT8, the TF original (SavedModel
``serving_default``, FP32) and the null runner (validation only: the harness's own overhead). A case runs where
its runner's ``unavailable_reason`` is None; every other one is printed and recorded with that reason (never
dropped, never run under another precision). INT8 engines are built from calibration rows of their own
(``inputs.calibration_rows``: synthetic rows of another row seed than the timed ones, or ``--calibration-csv``);
the JSON names their source and SHA-256. Every case is measured at every ``--batch`` size.

All timing is ``widedeep_bench.measure``'s. Block figures: each runner in turn is warmed up (at least
``--warmup-s`` seconds and ``--warmup`` calls, untimed), then timed for at least ``--duration`` seconds and a
number of rounds: ``--rounds`` at the smallest batch, and as many samples in fewer rounds at a larger one
(``plan_at``: at least ``MIN_ROUNDS``), so batch 16384 does not take 16x batch 1024's time. A round is one
``runner.infer`` call (feed validation included) on the next of the distinct real batches (never one batch
repeated, never all-zero indices); samples/s = batch / median round time, the tail is p99 over 100 rounds or
more and the max below. Blocks, not call-by-call interleaving, for the per-runner figures, because each
runtime's idle threads spin for a while after a call (ONNX Runtime, OpenBLAS) and would slow whichever runner
came next; the warm-up absorbs that.

The SGEMM ceiling, per batch: the tower's three large GEMMs in NumPy float32 (``[B,845]x[845,1024]``,
``[B,1024]x[1024,512]``, ``[B,512]x[512,256]``) timed the same way, their FLOP / median time = the machine's
SGEMM rate, divided by ``layout.FLOP_PER_SAMPLE`` (3.04 MFLOP) = samples/s no FP32 engine can beat by much.

The ratios the targets judge are taken at ``RATIO_BATCH`` (1024) where it is measured, else at the first
``--batch`` size, and recorded for every batch beside. The ONNX Runtime FP32 / TF original ratio is judged from
a second, paired measurement at that batch: the two timed in alternating rounds on the same batch
(``measure_interleaved``), the ratio the median over rounds of TF time / ORT time (``paired_ratio``), so load
that comes and goes hits both alike. The ratio of the two block figures is printed beside it.
``widedeep-bench bench paired-ratio`` repeats that paired measurement to see how far it moves.

Targets: the ``[[target]]`` tables of ``--profile`` with ``benchmark = "engine_throughput"``, on ``METRICS``:
``ort_fp32_over_tf`` (the paired ratio), ``ort_fp32_over_sgemm_ceiling`` (ratio of samples/s),
``null_time_over_ort_fp32_time`` (ratio of median times) and ``fastest_reduced_over_ort_fp32``: the fastest
BF16 or INT8 engine's samples/s over ONNX Runtime FP32's (block figures, same run; the engine and its parity
error are printed beside). A reduced precision wins speed only with the arithmetic for it, so that target is
judged only on a CPU whose flags (``environment.cpu_flags``, recorded in the JSON) include one of
``REDUCED_ARITHMETIC_FLAGS`` (AMX, AVX512-BF16, AVX512-VNNI, AVX-VNNI); elsewhere it is recorded as not judged,
with the reason, and neither passes nor fails the run, while its figure is still printed as measured.
PASS/MISS per judged target, exit status 1 when one is missed or could not be measured.

And before any of those, parity: every engine's probabilities on the first batch agree with the TF original's
within ``widedeep_bench.compare.TOLERANCES`` for its precision (PASS/FAIL per engine, in the JSON under
``parity``); one that does not, or whose precision has no tolerance, fails the run however fast it is.
Models and rows: ``widedeep_bench.bench.inputs`` (random-weights SavedModel with the real shapes and its
default conversion, synthetic Criteo-format rows, unless given). The JSON records the CPU model and SIMD flags
(``machine``) and the software versions with every figure.
"""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np

from widedeep_bench import layout
from widedeep_bench.bench import inputs
from widedeep_bench.bench.inputs import ORT_FP32, TF_ORIGINAL
from widedeep_bench.bench.targets import judged, missed, not_applicable, profile_targets, verdict_lines
from widedeep_bench.cache import write_json
from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.environment import provenance, timing_machine
from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import PairedRatio, TimingPlan, measure, measure_interleaved, paired_ratio
from widedeep_bench.precision import CALIBRATED_PRECISIONS, PRECISIONS, REDUCED_PRECISIONS, prove_precision
from widedeep_bench.progress import say

BENCHMARK = "engine_throughput"
DEFAULT_PLAN = TimingPlan(warmup_s=0.3, min_warmup_rounds=3, min_rounds=100, min_duration_s=1.0)
DEFAULT_BATCHES = (1024, 4096, 16384)
RATIO_BATCH = 1024  # the batch the targets' ratios are taken at, where measured (else the first --batch)
MIN_ROUNDS = 10  # timed rounds at any batch, at least (or --rounds, if fewer)
SYNTHETIC_BATCHES = 4  # synthetic rows: at least this many distinct batches of the largest size
RUNNERS = (("tensorflow", "fp32"),
           *((name, precision) for name in ("onnxruntime", "openvino", "torch") for precision in PRECISIONS),
           ("null", "fp32"))
NULL = "null-fp32"
REDUCED_FOR_SPEED = ("bf16", "int8")  # FP16 on a CPU measures rounding, not speed (engines/onnxruntime.py)
# The instructions that make BF16 or INT8 arithmetic faster than FP32 (/proc/cpuinfo flags): without one of
# them a reduced-precision engine converts and computes in FP32 or emulates, and cannot win by 2.5x.
REDUCED_ARITHMETIC_FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni")
FLAGS_NEEDED = {"fastest_reduced_over_ort_fp32": REDUCED_ARITHMETIC_FLAGS}  # metric -> judged only with one
METRICS = {  # what each metric this benchmark measures is, in words
    "ort_fp32_over_tf": "ONNX Runtime FP32 over the TF original, paired ratio of interleaved rounds",
    "ort_fp32_over_sgemm_ceiling": "ONNX Runtime FP32 samples/s over the SGEMM ceiling's, block figures",
    "null_time_over_ort_fp32_time": "null runner median time over ONNX Runtime FP32 median time, block figures",
    "fastest_reduced_over_ort_fp32": "the fastest BF16 or INT8 engine's samples/s over ONNX Runtime FP32's, block "
                                     f"figures; judged only on a CPU with one of {', '.join(REDUCED_ARITHMETIC_FLAGS)}",
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


def ratio_batch(batches) -> int:
    """The batch the targets' ratios are taken at: ``RATIO_BATCH`` where measured, else the first of ``batches``."""
    return RATIO_BATCH if RATIO_BATCH in batches else batches[0]


def plan_at(plan: TimingPlan, batch: int, smallest: int) -> TimingPlan:
    """``plan`` at ``batch``: its ``min_rounds`` count rounds at the ``smallest`` batch; a larger batch times
    about as many samples in fewer rounds, at least ``MIN_ROUNDS`` (or ``min_rounds``, if fewer). The measured
    duration is ``plan``'s at every batch."""
    rounds = max(min(plan.min_rounds, MIN_ROUNDS), math.ceil(plan.min_rounds * smallest / batch))
    return dataclasses.replace(plan, min_rounds=rounds)


def time_in_blocks(subjects: dict, batches: list, batch: int, plan: TimingPlan) -> dict:
    """``{label: Timing}``: each subject's ``infer`` measured in its own block (``measure``), in turn."""
    timings = {}
    for label, subject in subjects.items():
        say(f"timing {label} at batch {batch}: {plan.describe()}")
        timings[label] = measure(subject.infer, batches, batch, plan)
    return timings


def agreement_with_tf(runners: dict, batch) -> dict:
    """Each engine's parity record (``parity_record``) against the TF original on one batch, under
    ``TOLERANCES`` for its precision: a fast engine must first be a correct one. An engine whose precision has
    no tolerance there fails, with its error measured and the reason. The null runner computes nothing and is
    left out."""
    reference = runners[TF_ORIGINAL].infer(*batch)
    parity = {}
    for label, runner in runners.items():
        if label in (TF_ORIGINAL, NULL):
            continue
        precision, probabilities = runner.options.precision, runner.infer(*batch)
        tolerance = TOLERANCES.get(precision)
        if tolerance is None:
            parity[label] = {"precision": precision, "passed": False, "atol": None, "rtol": None,
                             "max_abs": float(np.max(np.abs(probabilities.astype(np.float64) - reference))),
                             "why": f"widedeep_bench.compare.TOLERANCES has no {precision!r} entry: its parity "
                                    f"cannot be judged"}
        else:
            parity[label] = {"precision": precision, **parity_record(compare(
                probabilities, reference, atol=tolerance.atol, rtol=tolerance.rtol))}
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
    targets = {}
    for label, record in report["parity"].items():
        rule = f"atol {record['atol']:g}" if record.get("atol") is not None else record["why"]
        targets[f"{label} agrees with TF (max |p - p_TF| {record['max_abs']:.1e}, {rule})"] = record["passed"]
    return targets


def misses(report: dict) -> list[str]:
    """What fails the run: each of the profile's targets missed or not measured, each engine compared that
    does not agree with TF. Empty: the run passed."""
    return missed(report["targets"]) + [f"FAIL {target}" for target, met in parity_targets(report).items() if not met]


def summarise(timings: dict, runners: dict, ceiling: SgemmCeiling, parity: dict) -> dict:
    """Per-runner figures at one batch (``Timing.summary()``: samples/s, median / p90 / tail ms, rounds) with
    the runner, precision, version, engine key and max |p - p_TF|; the ceiling's samples/s is its SGEMM rate
    over 3.04 MFLOP per sample."""
    results = {}
    for label, timing in timings.items():
        results[label] = timing.summary()
        if label in runners:
            runner = runners[label]
            record = getattr(runner, "build_record", None)
            agreement = parity.get(label)
            results[label].update(runner=runner.name, precision=runner.options.precision, version=runner.version(),
                                  max_abs_error_vs_tf=None if agreement is None else agreement["max_abs"],
                                  agrees_with_tf=None if agreement is None else agreement["passed"],
                                  engine_key=None if record is None else record.key)
    sgemm_rate = ceiling.flop / timings[ceiling.name].median_s
    results[ceiling.name].update(gflop_per_s=sgemm_rate / 1e9, samples_per_s=sgemm_rate / layout.FLOP_PER_SAMPLE)
    return results


def fastest_reduced(results: dict, proven: set[str]) -> str | None:
    """The label of the fastest BF16 or INT8 engine among ``results`` (one batch's) that proved its precision
    (``proven``: labels whose evidence showed it and whose outputs moved away from FP32), or None."""
    reduced = {label: r["samples_per_s"] for label, r in results.items()
               if r.get("precision") in REDUCED_FOR_SPEED and label in proven}
    return max(reduced, key=reduced.get) if reduced else None


def ratios_of(results: dict, paired: dict | None, proven: set[str]) -> dict:
    """The metrics the profile's targets name (``METRICS``) from one batch's ``results``, plus the block ratio
    ORT / TF beside the paired one; a metric whose runners did not run is left out (its target then reads as not
    measured)."""
    ort, tf = results.get(ORT_FP32), results.get(TF_ORIGINAL)
    ratios = {}
    if paired is not None:
        ratios["ort_fp32_over_tf"] = paired["ratio"]
    if ort is not None and tf is not None:
        ratios["ort_fp32_over_tf_blocks"] = ort["samples_per_s"] / tf["samples_per_s"]
    if ort is not None:
        ratios["ort_fp32_over_sgemm_ceiling"] = ort["samples_per_s"] / results[SgemmCeiling.name]["samples_per_s"]
        if NULL in results:
            ratios["null_time_over_ort_fp32_time"] = results[NULL]["median_ms"] / ort["median_ms"]
        fastest = fastest_reduced(results, proven)
        if fastest is not None:
            ratios["fastest_reduced_over_ort_fp32"] = results[fastest]["samples_per_s"] / ort["samples_per_s"]
    return ratios


def verdict(target, measured: float | None, cpu_flags) -> dict:
    """One target judged (``judged``), except a metric of ``FLAGS_NEEDED`` on a CPU whose ``cpu_flags`` include
    none of the flags it needs: recorded as not judged (``not_applicable``), with the reason, its figure kept."""
    needed = FLAGS_NEEDED.get(target.metric)
    if needed is not None and not set(needed) & set(cpu_flags):
        win = "" if target.min is None else f" to win {target.min:g}x with"
        return not_applicable(target, measured, f"CPU has none of {', '.join(needed)}: no reduced-precision "
                                                f"arithmetic{win}")
    return judged(target, measured)


def cases_of(runners: dict, skipped: dict, calibration, batch: tuple) -> dict:
    """Every case of ``RUNNERS`` in order: its runner and precision, and either why it did not run or what the
    engine shows of its precision: for FP32 the runtime's own account, for a reduced precision the proof
    (``precision.prove_precision`` on ``batch``, beside the same runner's FP32 engine) and whether it holds
    (``proven``: only a proven engine can be the fastest BF16/INT8 one); INT8 cases name their calibration
    rows."""
    cases = {}
    for name, precision in RUNNERS:
        label = f"{name}-{precision}"
        case = {"runner": name, "precision": precision, "measured": label in runners,
                "unavailable": skipped.get(label)}
        if label in runners and precision in REDUCED_PRECISIONS:
            fp32 = runners.get(f"{name}-fp32")
            if fp32 is None:
                case.update(precision_evidence=str(runners[label].precision_evidence()), proven=False,
                            not_proven=f"no {name}-fp32 engine ran to compare its outputs with")
            else:
                proof = prove_precision(runners[label], fp32, *batch)
                case.update(precision_evidence=str(proof.evidence), precision_proof=proof.as_dict(),
                            proven=proof.evidence.shown and proof.max_abs_vs_fp32 >= TOLERANCES["fp32"].atol)
        elif label in runners:
            case["precision_evidence"] = str(runners[label].precision_evidence())
        if precision in CALIBRATED_PRECISIONS:
            case["calibration"] = {"source": calibration.source, "rows": calibration.rows,
                                   "sha256": calibration.digest}
        cases[label] = case
    return cases


def print_batch_table(batch: int, results: dict, method: str) -> None:
    print(f"\nEngine throughput, batch {batch} ({method})")
    print(f"{'runner':<18} {'samples/s':>11} {'median ms':>9} {'p90 ms':>8} {'tail ms':>12} {'rounds':>6} "
          f"{'max|p-TF|':>9}  how")
    for label, result in results.items():
        how = (f"SGEMM rate of the 3 tower GEMMs ({result['gflop_per_s']:.1f} GFLOP/s) / 3.04 MFLOP per sample"
               if label == SgemmCeiling.name else "batch / median infer() time")
        error = result.get("max_abs_error_vs_tf")
        error_text = "-" if error is None else f"{error:.1e}"
        tail = f"{result['tail_ms']:.3f} {result['tail_statistic']}"
        print(f"{label:<18} {result['samples_per_s']:>11,.0f} {result['median_ms']:>9.3f} {result['p90_ms']:>8.3f} "
              f"{tail:>12} {result['rounds']:>6} {error_text:>9}  {how}")


def print_grid(report: dict) -> None:
    """Samples/s of every case at every batch, the SGEMM ceiling beside them, and the cases that did not run."""
    sizes = [str(batch) for batch in report["batches"]]
    print(f"\nsamples/s by batch {' '.join(f'{size:>11}' for size in sizes)}  {'max|p-TF|':>9}")
    for label, rates in report["samples_per_s"].items():
        agreement = report["parity"].get(label)
        error = "-" if agreement is None else f"{agreement['max_abs']:.1e}"
        print(f"{label:<18} {' '.join(f'{rates[size]:>11,.0f}' for size in sizes)}  {error:>9}")
    shares = [report["ratios_by_batch"][size].get("ort_fp32_over_sgemm_ceiling") for size in sizes]
    if None not in shares:
        print(f"{'ORT FP32 / ceiling':<18} {' '.join(f'{share:>11.1%}' for share in shares)}")
    for label, reason in report["skipped"].items():
        print(f"{label:<18} {'not run':>11}  {reason}")


def print_ratios(report: dict) -> None:
    ratios, paired, fastest = report["ratios"], report["paired"], report["fastest_reduced"]
    print(f"\nratios at batch {report['ratio_batch']}:")
    if paired is not None:
        print(f"ORT FP32 / TF original      {paired['ratio']:7.3f}x  paired: median of {paired['pairs']} "
              f"interleaved rounds, quartiles {paired['q25']:.3f}..{paired['q75']:.3f}")
    if "ort_fp32_over_tf_blocks" in ratios:
        print(f"ORT FP32 / TF original      {ratios['ort_fp32_over_tf_blocks']:7.3f}x  blocks: ratio of samples/s")
    if "ort_fp32_over_sgemm_ceiling" in ratios:
        print(f"ORT FP32 / SGEMM ceiling    {ratios['ort_fp32_over_sgemm_ceiling']:7.1%}  blocks: ratio of samples/s")
    if "null_time_over_ort_fp32_time" in ratios:
        print(f"null / ORT FP32 time        {ratios['null_time_over_ort_fp32_time']:7.2%}  blocks: ratio of "
              f"median times")
    if fastest is not None and "fastest_reduced_over_ort_fp32" in ratios:
        error = fastest["max_abs_error_vs_tf"]
        print(f"fastest BF16/INT8 / ORT FP32 {ratios['fastest_reduced_over_ort_fp32']:6.3f}x  {fastest['engine']}: "
              f"{fastest['samples_per_s']:,.0f} vs {fastest['ort_fp32_samples_per_s']:,.0f} samples/s; max |p - p_TF| "
              f"{'-' if error is None else f'{error:.1e}'} (parity {'PASS' if fastest['agrees_with_tf'] else 'FAIL'})")
    elif fastest is None:
        print("fastest BF16/INT8 / ORT FP32      -   no BF16 or INT8 engine ran here")


def print_report(report: dict) -> None:
    for size, results in report["results"].items():
        print_batch_table(int(size), results, report["method"]["blocks"][size])
    print_grid(report)
    print_ratios(report)
    print(f"\ntargets from {report['profile']}:")
    for line in verdict_lines(report["targets"]):
        print(line)
    for target, met in parity_targets(report).items():
        print(f"{'PASS' if met else 'FAIL'}  {target}")


def measure_batches(runners: dict, rows, rows_source: str, sizes, plan: TimingPlan) -> tuple[dict, dict, dict]:
    """``({batch: {label: Timing}}, {batch: SgemmCeiling}, {batch: distinct batches rotated})``: every runner and
    the ceiling in blocks, at every batch size, each size under ``plan_at``."""
    timings, ceilings, rotated = {}, {}, {}
    for batch in sizes:
        ceilings[batch] = SgemmCeiling(batch)
        batches = inputs.real_batches(rows, batch, rows_source)
        rotated[batch] = len(batches)
        timings[batch] = time_in_blocks({**runners, SgemmCeiling.name: ceilings[batch]}, batches, batch,
                                        plan_at(plan, batch, min(sizes)))
    return timings, ceilings, rotated


def method_of(plan: TimingPlan, sizes, rotated: dict, rows_source: str, paired_plan: TimingPlan) -> dict:
    """How the figures were taken, in words, per batch."""
    at = ratio_batch(sizes)
    return {"blocks": {str(batch): f"each runner in turn, one infer() call (feed validation included) per round; "
                                   f"{plan_at(plan, batch, min(sizes)).describe()}; samples/s = batch / median "
                                   f"round; batch {batch}; batches rotated over {rotated[batch]} distinct batches "
                                   f"of {rows_source}" for batch in sizes},
            "paired": f"{ORT_FP32} and {TF_ORIGINAL} in alternating rounds on the same batch, batch {at}, "
                      f"{paired_plan.describe()}; {PairedRatio.METHOD}",
            "ratios": f"at batch {at} ({RATIO_BATCH} where measured, else the first --batch)",
            "metrics": dict(METRICS), "clock": "time.perf_counter"}


def figures_of(timings: dict, ceilings: dict, runners: dict, parity: dict, paired: dict | None, at: int,
               proven: set[str]) -> dict:
    """The report's figures: ``results`` and ``ratios_by_batch`` per batch (keys are batch sizes as strings, as
    JSON has them), ``samples_per_s`` per case per batch, the ``ratios`` at batch ``at`` and the fastest BF16 or
    INT8 engine there among those that proved their precision (``proven``)."""
    results = {str(batch): summarise(timings[batch], runners, ceilings[batch], parity) for batch in timings}
    ratios_by_batch = {size: ratios_of(figures, paired if size == str(at) else None, proven)
                       for size, figures in results.items()}
    fastest = fastest_reduced(results[str(at)], proven)
    labels = next(iter(results.values()))
    return {"results": results,
            "samples_per_s": {label: {size: figures[label]["samples_per_s"] for size, figures in results.items()}
                              for label in labels},
            "ratios": ratios_by_batch[str(at)], "ratios_by_batch": ratios_by_batch,
            "fastest_reduced": None if fastest is None else {
                "engine": fastest, "batch": at, "samples_per_s": results[str(at)][fastest]["samples_per_s"],
                "ort_fp32_samples_per_s": results[str(at)].get(ORT_FP32, {}).get("samples_per_s"),
                "max_abs_error_vs_tf": parity[fastest]["max_abs"], "agrees_with_tf": parity[fastest]["passed"]}}


def run(args) -> dict:
    """The benchmark as ``widedeep-bench bench engines`` asks for it (``args``: ``saved_model``, ``onnx``,
    ``eval_csv``, ``calibration_csv``, ``batches``, ``plan``, ``profile_source``, ``targets``, ``json``): prints
    the tables and the verdicts, writes the report to ``args.json`` and returns it (``misses`` says whether it
    passed)."""
    sizes, plan = tuple(args.batches), args.plan
    at, paired_plan = ratio_batch(sizes), plan_at(args.plan, ratio_batch(sizes), min(sizes))
    saved_model, onnx_path = inputs.models(args.saved_model, args.onnx)
    rows, rows_source = inputs.eval_rows(args.eval_csv, max(inputs.SYNTHETIC_ROWS, SYNTHETIC_BATCHES * max(sizes)))
    calibration = inputs.calibration_rows(args.calibration_csv, rows)
    runners, skipped = inputs.activated_runners(RUNNERS, saved_model, onnx_path, calibration)
    if TF_ORIGINAL not in runners:
        raise WidedeepError(f"the TF original cannot run here ({skipped[TF_ORIGINAL]}): every figure is "
                            f"compared with it")
    parity = agreement_with_tf(runners, inputs.real_batches(rows, at, rows_source)[0])
    cases = cases_of(runners, skipped, calibration, inputs.real_batches(rows, at, rows_source)[0])
    machine = timing_machine()  # its load averages and CPU flags as the timing starts
    timings, ceilings, rotated = measure_batches(runners, rows, rows_source, sizes, plan)
    paired = (ort_over_tf(runners, inputs.real_batches(rows, at, rows_source), at, paired_plan)
              if ORT_FP32 in runners else None)
    for runner in runners.values():
        runner.deactivate()
    proven = {label for label, case in cases.items() if case.get("proven")}
    figures = figures_of(timings, ceilings, runners, parity, paired, at, proven)
    targets = [verdict(target, figures["ratios"].get(target.metric), machine["cpu_flags"]) for target in args.targets]
    report = {"benchmark": BENCHMARK, "method": method_of(plan, sizes, rotated, rows_source, paired_plan),
              "machine": machine, "command": sys.argv, **provenance(),
              "models": {"saved_model": str(saved_model), "onnx": str(onnx_path)}, "rows": rows_source,
              "calibration": calibration.as_dict(), "batches": list(sizes), "ratio_batch": at, "cases": cases,
              **figures, "skipped": skipped, "paired": paired, "profile": args.profile_source, "targets": targets,
              "parity": parity, "note": "timings on a shared machine are noisy: compare ratios from the same run"}
    write_json(args.json, report)
    print_report(report)
    print(f"\nwrote {args.json}")
    return report
