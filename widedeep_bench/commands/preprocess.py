"""``preprocess EVAL_CSV --out FILE.npz [--no-cache]``: a Criteo CSV file -> the model's input tensors.

Writes an uncompressed ``.npz`` with ``categorical [26*N, 2] int64``, ``numeric [N, 13] float32`` and,
for a labelled (40-field) file, ``labels [N] int64``; an unlabelled file has no ``labels`` array.
"""

from __future__ import annotations

import time
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "preprocess", help="eval.csv -> categorical/numeric/labels tensors (.npz), as ByteMLPerf does it",
        description="Parse a Criteo CSV file (40 fields, or 39 without the label) into the model's inputs and "
                    "write them as an uncompressed .npz: categorical [26*N, 2] int64, numeric [N, 13] "
                    "float32 and, for a labelled file, labels [N] int64. Cached by the file's SHA-256.")
    parser.add_argument("eval_csv", type=Path, metavar="EVAL_CSV", help="Criteo CSV: 40 fields, or 39 unlabelled")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.npz", help="where to write the tensors")
    parser.add_argument("--no-cache", action="store_true",
                        help="parse the CSV even if the tensor cache has it, and cache nothing")
    parser.set_defaults(run=run)


def run(args) -> dict:
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.progress import say

    started = time.perf_counter()
    tensors = load_eval_tensors(args.eval_csv, use_cache=not args.no_cache)
    loaded_s = time.perf_counter() - started
    say(f"writing {args.out}")
    tensors.save_npz(args.out)
    return {"source": str(args.eval_csv), "sha256": tensors.sha256, "rows": tensors.rows,
            "labelled": tensors.labelled, "constant_columns": list(tensors.constant_columns),
            "out": str(args.out), "cached": not args.no_cache, "load_s": round(loaded_s, 3),
            "total_s": round(time.perf_counter() - started, 3)}
