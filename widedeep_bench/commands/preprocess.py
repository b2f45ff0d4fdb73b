"""``preprocess EVAL_CSV --out FILE.npz [--no-cache]``: a Criteo CSV file -> the model's input tensors.

Writes an uncompressed ``.npz`` with ``categorical [26*N, 2] int64``, ``numeric [N, 13] float32`` and,
for a labelled (40-field) file, ``labels [N] int64``; an unlabelled file has no ``labels`` array.
EVAL_CSV may be a FIFO or a shell's ``<(zcat eval.csv.gz)``: it is read once (``data.csv_input``).
``--out`` is checked before anything is read or written: never the input, never into a missing directory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from widedeep_bench.errors import WidedeepError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "preprocess", help="eval.csv -> categorical/numeric/labels tensors (.npz), as ByteMLPerf does it",
        description="Parse a Criteo CSV file (40 fields, or 39 without the label) into the model's inputs and "
                    "write them as an uncompressed .npz: categorical [26*N, 2] int64, numeric [N, 13] "
                    "float32 and, for a labelled file, labels [N] int64. Cached by the file's SHA-256.")
    parser.add_argument("eval_csv", type=Path, metavar="EVAL_CSV",
                        help="Criteo CSV: 40 fields, or 39 unlabelled; a FIFO or <(zcat eval.csv.gz) is read once")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.npz",
                        help="where to write the tensors (an existing directory; never the input)")
    parser.add_argument("--no-cache", action="store_true",
                        help="parse the CSV even if the tensor cache has it, and cache nothing")
    parser.set_defaults(run=run)


def check_out(out: Path, eval_csv: Path) -> None:
    """``--out`` must name a file we can create in an existing directory, and not the input itself
    (whatever its spelling: a symlink or hard link to it, ``./`` or ``..`` in the path)."""
    if out.is_dir():
        raise WidedeepError(f"--out {out}: is a directory; expected the .npz file to write, e.g. {out / 'eval.npz'}")
    parent = out.parent
    if not parent.exists():
        raise WidedeepError(f"--out {out}: directory {parent} does not exist; create it first")
    if not parent.is_dir():
        raise WidedeepError(f"--out {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WidedeepError(f"--out {out}: cannot create files in {parent} (permission denied)")
    if out.exists() and eval_csv.exists() and os.path.samefile(out, eval_csv):
        raise WidedeepError(f"--out {out} is the input {eval_csv}: writing the tensors would replace it; "
                            "choose another --out")


def run(args) -> dict:
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.progress import say

    check_out(args.out, args.eval_csv)
    started = time.perf_counter()
    tensors = load_eval_tensors(args.eval_csv, use_cache=not args.no_cache)
    loaded_s = time.perf_counter() - started
    say(f"writing {args.out}")
    try:
        tensors.save_npz(args.out)
    except OSError as exc:
        raise WidedeepError(f"--out {args.out}: cannot write the tensors ({exc.strerror})") from exc
    return {"source": str(args.eval_csv), "sha256": tensors.sha256, "rows": tensors.rows,
            "labelled": tensors.labelled, "constant_columns": list(tensors.constant_columns),
            "out": str(args.out), "cached": not args.no_cache, "load_s": round(loaded_s, 3),
            "total_s": round(time.perf_counter() - started, 3)}
