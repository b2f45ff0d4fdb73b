"""Top-1 (ByteMLPerf's exact rule), AUC and log loss on the whole eval set, with the profile's gates.

A Top-1 floor alone cannot tell a working engine from a constant predictor (the seed's 0.74597 sits
at the all-negative baseline), so every case also meets an AUC margin over 0.5, a maximum drop below
the TF original's Top-1 on the same rows, and MLPerf's rule: AUC >= 99% (or the 99.9% tier, the
profile's ``auc_tier``) of the TF original's AUC on the same rows. The rules are
``widedeep_bench.gates.accuracy_gates``. A run with INT8 engines scores no row they were calibrated on
(``widedeep_bench.calibration``).
"""

import pytest

from widedeep_bench import gates
from widedeep_bench.metrics import ACCURACY_BATCH, accuracy
from widedeep_bench.probabilities import run_batches

pytestmark = pytest.mark.accuracy

METHOD = (f"whole eval set at batch {ACCURACY_BATCH}, final partial batch dropped; Top-1 = mean(argmax(round(p)) "
          f"== label); AUC and log loss by scikit-learn")


def record_accuracy(results, profile, case, metrics, tf_metrics=None):
    results.accuracy[case] = metrics.as_dict()
    failed = [g.line() for g in results.gates.record(*gates.accuracy_gates(case, metrics, profile,
                                                                             tf_metrics=tf_metrics, method=METHOD))
              if not g.passed]
    assert not failed, f"{case} on {metrics.rows} rows failed its gates:\n" + "\n".join(failed)


def test_tf_original_accuracy(references, accuracy_tensors, wd_config, wd_results):
    missing = references.unavailable("tensorflow")
    if missing:
        pytest.skip(f"no TF original: {missing}")
    metrics = accuracy(references.get("tensorflow"), accuracy_tensors.labels)
    record_accuracy(wd_results, wd_config.profile, "tensorflow-fp32", metrics)


def test_engine_accuracy(engine_case, engine_pool, references, accuracy_tensors, wd_config, wd_results):
    runner = engine_pool.get(engine_case.backend, engine_case.precision)
    metrics = accuracy(run_batches(runner, accuracy_tensors, ACCURACY_BATCH), accuracy_tensors.labels)
    missing_tf = references.unavailable("tensorflow")
    if missing_tf:
        for name in (gates.accuracy_drop_name(engine_case.id),
                     gates.accuracy_tier_name(engine_case.id, wd_config.profile.auc_tier)):
            wd_results.gates.could_not_run(name, f"no TF original: {missing_tf}")
    tf_metrics = None if missing_tf else accuracy(references.get("tensorflow"), accuracy_tensors.labels)
    record_accuracy(wd_results, wd_config.profile, engine_case.id, metrics, tf_metrics)
    if missing_tf:
        pytest.skip(f"the drop and MLPerf-tier gates need the TF original on the same rows: {missing_tf}")
