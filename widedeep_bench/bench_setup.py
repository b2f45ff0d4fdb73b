"""What the benchmark commands share: the models, the rows, the runners, the timing plan and the targets.

Without ``--saved-model``/``--onnx`` the model is a random-weights SavedModel with the real shapes (made once
in the cache) and the suite's default conversion of it: same FLOP, same kernels as the real model. Without
``--eval-csv`` the rows are synthetic Criteo-format rows read by the real preprocessing (``read_eval_csv``).
Timing goes through ``widedeep_bench.measure``; targets come from a profile's ``[[target]]`` tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import TimingPlan
from widedeep_bench.progress import say

WEIGHTS_SEED = 7
SYNTHETIC_ROWS = 16 * 1024
DEFAULT_PROFILE = "cpu-default"
ORT_FP32, TF_ORIGINAL = "onnxruntime-fp32", "tensorflow-fp32"  # the labels of activated_runners


def default_models() -> tuple[Path, Path]:
    """A random-weights SavedModel with the real shapes (made once in the cache) and its default conversion
    (``cached_conversion``: simplified, Gemm layers, symbolic batch), the ONNX the suite runs."""
    from widedeep_bench.cache import cache_root, lock_for
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


def real_batches(rows, batch: int, source: str) -> list[tuple]:
    """``[(categorical [26*batch, 2] int64, numeric [batch, 13] float32), ...]``: every whole batch of ``rows``,
    the batches ``measure`` rotates through. Fewer rows than one batch is an error naming ``source``."""
    batches = [(b.categorical, b.numeric) for b in rows.batches(batch)]
    if not batches:
        raise WidedeepError(f"{source} has {rows.rows} rows, fewer than one batch of {batch}")
    return batches


def activated_runners(cases, saved_model: Path, onnx_path: Path) -> tuple[dict, dict]:
    """``{"name-precision": active runner}`` for each ``(name, precision)`` of ``cases`` that runs here, and
    ``{"name-precision": why not}`` for the rest. The TF original runs ``saved_model``, the null runner
    nothing, every other runner ``onnx_path``."""
    from widedeep_bench.engines import EngineOptions, make_runner
    from widedeep_bench.engines.registry import runner_class

    runners, skipped = {}, {}
    for name, precision in cases:
        label, options = f"{name}-{precision}", EngineOptions(precision=precision)
        reason = runner_class(name).unavailable_reason(options)
        if reason is not None:
            skipped[label] = reason
            say(f"skipping {label}: {reason}")
            continue
        runners[label] = make_runner(name, {"tensorflow": saved_model, "null": None}.get(name, onnx_path), options)
        runners[label].activate()
    return runners, skipped


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--saved-model", type=Path, help="the TF original (default: random weights, real shapes)")
    parser.add_argument("--onnx", type=Path, help="its ONNX conversion (default: the suite's default conversion)")
    parser.add_argument("--eval-csv", type=Path, help="Criteo CSV to take rows from (default: synthetic rows)")


def check_model_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--saved-model`` and ``--onnx`` come together (the ONNX is the SavedModel's conversion) or not at all."""
    if (args.saved_model is None) != (args.onnx is None):
        parser.error("give both --saved-model and --onnx (the ONNX must be the SavedModel's conversion), or neither")


def models_of(args: argparse.Namespace) -> tuple[Path, Path]:
    """``(saved_model, onnx)`` as given, or the default pair (made on first use: see ``default_models``)."""
    return (args.saved_model, args.onnx) if args.saved_model is not None else default_models()


def add_timing_options(parser: argparse.ArgumentParser, defaults: TimingPlan) -> None:
    """``--rounds``, ``--warmup``, ``--duration``, ``--warmup-s``: the ``TimingPlan`` of every measurement."""
    parser.add_argument("--rounds", type=int, default=defaults.min_rounds,
                        help="timed rounds per subject, at least (default %(default)s)")
    parser.add_argument("--duration", type=float, default=defaults.min_duration_s,
                        help="measured seconds per subject, at least, as trtexec --duration (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=defaults.min_warmup_rounds,
                        help="untimed calls per subject before timing, at least (default %(default)s)")
    parser.add_argument("--warmup-s", type=float, default=defaults.warmup_s,
                        help="untimed seconds per subject before timing, at least (default %(default)s)")


def timing_plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> TimingPlan:
    """The plan the timing options ask for; a plan ``TimingPlan`` refuses is a usage error (exit 2)."""
    try:
        return TimingPlan(warmup_s=args.warmup_s, min_warmup_rounds=args.warmup, min_rounds=args.rounds,
                          min_duration_s=args.duration)
    except WidedeepError as exc:
        parser.error(f"--rounds, --warmup, --duration, --warmup-s: {exc}")


def add_profile_option(parser: argparse.ArgumentParser, option: str = "--profile",
                       default: str = DEFAULT_PROFILE) -> None:
    """``--profile NAME|PATH`` (or ``option``, where ``--profile`` means something else to a command)."""
    parser.add_argument(option, default=default, metavar="NAME|PATH",
                        help="profile NAME (shipped: widedeep_bench/profiles/NAME.toml) or PATH whose [[target]] tables judge "
                             "the figures (default %(default)s)")


def profile_targets(name_or_path: str, benchmark: str, *, measures: Callable[[str], bool] = lambda metric: True,
                    metrics: str = "") -> tuple[str, list]:
    """``(profile source, [BenchmarkTarget, ...])``: the profile's targets for ``benchmark``. A profile with
    none for it is an error: a benchmark judged by nothing would exit 0 having checked nothing; so is a target
    whose metric ``measures`` says the benchmark does not produce (``metrics``: what it does, in words)."""
    from widedeep_bench.profiles import load_profile

    profile = load_profile(name_or_path)
    targets = profile.targets_for(benchmark)
    if not targets:
        raise WidedeepError(f"profile {profile.source}: no [[target]] with benchmark = {benchmark!r}; "
                            f"this command has nothing to judge its figures by")
    unknown = sorted({target.metric for target in targets if not measures(target.metric)})
    if unknown:
        raise WidedeepError(f"profile {profile.source}: [[target]] metrics {unknown} are not measured by "
                            f"{benchmark}; {metrics}")
    return profile.source, targets


def judged(target, measured: float | None) -> dict:
    """One target's verdict as recorded: ``met`` by ``BenchmarkTarget.met_by``, and never when the figure was
    not measured (``measured`` None: a target never passes unmeasured)."""
    return {"metric": target.metric, "measured": measured, "min": target.min, "max": target.max,
            "met": measured is not None and target.met_by(measured), "target": str(target), "why": target.why}


def not_applicable(target, measured: float | None, reason: str) -> dict:
    """A target this run does not judge, ``reason`` saying why (e.g. a CPU smoke run of a GPU benchmark):
    recorded as ``judged`` records it but with ``met`` None, which neither passes nor fails the run."""
    return {**judged(target, measured), "met": None, "not_applicable": reason}


def verdict_lines(verdicts: list[dict]) -> list[str]:
    """``PASS  engine_throughput ort_fp32_over_tf >= 1.25: 1.31`` (or ``MISS``, or ``n/a`` with the reason)
    and the target's why under it."""
    lines = []
    for v in verdicts:
        measured = "not measured" if v["measured"] is None else _figure(v["measured"])
        if v["met"] is None:
            measured += f" (not judged: {v['not_applicable']})"
        verdict = {True: "PASS", False: "MISS", None: "n/a "}[v["met"]]
        lines += [f"{verdict}  {v['target']}: {measured}", f"      why: {v['why']}"]
    return lines


def _figure(value: float) -> str:
    """Ratios and seconds to 4 significant digits; large counts (samples/s) whole, with thousands separators."""
    return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"


def ort_over_tf(runners: dict, batches: list, batch: int, plan: TimingPlan) -> dict:
    """ONNX Runtime FP32 and the TF original (``runners[ORT_FP32]``, ``runners[TF_ORIGINAL]``) timed in
    alternating rounds on the same batches (``measure_interleaved``): the paired ratio (the median over rounds
    of TF time / ORT time, > 1: ORT is faster), its quartiles and pairs, and each one's samples/s in that window."""
    from widedeep_bench.measure import measure_interleaved, paired_ratio

    say(f"timing {ORT_FP32} and {TF_ORIGINAL} interleaved: {plan.describe()}")
    timings = measure_interleaved({ORT_FP32: runners[ORT_FP32].infer, TF_ORIGINAL: runners[TF_ORIGINAL].infer},
                                  batches, batch, plan)
    ratio = paired_ratio(timings[ORT_FP32], timings[TF_ORIGINAL])
    return {**ratio.as_dict(), "samples_per_s": {label: timing.samples_per_s for label, timing in timings.items()}}
