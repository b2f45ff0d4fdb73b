"""``prepare``: resolve (or build) the SavedModel and eval.csv, and report the TF original's accuracy on them."""

from __future__ import annotations

from widedeep_bench.progress import say


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "prepare", help="build or reuse the assets and print the TF original's Top-1, AUC and positive rate",
        description="Resolve each asset (option > WIDEDEEP_* variable > fetched copy > synthetic default), "
                    "building the synthetic default if needed, and report the TF original's accuracy on the "
                    "eval set. The last stdout line is JSON: saved_model, eval_csv, onnx, provenance, "
                    "origins, metrics.")
    parser.add_argument("--rows", type=int, help="rows of the synthetic eval.csv (synthetic default only)")
    parser.add_argument("--seed", type=int, help="seed of the synthetic default")
    parser.add_argument("--saved-model", metavar="DIR", help="a SavedModel directory (beats WIDEDEEP_SAVED_MODEL)")
    parser.add_argument("--eval-csv", metavar="FILE", help="a Criteo eval CSV (beats WIDEDEEP_EVAL_CSV)")
    parser.add_argument("--onnx", metavar="FILE", help="an ONNX file to test (beats WIDEDEEP_ONNX)")
    parser.set_defaults(run=run)


def run(args) -> dict:
    from widedeep_bench.assets import resolve_assets
    from widedeep_bench.tf_reference import tf_original_metrics

    refuse_without_tensorflow(args, "prepare")
    assets = resolve_assets(args.saved_model, args.eval_csv, args.onnx, rows=args.rows, seed=args.seed)
    origins = assets.origins
    if assets.saved_model is None:
        metrics = None
    elif origins["saved_model"] == origins["eval_csv"] == "synthetic":
        metrics = dict(assets.synthetic.metrics)
    else:
        metrics = tf_original_metrics(assets.saved_model, assets.eval_csv)
    say(f"provenance: {assets.provenance}")
    for name in ("saved_model", "eval_csv", "onnx"):
        say(f"  {name}: {getattr(assets, name)} ({origins[name]})")
    if metrics is None:
        say("no TF original to evaluate: a user ONNX without its SavedModel")
    else:
        # Top-1 means little without the all-negative baseline beside it (SPEC section 3, last defect).
        say(f"TF original on {metrics['rows']} rows: Top-1 {metrics['top1']:.5f} (all-negative "
            f"{metrics['all_negative_top1']:.5f}), AUC {metrics['auc']:.5f}, "
            f"positive rate {metrics['positive_rate']:.4f}")
    return {**assets.as_dict(), "metrics": metrics}


def refuse_without_tensorflow(args, command: str) -> None:
    """Without TensorFlow, one line before anything is resolved: only a user's ONNX and eval set (no
    SavedModel) can be used by ``command`` (prepare, loadgen) here."""
    from widedeep_bench.assets import asset_origins
    from widedeep_bench.bundle import CLI_REMEDY, TENSORFLOW_MODULES, missing_tensorflow, synthetic_default_purposes
    from widedeep_bench.errors import WidedeepError

    origins = asset_origins(args.saved_model, args.eval_csv, args.onnx)
    saved_model, _, onnx = origins
    purposes = synthetic_default_purposes(*origins)
    if saved_model is not None or onnx is None:
        purposes.append("evaluate the TF original")
    problem = purposes and missing_tensorflow(command, purposes, TENSORFLOW_MODULES, remedy=CLI_REMEDY)
    if problem:
        raise WidedeepError(problem)
