"""``pytest -m scenario`` as a user runs it: a profile's ``[[scenario]]`` tables judged through the gate layer,
and a selection with nothing to measure refused rather than passed."""

import json

import pytest

ROWS = 4096
PROFILE = """name = "scenarios"
backends = []
precisions = ["fp32"]
batch_sizes = [1024]
[accuracy]
top1_floor = 0.01
top1_max_drop = 0.01
auc_margin = 0.01
"""
UNMEETABLE_SERVER = """
[[scenario]]
scenario = "Server"
backend = "null"
precision = "fp32"
min_qps = 500
latency_ms = 0.001
duration_s = 0.5
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_saved_model, converted_onnx):
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    root = tmp_path_factory.mktemp("scenario-runs")
    (root / "no-tables.toml").write_text(PROFILE)
    (root / "unmeetable.toml").write_text(PROFILE + UNMEETABLE_SERVER)
    return {"root": root, "cache": root / "cache",
            "args": ["--wd-saved-model", str(tiny_saved_model), "--wd-onnx", str(converted_onnx),
                     "--wd-eval-csv", str(write_criteo_csv(root / "eval.csv", ROWS, world_seed=2, row_seed=3))]}


def test_selecting_only_scenario_tests_of_a_profile_without_tables_is_refused(inputs, run_suite):
    done = run_suite("-m", "scenario", "--wd-profile", str(inputs["root"] / "no-tables.toml"), *inputs["args"],
                     cache=inputs["cache"])
    assert done.returncode == 4, done.stdout + done.stderr
    assert "has no [[scenario]] tables: nothing would be measured" in done.stderr


def test_a_run_loadgen_calls_invalid_fails_its_gate_and_the_session(inputs, run_suite, tmp_path):
    report, kept = tmp_path / "report.json", tmp_path / "loadgen"
    done = run_suite("-m", "scenario", "--wd-profile", str(inputs["root"] / "unmeetable.toml"), *inputs["args"],
                     "--wd-report", str(report), "--wd-loadgen-out", str(kept), cache=inputs["cache"])
    assert done.returncode == 1, done.stdout + done.stderr
    saved = json.loads(report.read_text())
    gates = {gate["name"]: gate for gate in saved["gates"]}
    valid = gates["scenario Server null-fp32: LoadGen VALID"]
    assert valid["status"] == "FAIL" and valid["measured"] == 0.0 and "LoadGen said INVALID" in valid["method"]
    assert gates["scenario Server null-fp32 at 500 QPS: p99 <= 0.001 ms"]["status"] == "FAIL"
    run = saved["scenarios"]["Server null-fp32"]["performance"]
    assert run["validity"] == "INVALID" and saved["passed"] is False
    assert saved["scenarios"]["Server null-fp32"]["null"]["offline_samples_per_s"] > 0
    summary = kept / "Server-null-fp32" / "Server-performance" / "mlperf_log_summary.txt"
    assert run["log_dir"] == str(summary.parent) and "Result is : INVALID" in summary.read_text()
