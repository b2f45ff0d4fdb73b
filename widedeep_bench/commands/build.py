"""``build``: compile an ONNX model for one runtime and precision, or find it already built in the cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from widedeep_bench.engines.base import DEFAULT_BATCH_PROFILE
from widedeep_bench.precision import CALIBRATED_PRECISIONS, PRECISIONS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build", help="build (or reuse from the cache) an engine for an ONNX model",
        description="Build an engine for --onnx with --backend at --precision, once: a later call with the "
                    "same model bytes and options reuses the cached artifact. Prints a JSON object last: "
                    "key, cached, build_seconds, artifact, runner, version, precision.")
    parser.add_argument("--onnx", type=Path, required=True, help="the ONNX model file")
    parser.add_argument("--backend", required=True,
                        help="runner name: onnxruntime, openvino, tensorrt, ixrt")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--providers", nargs="+", default=[], metavar="PROVIDER",
                        help="ONNX Runtime execution providers in priority order, e.g. CUDAExecutionProvider "
                             "CPUExecutionProvider (default: CPU only)")
    parser.add_argument("--min-batch", type=int, default=DEFAULT_BATCH_PROFILE[0], help="samples (default %(default)s)")
    parser.add_argument("--opt-batch", type=int, default=DEFAULT_BATCH_PROFILE[1], help="samples (default %(default)s)")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_BATCH_PROFILE[2], help="samples (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads (default: the machine's physical cores)")
    parser.add_argument("--calibration-csv", type=Path, metavar="FILE",
                        help="INT8 (required there): Criteo-format rows the quantization scales are measured on; "
                             "use rows you will not score (the suite and loadgen check that, build has no eval set)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict:
    from widedeep_bench.engines import CompiledRunner, EngineOptions, make_runner
    from widedeep_bench.errors import WidedeepError

    if not args.onnx.is_file():
        raise WidedeepError(f"--onnx {args.onnx}: no such file")
    from widedeep_bench.calibration import refuse_unneeded, rows_from_csv

    calibration = None
    if args.calibration_csv is not None:
        refuse_unneeded("--calibration-csv", args.precision)
        calibration = rows_from_csv(args.calibration_csv, option="--calibration-csv")
    elif args.precision in CALIBRATED_PRECISIONS:
        raise WidedeepError(f"--precision {args.precision} needs --calibration-csv FILE (the rows its scales are "
                            f"measured on)")
    options = EngineOptions(precision=args.precision, min_batch=args.min_batch, opt_batch=args.opt_batch,
                            max_batch=args.max_batch, providers=tuple(args.providers), threads=args.threads,
                            calibration=calibration)
    runner = make_runner(args.backend, args.onnx, options)
    if not isinstance(runner, CompiledRunner):
        raise WidedeepError(f"--backend {args.backend} has nothing to build: it runs "
                            f"{'the SavedModel as is' if args.backend == 'tensorflow' else 'no model'}; "
                            f"choose onnxruntime, openvino, tensorrt or ixrt")
    record = runner.build().as_json()
    return {**record, "calibration": None if calibration is None else calibration.as_dict()}
