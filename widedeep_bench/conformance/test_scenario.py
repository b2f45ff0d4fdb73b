"""MLPerf LoadGen scenarios, judged by the profile's ``[[scenario]]`` gates.

Each table runs its scenario through the real LoadGen (``widedeep_bench.loadgen``) over fresh runner
instances on the eval set's rows: a performance run (Offline samples/s, or Server at the table's QPS under its
p99 bound) with the null runner's ceiling beside it, and where the table names an accuracy tier, an accuracy
run whose AUC, decoded from LoadGen's accuracy log, must reach that tier of the TF original's AUC on the
same rows. LoadGen's verdict is a gate of its own: an INVALID run never passes, whatever its figures. The
rules are ``widedeep_bench.gates.scenario_*``.
"""

from pathlib import Path

import pytest

from widedeep_bench import gates
from widedeep_bench.errors import WidedeepError

pytestmark = pytest.mark.scenario


def test_scenario(scenario_gate, request, tmp_path_factory, wd_config, wd_assets, suite_onnx, reference_rows,
                  calibration, wd_results):
    from widedeep_bench.engines.store import EngineStore
    from widedeep_bench.loadgen import job
    from widedeep_bench.metrics import accuracy
    from widedeep_bench.suite.engines import engine_options

    gate, case = scenario_gate, gates.scenario_case(scenario_gate)
    model = {"tensorflow": wd_assets.saved_model, "null": None}.get(gate.backend, suite_onnx)
    out = _log_directory(wd_config.loadgen_out, case, tmp_path_factory)
    options = engine_options(gate.backend, gate.precision, ort_providers=wd_config.ort_providers)
    devices = None if gate.devices is None else job.resolve_devices(gate.backend, options, gate.devices,
                                                                    option=f"{case}: devices =")
    instances = job.Instances(gate.backend, gate.precision, model, count=gate.instances, max_batch=gate.max_batch,
                              providers=options.providers, store=EngineStore(), calibration=calibration,
                              kind=gate.instance_kind, devices=devices)
    measured, evaluated = {"log_dir": str(out)}, []
    with instances:
        measured["runner"] = instances.describe()
        if gate.min_samples_per_s is not None or gate.min_qps is not None:
            result, null = job.gated_performance(instances, reference_rows, gate, out)
            measured.update(performance=result.as_dict(), null=null)
            evaluated += gates.scenario_performance_gates(
                case, gate, valid=result.valid, validity=result.validity, samples_per_s=result.samples_per_s,
                p99_ms=result.latency_ms["p99"], method=job.method(result, null))
        if gate.accuracy_tier is not None:  # labelled rows and the TF reference: only where a tier asks
            accuracy_tensors, references = (request.getfixturevalue(name) for name in ("accuracy_tensors",
                                                                                      "references"))
            name = gates.scenario_accuracy_name(case, gate.accuracy_tier)
            result, logged = job.gated_accuracy(instances, accuracy_tensors, gate, out)
            measured.update(accuracy_run=result.as_dict(), accuracy=logged.as_dict())
            missing = references.unavailable("tensorflow")
            if missing:
                wd_results.gates.could_not_run(name, f"the tier is a fraction of the TF original's AUC: {missing}")
            else:
                tf_auc = accuracy(references.get("tensorflow"), accuracy_tensors.labels).auc
                measured["tf_original_auc"] = tf_auc
                evaluated.append(gates.scenario_accuracy_gate(
                    case, gate.accuracy_tier, auc=logged.auc, tf_auc=tf_auc,
                    method=f"LoadGen {gate.scenario} AccuracyOnly over {logged.rows} rows; AUC (scikit-learn) of "
                           f"the float32 click probabilities in mlperf_log_accuracy.json; TF original's AUC on the "
                           f"same rows {tf_auc:.6f}; LoadGen said {result.validity}"))
    wd_results.scenarios[case] = measured
    failed = [g.line() for g in wd_results.gates.record(*evaluated) if not g.passed]
    assert not failed, "\n".join(failed)
    missing = gate.accuracy_tier is not None and references.unavailable("tensorflow")
    if missing:
        pytest.skip(f"the accuracy tier needs the TF original's AUC: {missing}")


def _log_directory(loadgen_out, case: str, tmp_path_factory) -> Path:
    """Where this table's LoadGen logs go: ``--wd-loadgen-out``/<case>, or pytest's temporary directory."""
    if loadgen_out is None:
        return tmp_path_factory.mktemp(case.replace(" ", "-"))
    out = Path(loadgen_out) / case.replace(" ", "-")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WidedeepError(f"--wd-loadgen-out {loadgen_out}: cannot make {out}: {exc.strerror or exc}") from exc
    return out
