"""``convert``: SavedModel -> one validated ONNX per stage and ``OUT/widedeep.onnx``."""

from __future__ import annotations

from pathlib import Path

CLI_PARITY_ROWS = 1024  # one batch of the accuracy run


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert the SavedModel to ONNX (export, simplify, deploy, dynamic), each stage validated",
        description="Export the SavedModel's serving_default signature with tf2onnx, simplify it with onnxsim, "
                    "fuse the dense layers into Gemm and give every input and output a symbolic batch dim. "
                    "Each stage passes the full ONNX checker and is compared with the TF original on the same "
                    "rows. Writes OUT/NN-<stage>.onnx, OUT/widedeep.onnx and OUT/conversion.json; the last "
                    "stdout line is a JSON summary with each stage's max and mean absolute error.")
    parser.add_argument("--saved-model", metavar="DIR", required=True, type=Path,
                        help="the TF original (a SavedModel with a serving_default signature)")
    parser.add_argument("--out", metavar="DIR", required=True, type=Path,
                        help="output directory (replaced only if it holds an earlier conversion)")
    parser.add_argument("--opset", type=int,
                        help="ONNX opset (default: the newest both tf2onnx and ONNX Runtime support; "
                             "11 reproduces the vendor's export)")
    parser.add_argument("--ixrt", action="store_true", help="the vendor's IxRT variant: --cut-zeros-like --ixrt-names")
    parser.add_argument("--cut-zeros-like", action="store_true",
                        help="make import/head/predictions/zeros_like:0 a float32 [batch, 1] input (fed zeros)")
    parser.add_argument("--ixrt-names", action="store_true", help="strip ':' from input names")
    parser.add_argument("--onnx", metavar="FILE", type=Path,
                        help="start from this already-converted ONNX (e.g. the vendor's "
                             "widedeep_dynamicshape_new.onnx) instead of exporting; validated the same way")
    parser.add_argument("--eval-csv", metavar="FILE", type=Path,
                        help="take the parity rows from this Criteo eval CSV (default: sampled valid rows)")
    parser.add_argument("--parity-rows", type=int, default=CLI_PARITY_ROWS, metavar="N",
                        help=f"rows compared with the TF original (default {CLI_PARITY_ROWS})")
    parser.set_defaults(run=run)


def run(args) -> dict:
    from widedeep_bench.bundle import CLI_REMEDY, CONVERSION_MODULES, missing_tensorflow
    from widedeep_bench.errors import WidedeepError

    problem = missing_tensorflow("convert", ["export the SavedModel and check every stage against it"],
                                 CONVERSION_MODULES, remedy=CLI_REMEDY)
    if problem:
        raise WidedeepError(problem)
    from widedeep_bench.conversion.pipeline import DEFAULT_PARITY_SEED, convert
    from widedeep_bench.conversion.sample_rows import sample_eval_tensors

    if args.parity_rows < 1:
        raise WidedeepError(f"--parity-rows {args.parity_rows}: expected at least 1")
    if args.eval_csv is not None:
        from widedeep_bench.data.criteo_csv import load_eval_tensors

        tensors = load_eval_tensors(args.eval_csv)
        rows = tensors.head(min(args.parity_rows, tensors.rows))
    else:
        rows = sample_eval_tensors(args.parity_rows, seed=DEFAULT_PARITY_SEED)
    result = convert(args.saved_model, args.out, opset=args.opset, parity_rows=rows, given_onnx=args.onnx,
                     cut_zeros_like=args.ixrt or args.cut_zeros_like, ixrt_names=args.ixrt or args.ixrt_names)
    summary = result.as_dict()
    summary["stages"] = [{key: record[key] for key in ("stage", "file", "rows", "max_abs_error", "mean_abs_error",
                                                       "tolerance", "inputs", "nodes")}
                         for record in summary["stages"]]
    return summary
