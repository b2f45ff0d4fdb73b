"""Reduced precisions as a user meets them: the rows INT8 calibrates on are never scored, an eval set too
short to hold rows out fails only its INT8 cases, and a precision nothing here can run measures nothing
and fails the run rather than going green.

Each case runs the conformance suite in a subprocess on the tiny random-weights model (its gates on
accuracy are not what is checked here: the rows the report says were scored are).
"""

import json

import pytest

from widedeep_bench.engines.registry import RUNNERS, runner_class
from widedeep_bench.engines.base import EngineOptions
from widedeep_bench.synthetic.criteo_rows import write_criteo_csv


def gates_by_name(report) -> dict:
    return {gate["name"]: gate for gate in report["gates"]}


def test_a_users_eval_set_scores_only_the_rows_before_the_held_out_calibration_rows(tmp_path, tiny_saved_model,
                                                                                     run_suite):
    eval_csv = write_criteo_csv(tmp_path / "eval.csv", 18432, row_seed=5)
    report_path = tmp_path / "report.json"
    done = run_suite("-m", "accuracy", "--wd-saved-model", str(tiny_saved_model), "--wd-eval-csv", str(eval_csv),
                     "--wd-backend", "onnxruntime", "--wd-precision", "fp32,int8", "--wd-report", str(report_path))
    report = json.loads(report_path.read_text())
    assert report["context"]["calibration"]["held_out_eval_rows"] == [2048, 18432], done.stdout[-3000:]
    assert "rows 2048..18431 (the last 16384), held out" in report["context"]["calibration"]["source"]
    # Every engine and the TF original scored the same 2048 rows, none of the 16384 INT8 calibrated on.
    assert {case: metrics["rows"] for case, metrics in report["accuracy"].items()} == {
        "tensorflow-fp32": 2048, "onnxruntime-fp32": 2048, "onnxruntime-int8": 2048}
    tier = gates_by_name(report)["accuracy onnxruntime-int8: AUC >= 99.9% of TF original (MLPerf tier)"]
    assert tier["status"] in ("PASS", "FAIL") and "TF original's AUC on the same rows" in tier["method"]
    assert "calibration (INT8): 16384 rows" in done.stdout


def test_an_eval_set_too_short_to_hold_rows_out_fails_its_int8_cases_only(tmp_path, tiny_saved_model, run_suite):
    eval_csv = write_criteo_csv(tmp_path / "eval.csv", 2048, row_seed=5)
    report_path = tmp_path / "report.json"
    done = run_suite("-m", "accuracy", "-k", "engine_accuracy", "--wd-saved-model", str(tiny_saved_model),
                     "--wd-eval-csv", str(eval_csv), "--wd-backend", "onnxruntime", "--wd-precision", "fp32,int8",
                     "--wd-report", str(report_path))
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-3000:]
    report = json.loads(report_path.read_text())
    assert report["accuracy"]["onnxruntime-fp32"]["rows"] == 2048  # FP32 scored every row
    int8 = [gate for gate in report["gates"] if gate["name"].startswith("accuracy onnxruntime-int8")]
    assert int8 and all(gate["status"] == "NOT RUN" for gate in int8)
    assert all("int8 has no calibration rows" in gate["why"] and "--wd-calibration-csv FILE" in gate["why"]
               for gate in int8)


@pytest.mark.skipif(any(runner_class(name).unavailable_reason(EngineOptions(precision="bf16")) is None
                        for name in RUNNERS if name not in ("null", "tensorflow")), reason="a runner here runs BF16")
def test_a_precision_no_runner_has_here_measures_nothing_and_fails_the_run(tmp_path, run_suite):
    report_path = tmp_path / "report.json"
    done = run_suite("-m", "accuracy", "-k", "engine_accuracy", "--wd-precision", "bf16",
                     "--wd-report", str(report_path))
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-3000:]
    assert "engine test(s) were selected and no engine gate was evaluated" in done.stdout
    report = json.loads(report_path.read_text())
    assert report["passed"] is False and report["accuracy"] == {}
