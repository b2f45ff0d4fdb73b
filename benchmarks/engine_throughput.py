"""Engine throughput at batch 1024 on real-format rows, every runner and a SGEMM ceiling in one run.

    python benchmarks/engine_throughput.py [--saved-model DIR --onnx FILE] [--eval-csv FILE]
                                           [--batch 1024] [--rounds 40] [--passes 4] [--warmup 3]
                                           [--json PATH]

Measured in one process, in blocks: each pass gives every runner a block of warm-up calls (not timed)
then timed calls, the runner order rotating per pass, so slow drift in the machine's load is shared
out; blocks rather than call-by-call interleaving because each runtime's idle threads spin for a
while after a call (ONNX Runtime, OpenBLAS) and would slow whichever runner came next. Batches rotate
through the rows (never the same batch twice in a row, never all-zero indices); each batch is one
``runner.infer`` call (feed validation included) timed with ``time.perf_counter``; the figure is the
median over all timed calls, as samples/s = batch / median.

Runners: the TF original (SavedModel ``serving_default``), ONNX Runtime FP32 and FP16 (CPU), OpenVINO
FP32 (when importable), the null runner (validation only: the harness's own overhead), and a NumPy
SGEMM ceiling: the tower's three large GEMMs at this batch (``[B,845]x[845,1024]``,
``[B,1024]x[1024,512]``, ``[B,512]x[512,256]``) timed the same way, their FLOP / median time = the
machine's SGEMM rate, divided by ``layout.FLOP_PER_SAMPLE`` (3.04 MFLOP) = samples/s no engine can beat
by much. Next to each figure: the runner's max |p - p_TF| on the first batch.

Targets (issue 4; exit status 1 when one is missed): ONNX Runtime FP32 >= 1.25x the TF original;
ONNX Runtime FP32 >= 90% of the SGEMM ceiling; null time < 2% of ONNX Runtime FP32 time. And before
any of those, parity: every engine's probabilities on the first batch agree with the TF original's
within ``widedeep_bench.compare.TOLERANCES`` for its precision (PASS/FAIL per runner, in the JSON
under ``parity``); one that does not fails the run however fast it is.
Without ``--eval-csv`` the rows are synthetic Criteo-format rows (``widedeep_bench.synthetic``) read
by the real preprocessing (``read_eval_csv``); without ``--saved-model``/``--onnx`` the model is a
random-weights SavedModel with the real shapes and the suite's default conversion of it (same FLOP,
same kernels as the real model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from widedeep_bench import layout  # noqa: E402
from widedeep_bench.cache import cache_root, lock_for, write_json  # noqa: E402
from widedeep_bench.compare import TOLERANCES, compare  # noqa: E402
from widedeep_bench.progress import progress, say  # noqa: E402

WEIGHTS_SEED = 7
SYNTHETIC_ROWS = 16 * 1024
TF_RATIO_TARGET = 1.25  # ORT FP32 samples/s over the TF original's
CEILING_FRACTION_TARGET = 0.90  # ORT FP32 samples/s over the SGEMM ceiling
NULL_FRACTION_TARGET = 0.02  # null runner time over ORT FP32 time
RUNNERS = (("tensorflow", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16"), ("openvino", "fp32"),
           ("null", "fp32"))


def default_models() -> tuple[Path, Path]:
    """A random-weights SavedModel with the real shapes (made once in the cache) and its default conversion
    (``cached_conversion``: simplified, Gemm layers, symbolic batch), the ONNX the suite runs."""
    from widedeep_bench.conversion import cached_conversion
    from widedeep_bench.model.saved_model import write_saved_model
    from widedeep_bench.model.weights import WideDeepWeights

    saved_model = cache_root() / "benchmarks" / f"random-weights-{WEIGHTS_SEED}" / "saved_model"
    with lock_for(saved_model):
        if not saved_model.is_dir():
            say(f"writing a random-weights SavedModel to {saved_model}")
            write_saved_model(WideDeepWeights.random(WEIGHTS_SEED), saved_model)
    return saved_model, cached_conversion(saved_model).final


def eval_rows(eval_csv: Path | None, rows: int = SYNTHETIC_ROWS):
    """The rows to feed (the user's CSV, or ``rows`` synthetic ones), and how they were made (recorded
    next to every figure)."""
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.synthetic.criteo_rows import cached_criteo_csv

    if eval_csv is not None:
        return load_eval_tensors(eval_csv), f"{eval_csv} (user-supplied Criteo CSV)"
    path = cached_criteo_csv(rows)
    return load_eval_tensors(path), f"{rows} synthetic Criteo-format rows ({path.name}), read_eval_csv"


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


def time_in_blocks(runners: dict, batches: list, warmup: int, rounds: int, passes: int) -> dict[str, list[float]]:
    """Seconds per ``infer`` call for every runner: ``passes`` passes, each giving every runner a block of
    ``warmup`` untimed then ``rounds // passes`` timed calls, the runner order rotating per pass."""
    seconds = {label: [] for label in runners}
    labels = list(runners)
    per_pass = max(1, rounds // passes)
    with progress(desc="timing", total=passes * len(labels) * (warmup + per_pass), unit="batch") as bar:
        for pass_ in range(passes):
            shift = pass_ % len(labels)
            for label in labels[shift:] + labels[:shift]:
                infer = runners[label].infer
                for call in range(warmup + per_pass):
                    categorical, numeric = batches[(pass_ * per_pass + call) % len(batches)]
                    started = time.perf_counter()
                    infer(categorical, numeric)
                    elapsed = time.perf_counter() - started
                    if call >= warmup:
                        seconds[label].append(elapsed)
                    bar.update()
    return seconds


REFERENCE = "tensorflow-fp32"


def agreement_with_tf(runners: dict, batch) -> dict:
    """Each engine's ``Comparison`` with the TF original on one batch, under ``TOLERANCES`` for its
    precision: a fast engine must first be a correct one. The null runner computes nothing and is left out."""
    reference = runners[REFERENCE].infer(*batch)
    parity = {}
    for label, runner in runners.items():
        if label in (REFERENCE, "null-fp32"):
            continue
        tolerance = TOLERANCES[runner.options.precision]
        parity[label] = compare(runner.infer(*batch), reference, atol=tolerance.atol, rtol=tolerance.rtol)
    return parity


def parity_record(comparison) -> dict:
    """What the JSON keeps of a ``Comparison``: the verdict, the rule and the error it measured."""
    return {"passed": comparison.passed, "atol": comparison.atol, "rtol": comparison.rtol,
            "max_abs": comparison.max_abs, "required_atol": comparison.required_atol,
            "failing_elements": comparison.failing, "elements": comparison.elements}


def parity_targets(report: dict) -> dict[str, bool]:
    """One target per engine compared: agrees with the TF original within its precision's tolerance."""
    return {f"{label} agrees with TF (max |p - p_TF| {record['max_abs']:.1e}, atol {record['atol']:g})":
            record["passed"] for label, record in report["parity"].items()}


def exit_status(report: dict) -> int:
    """0 only if the speed targets were measured and met and every engine compared agrees with TF."""
    speed_met = bool(report["targets"]) and all(report["targets"].values())
    return 0 if speed_met and all(parity_targets(report).values()) else 1


def machine() -> dict:
    """The suite's machine record, plus what matters to a CPU timing: physical cores and the load."""
    import joblib

    from widedeep_bench.environment import machine as machine_record

    return {**machine_record(), "physical_cores": joblib.cpu_count(only_physical_cores=True),
            "numpy": np.__version__, "load_average_1min_at_start": os.getloadavg()[0]}


def activated_runners(saved_model: Path, onnx_path: Path) -> tuple[dict, dict]:
    """``{label: active runner}`` for each of ``RUNNERS`` that runs here, and ``{label: why not}`` for the rest."""
    from widedeep_bench.engines import EngineOptions, make_runner
    from widedeep_bench.engines.registry import runner_class

    runners, skipped = {}, {}
    for name, precision in RUNNERS:
        label, options = f"{name}-{precision}", EngineOptions(precision=precision)
        reason = runner_class(name).unavailable_reason(options)
        if reason is not None:
            skipped[label] = reason
            say(f"skipping {label}: {reason}")
            continue
        runners[label] = make_runner(name, {"tensorflow": saved_model, "null": None}.get(name, onnx_path), options)
        runners[label].activate()
    return runners, skipped


def summarise(seconds: dict, runners: dict, ceiling: SgemmCeiling, parity: dict, batch: int) -> dict:
    """Per-runner figures: median/p10/p90 ms, samples/s, version, engine key, max |p - p_TF|."""
    results = {}
    for label, samples in seconds.items():
        median = statistics.median(samples)
        results[label] = {"median_ms": median * 1e3, "p10_ms": float(np.percentile(samples, 10)) * 1e3,
                          "p90_ms": float(np.percentile(samples, 90)) * 1e3,
                          "samples_per_s": batch / median, "calls": len(samples)}
        if label in runners:
            record = getattr(runners[label], "build_record", None)
            comparison = parity.get(label)
            results[label].update(version=runners[label].version(),
                                  max_abs_error_vs_tf=None if comparison is None else comparison.max_abs,
                                  agrees_with_tf=None if comparison is None else comparison.passed,
                                  engine_key=None if record is None else record.key)
    sgemm_rate = ceiling.flop / statistics.median(seconds[ceiling.name])
    results[ceiling.name].update(gflop_per_s=sgemm_rate / 1e9, samples_per_s=sgemm_rate / layout.FLOP_PER_SAMPLE)
    return results


def targets_of(results: dict) -> tuple[dict, dict]:
    """The issue's three ratios and whether each meets its target (empty if ORT FP32 did not run)."""
    ort = results.get("onnxruntime-fp32")
    if ort is None:
        return {}, {}
    ratios = {"ort_fp32_over_tf": ort["samples_per_s"] / results["tensorflow-fp32"]["samples_per_s"],
              "ort_fp32_over_sgemm_ceiling": ort["samples_per_s"] / results[SgemmCeiling.name]["samples_per_s"],
              "null_time_over_ort_fp32_time": results["null-fp32"]["median_ms"] / ort["median_ms"]}
    met = {f"ORT FP32 >= {TF_RATIO_TARGET}x TF original": ratios["ort_fp32_over_tf"] >= TF_RATIO_TARGET,
           f"ORT FP32 >= {CEILING_FRACTION_TARGET:.0%} of SGEMM ceiling":
               ratios["ort_fp32_over_sgemm_ceiling"] >= CEILING_FRACTION_TARGET,
           f"null time < {NULL_FRACTION_TARGET:.0%} of ORT FP32 time":
               ratios["null_time_over_ort_fp32_time"] < NULL_FRACTION_TARGET}
    return ratios, met


def print_report(report: dict) -> None:
    print(f"\nEngine throughput, batch {report['batch']} ({report['method']})")
    print(f"{'runner':<18} {'samples/s':>11} {'median ms':>9} {'p10..p90 ms':>15} {'max|p-TF|':>9}  how")
    for label, result in report["results"].items():
        how = (f"SGEMM rate of the 3 tower GEMMs ({result['gflop_per_s']:.1f} GFLOP/s) / 3.04 MFLOP per sample"
               if label == SgemmCeiling.name else "batch / median infer() time")
        error = result.get("max_abs_error_vs_tf")
        error_text = "-" if error is None else f"{error:.1e}"
        print(f"{label:<18} {result['samples_per_s']:>11,.0f} {result['median_ms']:>9.3f} "
              f"{result['p10_ms']:>7.2f}..{result['p90_ms']:<6.2f} {error_text:>9}  {how}")
    for label, reason in report["skipped"].items():
        print(f"{label:<18} {'skipped':>11}  {reason}")
    ratios = report["ratios"]
    if ratios:
        print(f"\nORT FP32 / TF original      {ratios['ort_fp32_over_tf']:7.3f}x  (ratio of samples/s)")
        print(f"ORT FP32 / SGEMM ceiling    {ratios['ort_fp32_over_sgemm_ceiling']:7.1%}  (ratio of samples/s)")
        print(f"null / ORT FP32 time        {ratios['null_time_over_ort_fp32_time']:7.2%}  (ratio of median times)")
    for target, met in report["targets"].items():
        print(f"{'PASS' if met else 'MISS'}  {target}")
    for target, met in parity_targets(report).items():
        print(f"{'PASS' if met else 'FAIL'}  {target}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saved-model", type=Path, help="the TF original (default: random weights, real shapes)")
    parser.add_argument("--onnx", type=Path, help="its ONNX conversion (default: the suite's default conversion)")
    parser.add_argument("--eval-csv", type=Path, help="Criteo CSV to take rows from (default: synthetic rows)")
    parser.add_argument("--batch", type=int, default=1024, help="samples per infer call (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=40, help="timed calls per runner (default %(default)s)")
    parser.add_argument("--passes", type=int, default=4, help="passes the calls are split over (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed calls before each block of timed ones (default %(default)s)")
    parser.add_argument("--json", type=Path, default=Path("out/engine_throughput.json"), help="result file")
    args = parser.parse_args(argv)
    if (args.saved_model is None) != (args.onnx is None):
        parser.error("give both --saved-model and --onnx (the ONNX must be the SavedModel's conversion), or neither")
    if min(args.batch, args.rounds, args.passes) < 1 or args.warmup < 0:
        parser.error("--batch, --rounds and --passes must be at least 1, --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    saved_model, onnx_path = (args.saved_model, args.onnx) if args.saved_model else default_models()
    rows, rows_source = eval_rows(args.eval_csv)
    batches = [(batch.categorical, batch.numeric) for batch in rows.batches(args.batch)]
    if not batches:
        raise SystemExit(f"{rows_source} has {rows.rows} rows, fewer than one batch of {args.batch}")
    runners, skipped = activated_runners(saved_model, onnx_path)
    parity = agreement_with_tf(runners, batches[0])
    ceiling = SgemmCeiling(args.batch)
    say(f"timing {len(runners) + 1} runners at batch {args.batch}: {args.rounds} calls each in {args.passes} passes")
    seconds = time_in_blocks({**runners, ceiling.name: ceiling}, batches, args.warmup, args.rounds, args.passes)
    for runner in runners.values():
        runner.deactivate()
    results = summarise(seconds, runners, ceiling, parity, args.batch)
    ratios, targets = targets_of(results)
    method = (f"batch {args.batch}; one infer() call per batch incl. feed validation; time.perf_counter; "
              f"median of {len(seconds[ceiling.name])} calls in {args.passes} passes of blocks, each block after "
              f"{args.warmup} untimed calls; batches rotated over {len(batches)} distinct batches of {rows_source}")
    report = {"benchmark": "engine_throughput", "method": method, "machine": machine(), "command": sys.argv,
              "models": {"saved_model": str(saved_model), "onnx": str(onnx_path)}, "rows": rows_source,
              "batch": args.batch, "results": results, "skipped": skipped, "ratios": ratios, "targets": targets,
              "parity": {label: parity_record(comparison) for label, comparison in parity.items()},
              "note": "timings on a shared machine are noisy: compare ratios from the same run"}
    write_json(args.json, report)
    print_report(report)
    print(f"\nwrote {args.json}")
    return exit_status(report)


if __name__ == "__main__":
    sys.exit(main())
