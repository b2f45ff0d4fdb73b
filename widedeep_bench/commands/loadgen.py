"""``loadgen``: one MLPerf LoadGen scenario over a runner, in performance, accuracy or compliance mode.

LoadGen's logs stay in ``--out`` (one directory per run); the result goes to ``--out/result.json`` and, as one
JSON object, to the last stdout line: the scenario and mode, LoadGen's verdict, samples/s (Offline) or the
scheduled and completed QPS (Server), latency percentiles, the null runner's ceiling beside them, and in
accuracy mode AUC / Top-1 / log loss decoded from ``mlperf_log_accuracy.json`` beside the TF original's on
the same rows. Exit 0 VALID (and, by mode, compliant / a VALID peak), 1 INVALID, non-compliant or no VALID
Server target, 2 bad usage or bad input, checked before anything runs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from widedeep_bench.errors import GatesFailed, WidedeepError
from widedeep_bench.loadgen.scenarios import DEFAULT_LATENCY_MS, DEFAULT_MAX_WAIT_MS, PEAK_TRIES, SCENARIOS
from widedeep_bench.loadgen.workers import DEFAULT_KIND, KINDS
from widedeep_bench.precision import CALIBRATED_PRECISIONS, PRECISIONS

MODES = ("performance", "accuracy", "compliance")
RESULT_FILE = "result.json"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "loadgen", help="an MLPerf LoadGen scenario (Offline, Server, SingleStream) over a runner",
        description="Run MLPerf LoadGen's Offline, Server or SingleStream scenario over a runner on the eval "
                    "set's rows, in performance, accuracy or compliance (TEST01-like) mode, beside the null "
                    "runner's ceiling; keep LoadGen's logs in --out. Exit 0 VALID, 1 INVALID / not compliant "
                    "/ no VALID peak, 2 bad usage or input.", allow_abbrev=False)
    parser.add_argument("--backend", default="onnxruntime", help="runner name (default %(default)s)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS, help="default %(default)s")
    parser.add_argument("--scenario", choices=SCENARIOS, default="Offline", help="default %(default)s")
    parser.add_argument("--mode", choices=MODES, default="performance", help="default %(default)s")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="LoadGen's minimum duration per run, seconds (default %(default)s, LoadGen's own)")
    parser.add_argument("--target-qps", type=float,
                        help="Server: the Poisson arrival rate (needed unless --find-peak); Offline: the "
                             "expected samples/s (default: estimated from a few batches)")
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS,
                        help="Server: the bound on p99 latency (default %(default)s, MLPerf DLRM v1)")
    parser.add_argument("--find-peak", action="store_true",
                        help="Server: search the highest target QPS LoadGen calls VALID (an Offline run first "
                             "gives the upper bound)")
    parser.add_argument("--peak-tries", type=int, default=PEAK_TRIES,
                        help="Server runs the search may make (default %(default)s)")
    parser.add_argument("--instances", type=int, help="runner instances, each its own session (default: one per "
                                                      "physical core)")
    parser.add_argument("--threads", type=int, help="intra-op threads per instance (default: cores / instances)")
    parser.add_argument("--instance-kind", choices=KINDS,
                        help=f"instances as threads of this process or as worker processes fed through shared "
                             f"memory (default {DEFAULT_KIND})")
    parser.add_argument("--devices", metavar="all|0,1",
                        help="one worker-process instance per accelerator, all under one LoadGen run: 'all' the "
                             "runner sees, or their indices (accelerator runners only)")
    parser.add_argument("--ort-providers", metavar="A,B",
                        help="ONNX Runtime execution providers in priority order (default: the CPU); one that is "
                             "not available is an error, never a CPU fallback")
    parser.add_argument("--max-batch", type=int, help="the batcher's largest batch (default: Offline 4096, "
                                                      "Server 1024, SingleStream 1)")
    parser.add_argument("--max-wait-ms", type=float, default=DEFAULT_MAX_WAIT_MS,
                        help="the longest a batch waits to fill before it runs, ms (default %(default)s: a free instance "
                             "takes what is queued)")
    parser.add_argument("--seed", type=int, default=0, help="LoadGen's RNG seeds (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("out/loadgen"),
                        help="directory for LoadGen's logs and result.json (default %(default)s)")
    parser.add_argument("--saved-model", metavar="DIR", help="the TF original (beats WIDEDEEP_SAVED_MODEL)")
    parser.add_argument("--eval-csv", metavar="FILE", help="a Criteo eval CSV (beats WIDEDEEP_EVAL_CSV)")
    parser.add_argument("--onnx", metavar="FILE", help="the converted ONNX to run (beats WIDEDEEP_ONNX)")
    parser.add_argument("--calibration-csv", metavar="FILE",
                        help="INT8: Criteo-format rows to calibrate on, none of them in the eval set (default: the "
                             "synthetic default's training rows, or the eval set's last 16384 rows held out)")
    parser.add_argument("--bundle", type=Path, metavar="DIR",
                        help="run from a bundle (widedeep-bench bundle) instead: no TensorFlow needed")
    parser.set_defaults(run=run)


def check(args):
    """Refuse bad usage (exit 2) before anything is loaded; return the base ``ScenarioSettings``."""
    from widedeep_bench.cache import check_output_path, remove_earlier_output
    from widedeep_bench.calibration import refuse_unneeded
    from widedeep_bench.engines.registry import RUNNERS, runner_class
    from widedeep_bench.suite.engines import engine_options
    from widedeep_bench.loadgen.scenarios import ScenarioSettings
    from widedeep_bench.loadgen.sut import loadgen_module

    if args.backend not in RUNNERS:
        raise WidedeepError(f"--backend {args.backend!r}: expected one of {sorted(RUNNERS)}")
    if args.find_peak and (args.scenario != "Server" or args.mode != "performance"):
        raise WidedeepError("--find-peak searches Server target QPS: give it with --scenario Server --mode performance")
    if args.find_peak and args.target_qps is not None:
        raise WidedeepError("--find-peak searches the target QPS: do not give --target-qps with it")
    if args.scenario == "Server" and not args.find_peak and args.target_qps is None:
        raise WidedeepError("--scenario Server needs --target-qps Q (the arrival rate) or --find-peak")
    for option, value in (("--peak-tries", args.peak_tries), ("--instances", args.instances),
                          ("--threads", args.threads)):
        if value is not None and value < 1:
            raise WidedeepError(f"{option} {value}: expected at least 1")
    if args.ort_providers is not None:
        args.ort_providers = tuple(p.strip() for p in args.ort_providers.split(","))
        if args.backend != "onnxruntime" or not all(args.ort_providers):
            raise WidedeepError(f"--ort-providers {','.join(args.ort_providers)}: expected non-empty provider names, "
                                f"with --backend onnxruntime (got {args.backend})")
    options = engine_options(args.backend, args.precision, ort_providers=args.ort_providers)
    reason = runner_class(args.backend).unavailable_reason(options)
    if reason:
        raise WidedeepError(f"--backend {args.backend} --precision {args.precision} cannot run here: {reason}")
    if args.devices is not None:
        from widedeep_bench.loadgen.job import resolve_devices

        from widedeep_bench.loadgen.workers import devices_conflict

        conflict = devices_conflict(args.instances is not None, args.instance_kind)
        if conflict:
            raise WidedeepError(f"--devices {args.devices}: {conflict} (--instances, --instance-kind threads)")
        args.devices = resolve_devices(args.backend, options, args.devices)
    if args.calibration_csv is not None:
        refuse_unneeded("--calibration-csv", args.precision)
    if args.bundle is not None and any((args.saved_model, args.eval_csv, args.onnx)):
        raise WidedeepError("--bundle brings its own ONNX and eval set: do not give --saved-model, --eval-csv or "
                            "--onnx with it")
    try:
        settings = ScenarioSettings("Offline" if args.find_peak else args.scenario,
                                    mode="accuracy" if args.mode == "accuracy" else "performance",
                                    duration_s=args.duration, target_qps=args.target_qps, latency_ms=args.latency_ms,
                                    max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, seed=args.seed)
    except WidedeepError as exc:
        raise WidedeepError(f"--duration, --target-qps, --latency-ms, --max-batch, --max-wait-ms: {exc}") from exc
    loadgen_module()
    check_output_path(args.out / RESULT_FILE, f"--out {args.out}")
    # An earlier run's result is never read as this run's; any other file there is refused, never replaced.
    remove_earlier_output(args.out / RESULT_FILE, f"--out {args.out}", "a loadgen result",
                          lambda earlier: isinstance(earlier, dict) and {"scenario", "mode"} <= earlier.keys())
    return settings


def run(args) -> dict:
    from widedeep_bench.environment import machine, provenance
    from widedeep_bench.loadgen.job import Instances

    settings = check(args)
    inputs = _Inputs(args)
    calibration = inputs.calibration(args.calibration_csv) if args.precision in CALIBRATED_PRECISIONS else None
    instances = Instances(args.backend, args.precision, inputs.model(args.backend), count=args.instances,
                          threads=args.threads, max_batch=args.max_batch, providers=args.ort_providers or (),
                          calibration=calibration, kind=args.instance_kind,
                          devices=args.devices)
    with instances:
        result = {"scenario": args.scenario, "mode": args.mode, **instances.describe(), **_run_mode(
            args, settings, instances, inputs)}
    cpu = machine()
    result.update({"rows": inputs.rows.rows, "eval_csv": str(inputs.eval_csv), "onnx": str(inputs.onnx),
                   "calibration": None if calibration is None else calibration.as_dict(),
                   "out": str(args.out), "cpu": cpu["cpu"], "cpu_flags": cpu["cpu_flags"], "machine": cpu,
                   **provenance()})
    _write_result(args.out / RESULT_FILE, result)
    if not result["passed"]:
        raise GatesFailed(result["why"], {key: value for key, value in result.items() if key != "machine"})
    return {key: value for key, value in result.items() if key != "machine"}


def _run_mode(args, settings, instances, inputs) -> dict:
    from widedeep_bench.loadgen import job

    out, rows = args.out, inputs.rows
    if args.mode == "accuracy":
        return _accuracy(job.run(instances, inputs.labelled_rows(), settings, out / f"{args.scenario}-accuracy"),
                         instances, inputs)
    if args.mode == "compliance":
        check = job.check_compliance(instances, rows, settings, out)
        run = check.performance_run
        null = job.null_ceiling(rows, settings, out, count=instances.count, kind=instances.kind)
        if not run.valid:
            why = _invalid(run)
        elif not check.passed:
            why = (f"{check.mismatched} of {check.checked} logged responses differ from the accuracy run's beyond "
                   f"atol {check.atol:g} (max {check.max_abs_error:.3g}): not compliant")
        else:
            why = ""
        return {**_figures(run), "compliance": check.as_dict(), "null": null, "passed": not why, "why": why}
    if args.find_peak:
        offline, search = job.peak(instances, rows, settings, out, tries=args.peak_tries)
        peak = search.peak_target_qps
        null = job.null_ceiling(rows, replace(settings, scenario="Server", target_qps=peak or offline.samples_per_s),
                                out, count=instances.count, kind=instances.kind)
        best = next((t for t in search.tries if t.valid and t.settings["target_qps"] == peak), None)
        # With no VALID try, the figures are the last try's: INVALID, as LoadGen said.
        return {**_figures(best or search.tries[-1]), "offline_samples_per_s": offline.samples_per_s,
                "peak": search.as_dict(), "peak_over_offline": peak / offline.samples_per_s if peak else None,
                "null": null, "null_over_runner": null["offline_samples_per_s"] / offline.samples_per_s,
                "passed": peak is not None,
                "why": "" if peak else f"no Server target was VALID in {len(search.tries)} tries"}
    run = job.run(instances, rows, settings, out / f"{args.scenario}-performance")
    null = job.null_ceiling(rows, settings, out, count=instances.count, kind=instances.kind)
    figure = run.throughput
    return {**_figures(run), "null": null,
            "null_over_runner": null["offline_samples_per_s"] / figure if figure and args.scenario == "Offline" else None,
            "passed": run.valid, "why": "" if run.valid else _invalid(run)}


def _figures(run) -> dict:
    return {"valid": run.valid, "validity": run.validity, "samples_per_s": run.samples_per_s,
            "scheduled_qps": run.scheduled_qps, "completed_qps": run.completed_qps,
            "latency_ms": {k: run.latency_ms[k] for k in ("p50", "p90", "p99")}, "constraints": run.constraints,
            "batcher": run.batcher, "settings": run.settings, "log_dir": run.log_dir,
            "summary": str(Path(run.log_dir) / "mlperf_log_summary.txt")}


def _invalid(run) -> str:
    unmet = [name for name, met in run.constraints.items() if met is False]
    return f"LoadGen called the run INVALID ({', '.join(unmet) or 'see ' + run.log_dir}/mlperf_log_summary.txt)"


def _accuracy(run, instances, inputs) -> dict:
    """AUC, Top-1 and log loss decoded from the accuracy log, the suite's own on the same rows (the
    ``metrics.accuracy`` of ``run_batches`` at batch 1024, as ``pytest -m accuracy``), and the TF original's."""
    from widedeep_bench.gates import tier_auc
    from widedeep_bench.loadgen.job import accuracy_of_log
    from widedeep_bench.metrics import ACCURACY_BATCH, accuracy
    from widedeep_bench.probabilities import run_batches
    from widedeep_bench.profiles import MLPERF_TIERS

    rows = inputs.labelled_rows()
    logged = accuracy_of_log(Path(run.log_dir), rows)
    suite = accuracy(run_batches(instances.members[0], rows, ACCURACY_BATCH), rows.labels)
    tf_probabilities, tf_missing = inputs.tf_original()
    tf = None if tf_probabilities is None else accuracy(tf_probabilities, rows.labels)
    difference = abs(logged.auc - suite.auc)
    result = {**_figures(run), "accuracy": {**logged.as_dict(), "suite_auc": suite.auc,
                                            "auc_difference_from_suite": difference,
                                            "tf_original": None if tf is None else tf.as_dict(),
                                            "tf_original_missing": tf_missing,
                                            "auc_over_tf_original": None if tf is None else logged.auc / tf.auc,
                                            # MLPerf's accuracy targets: 99% and 99.9% of the FP32 reference's AUC
                                            "meets_tier": None if tf is None else {
                                                f"{tier:g}": logged.auc >= tier_auc(tier, tf.auc) for tier in MLPERF_TIERS}}}
    # Accuracy mode is judged on its answers: every row answered, the AUC the suite itself computes.
    result["passed"] = difference <= 1e-6
    result["why"] = "" if result["passed"] else (f"the accuracy log's AUC {logged.auc:.9f} differs from the suite's "
                                                 f"{suite.auc:.9f} on the same rows by {difference:.3g} > 1e-6")
    return result


def _write_result(path: Path, result: dict) -> None:
    from widedeep_bench.cache import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")


class _Inputs:
    """The model, rows and TF original of a loadgen run: from a bundle, or resolved like ``prepare``."""

    def __init__(self, args) -> None:
        from widedeep_bench.data.criteo_csv import load_eval_tensors
        from widedeep_bench.metrics import whole_batches

        self.bundle = None
        if args.bundle is not None:
            from widedeep_bench.bundle import load_bundle

            self.bundle = load_bundle(args.bundle, "--bundle")
            self.assets = self.bundle.assets()
        else:
            from widedeep_bench.assets import resolve_assets
            from widedeep_bench.commands.prepare import refuse_without_tensorflow

            refuse_without_tensorflow(args, "loadgen")
            self.assets = resolve_assets(args.saved_model, args.eval_csv, args.onnx)
        self.eval_csv = self.assets.eval_csv
        self.tensors = load_eval_tensors(self.eval_csv)
        self.rows = whole_batches(self.tensors)  # the rows the suite checks: whole batches of 1024
        self.onnx = self._onnx()

    def calibration(self, csv: str | None):
        """The rows an INT8 engine calibrates on, proven disjoint from the rows scored; a held-out slice of the
        eval set leaves this run's rows (``self.rows``) ending before it."""
        from widedeep_bench.calibration import calibration_set, check_disjoint, scored_rows
        from widedeep_bench.metrics import whole_batches

        option = "--calibration-csv"
        if csv is None and self.bundle is not None and self.bundle.calibration_csv is not None:
            csv, option = self.bundle.calibration_csv, f"the bundle's {self.bundle.calibration_csv.name}"
        rows = calibration_set(self.assets, self.tensors, csv, option=option)
        self.tensors = scored_rows(self.tensors, rows)
        self.rows = whole_batches(self.tensors)
        check_disjoint(rows, self.rows)
        return rows

    def _onnx(self) -> Path:
        if self.assets.onnx is not None:
            from widedeep_bench.onnx_roles import input_roles

            input_roles(self.assets.onnx)
            return Path(self.assets.onnx)
        from widedeep_bench.bundle import conversion_rows
        from widedeep_bench.conversion.cached import cached_conversion

        return cached_conversion(self.assets.saved_model, parity_rows=conversion_rows(self.tensors)).final

    def model(self, backend: str) -> Path | None:
        if backend == "null":
            return None
        if backend == "tensorflow":
            if self.assets.saved_model is None:
                raise WidedeepError("--backend tensorflow needs the TF original (--saved-model); this run has none")
            return Path(self.assets.saved_model)
        return self.onnx

    def labelled_rows(self):
        from widedeep_bench.metrics import accuracy_rows

        return accuracy_rows(self.tensors)

    def tf_original(self):
        """The TF original's probabilities on the accuracy rows (cached; a bundle's saved reference), or
        ``(None, why not)``."""
        from widedeep_bench.suite.reference import ReferenceSet

        source = str(self.bundle.reference) if self.bundle is not None else None
        references = ReferenceSet(self.assets, self.rows, self.onnx, None, source=source)
        missing = references.unavailable("tensorflow")
        return (None, missing) if missing else (references.get("tensorflow"), None)
