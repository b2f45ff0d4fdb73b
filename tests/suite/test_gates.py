"""The gate rules and the session's verdict, as pure functions: no pytest session, no engine."""

import math
from types import SimpleNamespace

import pytest

from widedeep_bench import gates
from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.gates import GateBook, PlannedGate, judge
from widedeep_bench.metrics import Accuracy
from widedeep_bench.profiles import PerfGate

PROFILE = SimpleNamespace(top1_floor=0.745, top1_max_drop=0.001, auc_margin=0.05, auc_tier=99.0)


def metrics(top1, auc):
    return Accuracy(top1=top1, auc=auc, logloss=0.5, positive_rate=0.25, rows=1024, all_negative_top1=0.75)


def test_gate_passes_and_fails_on_the_right_side_of_the_threshold():
    assert gates.evaluate("floor", 0.746, ">=", 0.745).passed
    assert not gates.evaluate("ceiling", 2e-5, "<=", 1e-5).passed


def test_a_nan_measurement_never_passes():
    assert not gates.evaluate("ceiling", math.nan, "<=", 1e-5).passed
    assert not gates.evaluate("floor", math.nan, ">=", 0.0).passed


def test_unknown_comparison_is_refused():
    with pytest.raises(ValueError, match="op must be"):
        gates.evaluate("g", 1, "==", 1)


def test_constant_predictor_fails_the_auc_gate_even_above_the_floor():
    """The seed's failure mode: Top-1 at the all-negative baseline, above a 0.745 floor, AUC 0.5."""
    results = {g.name: g for g in gates.accuracy_gates("ixrt-fp16", metrics(0.7460, 0.5), PROFILE,
                                                       tf_metrics=metrics(0.7739, 0.80), method="m")}
    assert results[gates.accuracy_floor_name("ixrt-fp16")].passed
    assert not results[gates.accuracy_auc_name("ixrt-fp16")].passed
    assert not results[gates.accuracy_drop_name("ixrt-fp16")].passed
    assert not results[gates.accuracy_tier_name("ixrt-fp16", 99.0)].passed


def test_drop_gate_is_judged_against_the_tf_original_on_the_same_rows():
    (floor, auc, drop, tier) = gates.accuracy_gates("ort-fp16", metrics(0.7730, 0.80), PROFILE,
                                                    tf_metrics=metrics(0.7739, 0.80), method="m")
    assert drop.passed and drop.threshold == pytest.approx(0.7729) and "0.77390" in drop.method
    assert len(gates.accuracy_gates("ort-fp16", metrics(0.7730, 0.80), PROFILE, tf_metrics=None, method="m")) == 2


@pytest.mark.parametrize("tier, auc, passes", [(99.0, 0.8120 * 0.99 + 1e-6, True), (99.0, 0.8120 * 0.99 - 1e-6, False),
                                               (99.9, 0.8120 * 0.999 + 1e-6, True), (99.9, 0.8120 * 0.99, False)])
def test_an_engine_below_mlperfs_auc_tier_fails_even_with_top1_intact(tier, auc, passes):
    """MLPerf's rule for recommendation: AUC >= 99% (99.9% in the strict tier) of the FP32 reference's AUC on
    the same rows. An INT8 engine that keeps Top-1 but loses ranking quality fails it."""
    profile = SimpleNamespace(**{**vars(PROFILE), "auc_tier": tier})
    results = gates.accuracy_gates("onnxruntime-int8", metrics(0.7739, auc), profile,
                                   tf_metrics=metrics(0.7739, 0.8120), method="m")
    (gate,) = [g for g in results if g.name == gates.accuracy_tier_name("onnxruntime-int8", tier)]
    assert gate.passed is passes
    assert gate.threshold == pytest.approx(tier / 100 * 0.8120) and "0.812000" in gate.method
    assert all(g.passed for g in results if g is not gate)


def test_precision_gates_fail_an_engine_without_evidence_or_with_fp32_outputs():
    from widedeep_bench.precision import PrecisionEvidence, PrecisionProof

    shown = PrecisionEvidence("int8", True, "weights", "4 Gemm/MatMul weights: 4 8-bit")
    evidence, differs = gates.precision_gates("ort-int8", PrecisionProof(shown, 2046, 2048, 0.012),
                                              fp32_atol=1e-5, method="m")
    assert evidence.passed and differs.passed and "2046 of 2048" in differs.method
    not_shown = PrecisionEvidence.not_shown("int8", "no 8-bit weights")
    evidence, differs = gates.precision_gates("ort-int8", PrecisionProof(not_shown, 0, 2048, 0.0),
                                              fp32_atol=1e-5, method="m")
    assert not evidence.passed and "no 8-bit weights" in evidence.method
    assert not differs.passed and "ran FP32" in differs.method
    # A second FP32 build (another summation order) differs in a few bits, not beyond FP32's tolerance.
    (_, reordered) = gates.precision_gates("trt-fp16", PrecisionProof(shown, 37, 2048, 2.4e-7), fp32_atol=1e-5,
                                           method="m")
    assert not reordered.passed
    assert gates.precision_gate_names("ort-fp32", "fp32", ("fp16", "bf16", "int8")) == []



def test_parity_gate_uses_the_smallest_passing_atol():
    import numpy as np

    expected = np.array([[0.7, 0.3], [0.4, 0.6]], np.float32)
    comparison = compare(expected + np.float32(2e-3), expected, atol=5e-3, rtol=0)
    gate = gates.parity_gate("ort-fp16", 1024, "tensorflow", comparison, TOLERANCES["fp16"], method="m")
    assert gate.passed and gate.measured == pytest.approx(2e-3, rel=1e-3)
    assert not gates.parity_gate("ort-fp32", 1024, "tensorflow", comparison, TOLERANCES["fp32"], method="m").passed


def test_perf_gates_judge_the_paired_ratio_and_name_the_ones_without_a_peer():
    profile_gates = [PerfGate(backend="onnxruntime", precision="fp32", batch=1024, min_ratio_vs_tensorflow=0.85),
                     PerfGate(backend=None, precision="fp32", batch=1024, min_samples_per_s=50_000.0)]
    evaluated, missing = gates.perf_gates("onnxruntime-fp32", 1024, profile_gates, samples_per_s=40_000.0,
                                          ratio_vs_tensorflow=0.9, method="m", ratio_method="r")
    assert [(g.unit, g.passed) for g in evaluated] == [("x", True), ("samples/s", False)] and not missing
    evaluated, missing = gates.perf_gates("onnxruntime-fp32", 1024, profile_gates, samples_per_s=60_000.0,
                                          ratio_vs_tensorflow=None, method="m", ratio_method="r")
    assert [g.unit for g in evaluated] == ["samples/s"]
    assert missing == [gates.perf_ratio_name("onnxruntime-fp32", 1024, "onnxruntime")]
    assert missing == [n for n in gates.perf_gate_names("onnxruntime-fp32", 1024, profile_gates) if "ratio" in n]


def plan(*names, selected=True, engine=True):
    return {name: PlannedGate(name=name, nodeid=f"test[{name}]", selected=selected, engine=engine) for name in names}


def passed(name):
    return gates.evaluate(name, 1.0, ">=", 0.5)


def test_every_planned_gate_that_ran_and_passed_makes_a_passing_verdict():
    verdict = judge(plan("a", "b"), {"a": passed("a"), "b": passed("b")}, {}, {}, allow_missing=False,
                    engine_tests_selected=2)
    assert verdict.passed and verdict.count(gates.PASS) == 2


def test_a_planned_gate_without_a_result_is_not_run_with_its_tests_reason_and_fails():
    verdict = judge(plan("a", "b"), {"a": passed("a")}, {}, {"test[b]": "ixrt not importable"}, allow_missing=False,
                    engine_tests_selected=2)
    (row,) = [r for r in verdict.rows if r.status == gates.NOT_RUN]
    assert row.name == "b" and row.why == "ixrt not importable"
    assert not verdict.passed and "not run" in verdict.problems[0]


def test_allow_missing_lists_not_run_gates_without_failing_the_run_but_never_passes():
    verdict = judge(plan("a", "b"), {"a": passed("a")}, {"b": "no TF original"}, {}, allow_missing=True,
                    engine_tests_selected=2)
    assert not verdict.problems and verdict.count(gates.NOT_RUN) == 1 and not verdict.passed


def test_deselected_gates_are_listed_and_do_not_fail_the_run():
    verdict = judge({**plan("a"), **plan("perf", selected=False)}, {"a": passed("a")}, {}, {}, allow_missing=False,
                    engine_tests_selected=1)
    assert verdict.passed and [r.status for r in verdict.rows] == [gates.PASS, gates.DESELECTED]


def test_selected_engine_tests_that_evaluated_no_engine_gate_fail_even_when_missing_is_allowed():
    verdict = judge(plan("tf", engine=False), {"tf": passed("tf")}, {}, {}, allow_missing=True, engine_tests_selected=3)
    assert not verdict.passed and "no engine gate was evaluated" in verdict.problems[0]


def test_a_failed_unplanned_gate_still_fails_the_verdict():
    verdict = judge({}, {"x": gates.evaluate("x", 0.0, ">=", 1.0)}, {}, {}, allow_missing=False, engine_tests_selected=0)
    assert not verdict.passed and verdict.rows[0].status == gates.FAIL


def test_a_withdrawn_gate_is_not_applicable_and_does_not_fail():
    verdict = judge(plan("conv", engine=False), {}, {}, {}, allow_missing=False, engine_tests_selected=0,
                    withdrawn={"conv": "a converted ONNX was given"})
    assert verdict.passed and verdict.rows[0].status == gates.NOT_APPLICABLE


def test_the_book_merges_what_workers_recorded():
    worker_a, worker_b = GateBook(), GateBook()
    for book, selected in ((worker_a, False), (worker_b, True)):
        book.plan(PlannedGate("g", "t[g]", selected=selected, engine=True))
    worker_a.record(gates.evaluate("g", 0.0, ">=", 1.0))
    worker_b.could_not_run("h", "why")
    controller = GateBook()
    controller.extend(worker_a.as_dict())
    controller.extend(worker_b.as_dict())
    assert controller.planned["g"].selected  # selected on any worker: selected
    assert [g.name for g in controller.failed] == ["g"] and controller.not_run == {"h": "why"}


def test_a_result_replaces_an_earlier_could_not_run():
    book = GateBook()
    book.could_not_run("g", "no peer yet")
    book.record(passed("g"))
    assert book.not_run == {} and book.results_by_name["g"].passed


def test_table_shows_measured_threshold_and_why_a_gate_did_not_run():
    verdict = judge(plan("accuracy x: Top-1 >= profile floor", "perf x"), {
        "accuracy x: Top-1 >= profile floor": gates.evaluate("accuracy x: Top-1 >= profile floor", 0.79, ">=", 0.745)},
        {"perf x": "tensorrt not importable"}, {}, allow_missing=True, engine_tests_selected=1)
    lines = gates.table(verdict.rows).splitlines()
    assert lines[0].split()[:2] == ["gate", "measured"]
    assert "0.79" in lines[1] and lines[1].endswith("PASS")
    assert lines[2].endswith("NOT RUN: tensorrt not importable")


def test_junit_properties_carry_each_gates_verdict_measured_value_threshold_unit_and_method():
    passed = gates.evaluate("perf x/b1024: samples/s >= profile minimum", 41234.56789, ">=", 20000.0,
                            unit="samples/s", method="median of 20 rounds")
    failed = gates.evaluate("accuracy x: Top-1 >= profile floor", 0.7012, ">=", 0.745, method="whole eval set")
    assert gates.junit_properties([passed, failed], {"perf x/b1024: paired ratio": "no TF original"}) == [
        ("gate: perf x/b1024: samples/s >= profile minimum",
         "PASS: measured 41234.6 >= threshold 20000 samples/s; method: median of 20 rounds"),
        ("gate: accuracy x: Top-1 >= profile floor",
         "FAIL: measured 0.7012 >= threshold 0.745; method: whole eval set"),
        ("gate: perf x/b1024: paired ratio", "NOT RUN: no TF original")]


def test_the_book_gives_the_gates_one_test_recorded_and_nothing_recorded_before_it():
    book = GateBook()
    earlier = gates.evaluate("earlier", 1.0, ">=", 0.5)
    book.record(earlier)
    book.could_not_run("ratio", "no peer yet")
    mark = book.mark()
    assert book.recorded_since(mark) == []
    again = gates.evaluate("earlier", 0.2, ">=", 0.5)  # evaluated again by this test: it is this test's
    book.record(again, gates.evaluate("new", 3.0, "<=", 4.0, unit="ms"))
    book.could_not_run("other", "no TF original")
    assert [name for name, _ in book.recorded_since(mark)] == ["gate: earlier", "gate: new", "gate: other"]
    assert book.recorded_since(mark)[0][1].startswith("FAIL: measured 0.2 >= threshold 0.5")


def test_a_test_that_failed_before_judging_gives_its_unjudged_selected_gates_as_not_run_properties():
    book = GateBook()
    for name, nodeid, selected in (("judged", "t[a]", True), ("never reached", "t[a]", True),
                                   ("deselected", "t[a]", False), ("said why", "t[a]", True),
                                   ("another test's", "t[b]", True)):
        book.plan(PlannedGate(name, nodeid, selected=selected, engine=True))
    book.record(gates.evaluate("judged", 1.0, ">=", 0.5))
    book.could_not_run("said why", "no TF original")
    assert book.unjudged_properties("t[a]", "failed: boom") == [("gate: never reached", "NOT RUN: failed: boom")]
