"""Top-1 (ByteMLPerf's exact rule), AUC and log loss on the whole eval set, with the profile's gates.

A Top-1 floor alone cannot tell a working engine from a constant predictor (the seed's 0.74597 sits
at the all-negative baseline), so every case also meets an AUC margin over 0.5 and, where the TF
original is known, a maximum drop below its Top-1 on the same rows.
"""

import pytest

from widedeep_bench.metrics import ACCURACY_BATCH, accuracy
from widedeep_bench.probabilities import run_batches

pytestmark = pytest.mark.accuracy

METHOD = (f"whole eval set at batch {ACCURACY_BATCH}, final partial batch dropped; Top-1 = mean(argmax(round(p)) "
          f"== label); AUC and log loss by scikit-learn")


def check_accuracy_gates(results, profile, case, metrics, tf_top1=None):
    results.accuracy[case] = metrics.as_dict()
    gates = [
        results.gates.check(f"accuracy {case}: Top-1 >= profile floor", metrics.top1, ">=", profile.top1_floor,
                            method=METHOD),
        results.gates.check(f"accuracy {case}: AUC >= 0.5 + margin", metrics.auc, ">=", 0.5 + profile.auc_margin,
                            method=METHOD),
    ]
    if tf_top1 is not None:
        gates.append(results.gates.check(
            f"accuracy {case}: Top-1 >= TF original - allowed drop", metrics.top1, ">=",
            tf_top1 - profile.top1_max_drop, method=f"{METHOD}; TF original on the same rows: {tf_top1:.5f}"))
    failed = [gate.line() for gate in gates if not gate.passed]
    assert not failed, f"{case} on {metrics.rows} rows failed its gates:\n" + "\n".join(failed)


def test_tf_original_accuracy(references, accuracy_tensors, wd_config, wd_results):
    missing = references.unavailable("tensorflow")
    if missing:
        pytest.skip(f"no TF original: {missing}")
    metrics = accuracy(references.get("tensorflow"), accuracy_tensors.labels)
    check_accuracy_gates(wd_results, wd_config.profile, "tensorflow-fp32", metrics)


def test_engine_accuracy(engine_case, engine_pool, references, accuracy_tensors, wd_config, wd_results):
    runner = engine_pool.get(engine_case.backend, engine_case.precision)
    metrics = accuracy(run_batches(runner, accuracy_tensors, ACCURACY_BATCH), accuracy_tensors.labels)
    tf_top1 = None
    if references.unavailable("tensorflow") is None:
        tf_top1 = accuracy(references.get("tensorflow"), accuracy_tensors.labels).top1
    check_accuracy_gates(wd_results, wd_config.profile, engine_case.id, metrics, tf_top1)
