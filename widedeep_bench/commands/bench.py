"""``bench preprocess|engines|paired-ratio|gpu``: the benchmarks, each judged by a profile's ``[[target]]`` tables.

Each prints its table and PASS / MISS lines, writes its JSON (figures, method, the machine's CPU model and
SIMD flags, the verdicts), and ends with one JSON line: benchmark, passed, misses, the judged figures, the
CPU, the JSON's path. Exit 0 every target met and every check passed (parity, per-row output, the busy loop),
1 one missed or could not be measured, 2 bad usage or bad input (a profile with no target for the benchmark
included), checked before anything is measured. The benchmarks themselves are ``widedeep_bench.bench``'s;
this module reads the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from widedeep_bench.bench import engine_throughput, gpu_throughput, paired_ratio, preprocess_speed
from widedeep_bench.bench.targets import DEFAULT_PROFILE
from widedeep_bench.cache import check_output_path, remove_earlier_output
from widedeep_bench.commands import add_quiet_flag
from widedeep_bench.errors import GatesFailed, WidedeepError
from widedeep_bench.measure import TimingPlan

EXIT_CODES = "Exit 0 every target met, 1 one missed or not measured, 2 bad usage or bad input."


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="the benchmarks: preprocess, engines, paired-ratio, gpu (judged by a profile's targets)",
        description="Run one benchmark, judge its figures by a profile's [[target]] tables, write its JSON. "
                    + EXIT_CODES)
    benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    _add_preprocess(benchmarks)
    _add_engines(benchmarks)
    _add_paired_ratio(benchmarks)
    _add_gpu(benchmarks)


def _benchmark_parser(benchmarks, name: str, run, help: str, description: str) -> argparse.ArgumentParser:
    parser = benchmarks.add_parser(name, help=help, description=f"{description} {EXIT_CODES}", allow_abbrev=False)
    add_quiet_flag(parser)
    # `command` names the whole command in the CLI's error lines ("widedeep-bench bench engines: error: ...").
    parser.set_defaults(run=_json_checked_first(run), command=f"bench {name}")
    return parser


def _add_preprocess(benchmarks) -> None:
    parser = _benchmark_parser(
        benchmarks, "preprocess", run_preprocess, help="eval.csv -> tensors: the vectorised reader against "
                                                       "ByteMLPerf's per-row loop, and the tensor cache",
        description="Time read_eval_csv against ByteMLPerf's per-row preprocessing in alternating rounds on one "
                    "Criteo-format file, then the tensor cache's build and warm loads; judge the profile's "
                    "preprocess_speed targets.")
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in the synthetic benchmark file")
    parser.add_argument("--baseline-rows", type=int, default=20_000, help="rows the per-row baseline runs on")
    _add_timing_options(parser, preprocess_speed.DEFAULT_PLAN)
    _add_profile_option(parser)
    parser.add_argument("--csv", type=Path, help="time this Criteo CSV (e.g. the real eval.csv) instead")
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--row-seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the results here as JSON")


def run_preprocess(args) -> dict:
    args.plan = timing_plan(args)
    if args.plan.min_duration_s > 0 and args.plan.min_warmup_rounds == 0:
        raise WidedeepError("--duration needs --warmup 1 or more: the round count is planned from the warm-up's time")
    args.profile_source, args.targets = preprocess_speed.targets_in(args.profile)
    return _measure_and_judge(preprocess_speed, args)


def _add_engines(benchmarks) -> None:
    parser = _benchmark_parser(
        benchmarks, "engines", run_engines, help="every runner in every precision it runs here (FP32/FP16/BF16/INT8) "
                                                 "at batch 1024/4096/16384 beside a SGEMM ceiling and the null "
                                                 "runner; the paired ONNX Runtime / TF ratio",
        description="Time each runner (TF original; ONNX Runtime, OpenVINO, torch in FP32/FP16/BF16/INT8 where "
                    "they run here, the others listed with the reason; null) in its own block at every --batch "
                    "size beside a NumPy SGEMM ceiling, then ONNX Runtime FP32 and the TF original interleaved "
                    "for the paired ratio; check every engine's parity with TF; judge the profile's "
                    "engine_throughput targets (the BF16/INT8 speed target only on a CPU with AMX, AVX512-BF16 or "
                    "VNNI).")
    _add_model_options(parser)
    parser.add_argument("--calibration-csv", type=Path, metavar="FILE",
                        help="Criteo CSV whose rows INT8 engines calibrate on (default: synthetic rows of another "
                             "seed than the timed ones); give one from the same source as --eval-csv")
    parser.add_argument("--batch", default=",".join(map(str, engine_throughput.DEFAULT_BATCHES)), metavar="B[,B...]",
                        help="samples per infer call, comma-separated; every runner is timed at each "
                             "(default %(default)s)")
    _add_timing_options(parser, engine_throughput.DEFAULT_PLAN)
    _add_profile_option(parser)
    parser.add_argument("--json", type=Path, default=Path("out/engine_throughput.json"),
                        help="result file (default %(default)s)")


def batch_sizes(text: str) -> tuple[int, ...]:
    """``--batch 1024,4096,16384`` -> ``(1024, 4096, 16384)``; anything else is one ``WidedeepError`` line naming
    what is wrong (empty, not an integer, below 1, given twice)."""
    expected = "expected comma-separated whole numbers of samples, each at least 1, e.g. 1024,4096,16384"
    words = [word.strip() for word in text.split(",")]
    if not text.strip():
        raise WidedeepError(f"--batch is empty: {expected}")
    sizes = []
    for word in words:
        try:
            size = int(word)
        except ValueError:
            raise WidedeepError(f"--batch {text}: {repr(word) if word else 'an empty item'} is not a whole "
                                f"number; {expected}") from None
        if size < 1:
            raise WidedeepError(f"--batch {text}: {size} is below 1; {expected}")
        if size in sizes:
            raise WidedeepError(f"--batch {text}: {size} is given twice; {expected}")
        sizes.append(size)
    return tuple(sizes)


def run_engines(args) -> dict:
    args.batches = batch_sizes(args.batch)
    args.plan = timing_plan(args)
    args.profile_source, args.targets = engine_throughput.targets_in(args.profile)
    _check_models(args)
    return _measure_and_judge(engine_throughput, args)


def _add_paired_ratio(benchmarks) -> None:
    parser = _benchmark_parser(
        benchmarks, "paired-ratio", run_paired_ratio, help="the paired ONNX Runtime / TF ratio measured N times, "
                                                           "quiet or with one core busy: how far it moves",
        description="Repeat bench engines' paired ONNX Runtime FP32 / TF original measurement --runs times in "
                    "one process, quiet or with one core kept busy (--load busy), and judge the spread of the "
                    "ratios by the profile's paired_ratio target (spread_quiet or spread_loaded).")
    parser.add_argument("--load", choices=sorted(paired_ratio.SPREAD_METRIC), default="quiet",
                        help="quiet: nothing added; busy: one core kept busy throughout (default %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="repeated measurements (default %(default)s)")
    _add_model_options(parser)
    parser.add_argument("--batch", type=int, default=1024, help="samples per infer call (default %(default)s)")
    parser.add_argument("--threads", type=int, help="intra-op threads of both runtimes (default: physical cores)")
    _add_timing_options(parser, paired_ratio.DEFAULT_PLAN)
    _add_profile_option(parser)
    parser.add_argument("--json", type=Path, default=Path("out/paired_ratio.json"),
                        help="result file (default %(default)s)")


def run_paired_ratio(args) -> dict:
    if args.runs < 2 or args.batch < 1 or (args.threads is not None and args.threads < 1):
        raise WidedeepError("--runs must be at least 2 (a spread needs two runs), --batch and --threads at least 1")
    _check_models(args)
    args.plan = timing_plan(args)
    args.profile_source, args.targets = paired_ratio.targets_in(args.profile, args.load)
    return _measure_and_judge(paired_ratio, args)


def _add_gpu(benchmarks) -> None:
    gpu, cpu, profiled = gpu_throughput.GPU_PLAN, gpu_throughput.CPU_PLAN, gpu_throughput.PROFILE_PLAN
    parser = _benchmark_parser(
        benchmarks, "gpu", run_gpu, help="the torch runner on a CUDA GPU: batch 1024/4096/16384 x FP16/FP32 x speed "
                                         "levers, compute only and end to end (--cpu: a smoke check)",
        description="Time the torch runner per precision, lever set and batch, compute only (inputs on the device) "
                    "and end to end (host arrays in, probabilities out), beside FLOP and bytes floors; check each "
                    "case against the TF original's saved probabilities and ONNX Runtime FP32; judge the "
                    "gpu_throughput targets of --targets on the best agreeing lever set's figures. The baseline "
                    "lever set runs first for every case (FP16 batch 1024 first of all), then each case's other "
                    "lever sets side by side. The JSON is rewritten after every case; a fatal CUDA error stops the "
                    "run (the cases left recorded as not run, exit 1). --torch-profile is a run of its own: where "
                    "the time goes, no figures. Refused (exit 2) without a CUDA device unless --cpu.")
    parser.set_defaults(run=_gpu_json_default(parser.get_default("run")))
    sources = parser.add_argument_group("inputs: --bundle, or --onnx with --rows (and --reference), or the default")
    sources.add_argument("--bundle", type=Path, metavar="DIR",
                         help="a bundle (widedeep-bench bundle, version 2): its ONNX, its preprocessed rows "
                              "(eval-tensors.npz) and its TF reference; needs neither TensorFlow nor pyfarmhash")
    sources.add_argument("--onnx", type=Path, metavar="FILE",
                         help="the converted ONNX (default: random weights, real shapes; needs TensorFlow)")
    sources.add_argument("--eval-csv", type=Path, metavar="FILE",
                         help="Criteo CSV to take rows from (default: synthetic rows; needs pyfarmhash)")
    sources.add_argument("--rows", type=Path, metavar="FILE.npz",
                         help="preprocessed rows in the eval-tensors.npz format of a bundle, with --onnx")
    sources.add_argument("--reference", type=Path, metavar="FILE.npz",
                         help="the TF original's probabilities on those rows (--wd-save-reference format), with --onnx")
    parser.add_argument("--batches", type=int, nargs="+", default=[1024, 4096, 16384], help="samples per batch")
    parser.add_argument("--precisions", nargs="+", choices=["fp16", "fp32"], default=["fp16", "fp32"])
    parser.add_argument("--levers", nargs="+", metavar="SET",
                        help="lever sets of the torch runner, each none, all or a+b (engines.torch.LEVERS); "
                             "default: none, each lever alone, all")
    # No defaults here: the plan of the run (GPU_PLAN, PROFILE_PLAN with --torch-profile, CPU_PLAN with --cpu)
    # fills them in (check_gpu).
    for option, kind, what, field in (("--rounds", int, "timed rounds per figure", "min_rounds"),
                                      ("--duration", float, "measured seconds per figure", "min_duration_s"),
                                      ("--warmup", int, "untimed rounds first", "min_warmup_rounds"),
                                      ("--warmup-s", float, "untimed seconds first", "warmup_s")):
        parser.add_argument(option, type=kind, help=f"{what}, at least (default {getattr(gpu, field):g}; "
                                                    f"--torch-profile {getattr(profiled, field):g}; "
                                                    f"--cpu {getattr(cpu, field):g})")
    parser.add_argument("--torch-profile", action="store_true",
                        help=f"a run of its own: split the time with torch.profiler over "
                             f"{gpu_throughput.PROFILED_CALLS} calls a case ({gpu_throughput.CPU_PROFILED_CALLS} with "
                             f"--cpu) (gpu_profile.json); no figures")
    _add_profile_option(parser, "--targets", gpu_throughput.DEFAULT_TARGETS)
    parser.add_argument("--cpu", action="store_true", help="smoke check on the CPU in FP32: not a GPU figure")
    peaks = gpu_throughput.PEAKS
    parser.add_argument("--peak-fp16-tflops", type=float, default=peaks["fp16_tflops"], dest="fp16_tflops",
                        help="dense FP16 tensor-core peak, TFLOP/s (default %(default)s: H100 SXM5)")
    parser.add_argument("--peak-fp32-tflops", type=float, default=peaks["fp32_tflops"], dest="fp32_tflops",
                        help="FP32 peak without TF32, TFLOP/s (default %(default)s: H100 SXM5)")
    parser.add_argument("--hbm-gbps", type=float, default=peaks["hbm_gbps"], dest="hbm_gbps",
                        help="device memory bandwidth, GB/s (default %(default)s: H100 SXM5 HBM3)")
    parser.add_argument("--link-gbps", type=float, default=peaks["link_gbps"], dest="link_gbps",
                        help="host link bandwidth per direction, GB/s (default %(default)s: PCIe Gen5 x16)")
    parser.add_argument("--json", type=Path,
                        help=f"result file, rewritten after every case; the table goes beside it as .txt (default "
                             f"{gpu_throughput.DEFAULT_JSON[gpu_throughput.BENCHMARK]}; --torch-profile "
                             f"{gpu_throughput.DEFAULT_JSON[gpu_throughput.PROFILE_BENCHMARK]})")


def _gpu_json_default(run):
    """``run`` once ``--json`` has its default: the figures' JSON, or the profile's with ``--torch-profile``."""
    def with_default(args) -> dict:
        if args.json is None:
            args.json = gpu_throughput.DEFAULT_JSON[gpu_throughput.PROFILE_BENCHMARK if args.torch_profile
                                                    else gpu_throughput.BENCHMARK]
        return run(args)
    return with_default


def check_gpu(args) -> None:
    """Refuse bad ``bench gpu`` options (``WidedeepError``, exit 2) and fill in what they imply: the timing
    options' defaults from the run's plan, ``plan``, ``peaks``, ``lever_sets``, the targets (``targets_profile``,
    ``profile_targets``) and the carried inputs (``carried``: a bundle's, or ``--rows``'s, read and checked; None
    for a run that prepares its own). Nothing is measured yet."""
    from widedeep_bench.progress import say

    _check_gpu_sources(args)
    if min(args.batches) < 1:
        raise WidedeepError("--batches must be at least 1")
    defaults = (gpu_throughput.CPU_PLAN if args.cpu else
                gpu_throughput.PROFILE_PLAN if args.torch_profile else gpu_throughput.GPU_PLAN)
    for option, field in (("rounds", "min_rounds"), ("duration", "min_duration_s"),
                          ("warmup", "min_warmup_rounds"), ("warmup_s", "warmup_s")):
        if getattr(args, option) is None:
            setattr(args, option, getattr(defaults, field))
    args.plan = timing_plan(args)
    if min(getattr(args, name) for name in gpu_throughput.PEAKS) <= 0:
        raise WidedeepError("peaks and bandwidths must be positive")
    if args.cpu and "fp16" in args.precisions:
        say("--cpu: FP32 only (torch on CPU runs fp32 only); skipping fp16")
        args.precisions = [p for p in args.precisions if p != "fp16"]
        if not args.precisions:
            raise WidedeepError("--cpu runs fp32 only: give --precisions fp32")
    args.lever_sets = lever_sets(args.levers)
    args.peaks = {name: getattr(args, name) for name in gpu_throughput.PEAKS}
    try:
        args.targets_profile, args.profile_targets = gpu_throughput.targets_in(args.targets)
    except WidedeepError as exc:
        raise WidedeepError(f"--targets: {exc}") from exc
    args.carried = gpu_throughput.carried_inputs(args)


def _check_gpu_sources(args) -> None:
    """One source of each input: ``--bundle`` alone, ``--rows`` and ``--reference`` with ``--onnx``."""
    given = [f"{option} {value}" for option, value in (("--onnx", args.onnx), ("--eval-csv", args.eval_csv),
                                                       ("--rows", args.rows), ("--reference", args.reference))
             if value is not None]
    if args.bundle is not None and given:
        raise WidedeepError(f"--bundle {args.bundle} and {given[0]} cannot be given together: a bundle brings its own "
                            f"ONNX, rows and reference probabilities (one source of truth); give one or the other")
    if args.rows is not None and args.eval_csv is not None:
        raise WidedeepError("--rows and --eval-csv cannot be given together: both give the rows; give one")
    for option, value in (("--rows", args.rows), ("--reference", args.reference)):
        if value is not None and args.onnx is None:
            raise WidedeepError(f"{option} {value} needs --onnx FILE: carried rows and probabilities are of one "
                                f"model, and the default model is built with TensorFlow")


def lever_sets(texts: list[str] | None) -> list[frozenset]:
    """``--levers``'s sets (``engines.torch.parse_levers`` of each), by default none, each lever alone and all;
    a name it does not know, or one set given twice, is one ``WidedeepError`` line."""
    from widedeep_bench.engines.torch import LEVERS, levers_label, parse_levers

    sets = []
    for text in texts if texts is not None else ["none", *LEVERS, "all"]:
        try:
            levers = parse_levers(text)
        except WidedeepError as exc:
            raise WidedeepError(f"--levers {text}: {exc}") from None
        if levers in sets:
            raise WidedeepError(f"--levers: {text} is the lever set {levers_label(levers)} again; give each set once")
        sets.append(levers)
    return sets


def run_gpu(args) -> dict:
    check_gpu(args)
    refusal = gpu_throughput.torch_device_or_refusal(args.cpu)
    if refusal is not None:
        raise WidedeepError(refusal)
    return _measure_and_judge(gpu_throughput, args)


def _json_checked_first(run):
    """``run`` after ``_clear_json(args.json)``: every benchmark checks its output before anything else."""
    def checked(args) -> dict:
        _clear_json(args.json)
        return run(args)
    return checked


def _clear_json(path: Path | None) -> None:
    """Before anything is measured: a ``--json`` that can never be written is one line, and an earlier
    benchmark JSON there is removed, so a run that fails or is interrupted never leaves another run's
    figures where this run's would be. Any other file there is refused, never replaced."""
    if path is None:
        return
    check_output_path(path, f"--json {path}")
    remove_earlier_output(path, f"--json {path}", "a benchmark JSON",
                          lambda earlier: isinstance(earlier, dict) and "benchmark" in earlier)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--saved-model", type=Path, help="the TF original (default: random weights, real shapes)")
    parser.add_argument("--onnx", type=Path, help="its ONNX conversion (default: the suite's default conversion)")
    parser.add_argument("--eval-csv", type=Path, help="Criteo CSV to take rows from (default: synthetic rows)")


def _check_models(args) -> None:
    """``--saved-model`` and ``--onnx`` come together (the ONNX is the SavedModel's conversion) or not at all."""
    if (args.saved_model is None) != (args.onnx is None):
        raise WidedeepError("give both --saved-model and --onnx (the ONNX must be the SavedModel's conversion), "
                            "or neither")


def _add_timing_options(parser: argparse.ArgumentParser, defaults: TimingPlan) -> None:
    """``--rounds``, ``--warmup``, ``--duration``, ``--warmup-s``: the ``TimingPlan`` of every measurement."""
    parser.add_argument("--rounds", type=int, default=defaults.min_rounds,
                        help="timed rounds per subject, at least (default %(default)s)")
    parser.add_argument("--duration", type=float, default=defaults.min_duration_s,
                        help="measured seconds per subject, at least, as trtexec --duration (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=defaults.min_warmup_rounds,
                        help="untimed calls per subject before timing, at least (default %(default)s)")
    parser.add_argument("--warmup-s", type=float, default=defaults.warmup_s,
                        help="untimed seconds per subject before timing, at least (default %(default)s)")


def timing_plan(args) -> TimingPlan:
    """The plan the timing options ask for; a plan ``TimingPlan`` refuses is a usage error (exit 2)."""
    try:
        return TimingPlan(warmup_s=args.warmup_s, min_warmup_rounds=args.warmup, min_rounds=args.rounds,
                          min_duration_s=args.duration)
    except WidedeepError as exc:
        raise WidedeepError(f"--rounds, --warmup, --duration, --warmup-s: {exc}") from exc


def _add_profile_option(parser: argparse.ArgumentParser, option: str = "--profile",
                        default: str = DEFAULT_PROFILE) -> None:
    """``--profile NAME|PATH`` (or ``option``, where ``--profile`` means something else to a command)."""
    parser.add_argument(option, default=default, metavar="NAME|PATH",
                        help="profile NAME (shipped: widedeep_bench/profiles/NAME.toml) or PATH whose [[target]] "
                             "tables judge the figures (default %(default)s)")


def _measure_and_judge(benchmark, args) -> dict:
    """Run ``benchmark`` (its module) and return the command's last stdout line: the benchmark, passed or
    not and why not, the figures its targets judged, the CPU they were measured on, where the JSON went.
    With a miss it comes with ``GatesFailed`` (exit 1) instead of a plain return."""
    report = benchmark.run(args)
    misses, json_path = benchmark.misses(report), args.json
    machine = report["machine"]
    summary = {"benchmark": report["benchmark"], "passed": not misses, "misses": misses,
               "figures": {verdict["metric"]: verdict["measured"] for verdict in report["targets"]},
               "cpu": machine["cpu"], "cpu_flags": machine["cpu_flags"],
               "json": None if json_path is None else str(json_path)}
    if misses:
        raise GatesFailed("; ".join(misses), summary)
    return summary
