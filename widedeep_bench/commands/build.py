"""``build``: compile an ONNX model for one runtime and precision, or find it already built in the cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from widedeep_bench.engines.base import DEFAULT_BATCH_PROFILE, PRECISIONS


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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict:
    from widedeep_bench.engines import CompiledRunner, EngineOptions, make_runner
    from widedeep_bench.errors import WidedeepError

    if not args.onnx.is_file():
        raise WidedeepError(f"--onnx {args.onnx}: no such file")
    options = EngineOptions(precision=args.precision, min_batch=args.min_batch, opt_batch=args.opt_batch,
                            max_batch=args.max_batch, providers=tuple(args.providers), threads=args.threads)
    runner = make_runner(args.backend, args.onnx, options)
    if not isinstance(runner, CompiledRunner):
        raise WidedeepError(f"--backend {args.backend} has nothing to build: it runs "
                            f"{'the SavedModel as is' if args.backend == 'tensorflow' else 'no model'}; "
                            f"choose onnxruntime, openvino, tensorrt or ixrt")
    return runner.build().as_json()
