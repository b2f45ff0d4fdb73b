"""``bundle --out DIR``: one directory a machine without TensorFlow runs the suite from (``widedeep_bench.bundle``)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bundle", help="write the converted ONNX, reference probabilities and eval set a device runs the suite from",
        description="On a machine with TensorFlow: convert the SavedModel (the plain model and the IxRT variant), "
                    "compute the TF original's and ONNX Runtime FP32's probabilities on the eval set, and write "
                    "them with a copy of the eval set and a manifest (every file's size and SHA-256, versions, "
                    "machine) to one directory. On the device: `widedeep-bench test --bundle DIR` (pytest "
                    "--wd-bundle DIR), no TensorFlow needed. Each asset resolves like `prepare`: option, "
                    "WIDEDEEP_* variable, fetched copy, synthetic default. The last stdout line is JSON: bundle, "
                    "files, made_from.")
    parser.add_argument("--out", metavar="DIR", required=True, type=Path,
                        help="the bundle directory to write (absent or empty; an earlier bundle only with --force)")
    parser.add_argument("--force", action="store_true",
                        help="replace the bundle already at --out (anything else there is never replaced)")
    parser.add_argument("--saved-model", metavar="DIR", help="a SavedModel directory (beats WIDEDEEP_SAVED_MODEL)")
    parser.add_argument("--eval-csv", metavar="FILE", help="a Criteo eval CSV (beats WIDEDEEP_EVAL_CSV)")
    parser.add_argument("--rows", type=int, help="rows of the synthetic eval.csv (synthetic default only)")
    parser.add_argument("--seed", type=int, help="seed of the synthetic default")
    parser.set_defaults(run=run)


def run(args) -> dict:
    from widedeep_bench.bundle import write_bundle

    bundle = write_bundle(args.out, saved_model=args.saved_model, eval_csv=args.eval_csv, rows=args.rows,
                          seed=args.seed, force=args.force, command=[Path(sys.argv[0]).name, *sys.argv[1:]])
    return {"bundle": str(bundle.directory), "files": bundle.manifest["files"],
            "made_from": bundle.manifest["made_from"]}
