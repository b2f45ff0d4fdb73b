"""``widedeep-bench loadgen`` as a user runs it: a subprocess, a small labelled eval set, a random-weights model
and its conversion; LoadGen's logs and ``result.json`` in ``--out``, one JSON object as the last stdout line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROWS = 8192
SHORT = ("--duration", "0.5")


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory, tiny_saved_model, converted_onnx):
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    root = tmp_path_factory.mktemp("loadgen-inputs")
    return {"saved_model": tiny_saved_model, "onnx": converted_onnx, "cache": root / "cache",
            "eval_csv": write_criteo_csv(root / "eval.csv", ROWS, world_seed=3, row_seed=4)}


@pytest.fixture
def loadgen(small_inputs, tmp_path):
    """``loadgen(*args)`` -> (exit code, last stdout line as JSON or None, stderr, --out)."""
    def run(*args, out=None):
        out = out or tmp_path / "out"
        environment = {name: value for name, value in os.environ.items() if not name.startswith("WIDEDEEP_")}
        environment.update({"WIDEDEEP_CACHE": str(small_inputs["cache"]), "WIDEDEEP_QUIET": "1"})
        command = [sys.executable, "-m", "widedeep_bench", "loadgen", "--saved-model", str(small_inputs["saved_model"]),
                   "--onnx", str(small_inputs["onnx"]), "--eval-csv", str(small_inputs["eval_csv"]),
                   "--out", str(out), *args]
        done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
        lines = done.stdout.strip().splitlines()
        try:
            result = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            result = None
        return done.returncode, result, done.stderr, out
    return run


def test_accuracy_mode_reproduces_the_suites_auc_beside_the_tf_originals(loadgen):
    code, result, stderr, out = loadgen("--mode", "accuracy", *SHORT)
    assert code == 0, stderr
    accuracy = result["accuracy"]
    assert result["rows"] == ROWS and accuracy["rows"] == ROWS
    assert accuracy["auc_difference_from_suite"] <= 1e-6
    assert abs(accuracy["auc"] - accuracy["tf_original"]["auc"]) <= 1e-5  # FP32 ONNX Runtime against TF
    assert accuracy["auc_over_tf_original"] == pytest.approx(accuracy["auc"] / accuracy["tf_original"]["auc"])
    assert (Path(result["log_dir"]) / "mlperf_log_accuracy.json").is_file()
    saved = json.loads((out / "result.json").read_text())
    assert saved["accuracy"] == accuracy and saved["machine"]["cpu"] == result["cpu"]


def test_offline_reports_samples_per_second_beside_the_null_runners_ceiling(loadgen):
    code, result, stderr, _ = loadgen("--scenario", "Offline", *SHORT)
    assert code == 0, stderr
    assert result["valid"] is True and result["validity"] == "VALID"
    assert result["samples_per_s"] > 0 and result["null"]["offline_samples_per_s"] > 0
    assert result["null_over_runner"] == pytest.approx(result["null"]["offline_samples_per_s"] / result["samples_per_s"])
    assert "Samples per second" in Path(result["summary"]).read_text()


def test_worker_process_instances_run_offline_and_the_null_ceiling_beside_it_the_same_way(loadgen):
    code, result, stderr, _ = loadgen("--scenario", "Offline", "--instance-kind", "processes", "--instances", "2",
                                      *SHORT)
    assert code == 0, stderr
    assert result["valid"] is True and result["instance_kind"] == "processes"
    pids = [member["pid"] for member in result["members"]]
    assert len(set(pids)) == 2
    assert result["null"]["instance_kind"] == "processes" and result["null"]["instances"] == 2


def test_an_invalid_run_exits_1_with_loadgens_verdict(loadgen):
    # No response can come back within a microsecond: LoadGen calls the run INVALID.
    code, result, stderr, _ = loadgen("--backend", "null", "--scenario", "Server", "--target-qps", "300",
                                      "--latency-ms", "0.001", *SHORT)
    assert code == 1, stderr
    assert result["valid"] is False and result["validity"] == "INVALID"
    assert "INVALID" in result["why"] and result["passed"] is False
    assert "Result is : INVALID" in Path(result["summary"]).read_text()


def test_compliance_mode_passes_a_runner_that_answers_the_same_when_timed(loadgen):
    code, result, stderr, _ = loadgen("--mode", "compliance", *SHORT)
    assert code == 0, stderr
    check = result["compliance"]
    assert check["passed"] is True and check["checked"] > 0 and check["mismatched"] == 0
    assert check["max_abs_error"] <= check["atol"]


def test_find_peak_reports_every_try_and_the_highest_valid_target(loadgen):
    code, result, stderr, _ = loadgen("--scenario", "Server", "--find-peak", "--peak-tries", "2", *SHORT)
    tries = result["peak"]["tries"]
    assert len(tries) == 2 and tries[0]["target_qps"] == pytest.approx(0.8 * result["offline_samples_per_s"])
    valid = [t["target_qps"] for t in tries if t["valid"]]
    assert result["peak"]["peak_target_qps"] == (max(valid) if valid else None)
    assert code == (0 if valid else 1), stderr


@pytest.mark.parametrize("args, named", [
    (("--scenario", "Server"), "--target-qps"),
    (("--find-peak",), "--find-peak"),
    (("--scenario", "Server", "--find-peak", "--target-qps", "100"), "--target-qps"),
    (("--duration", "0"), "--duration"),
    (("--latency-ms", "nan", "--scenario", "Server", "--target-qps", "10"), "--latency-ms"),
    (("--backend", "tensorrtx"), "--backend"),
    (("--peak-tries", "0", "--scenario", "Server", "--find-peak"), "--peak-tries"),
    (("--instances", "0"), "--instances"),
    (("--threads", "-1"), "--threads"),
    (("--bundle", "somewhere"), "--bundle"),
    (("--devices", "0"), "--devices 0: onnxruntime with these options runs on the CPU"),
    (("--devices", "all", "--backend", "null"), "--devices all: null with these options runs on the CPU"),
])
def test_bad_usage_is_one_line_exit_2_and_runs_nothing(loadgen, args, named):
    code, result, stderr, out = loadgen(*args)
    assert code == 2 and result is None
    assert len(stderr.strip().splitlines()) == 1 and named in stderr, stderr
    assert not out.exists() or not any(out.iterdir())


def test_an_out_that_is_a_file_is_refused(loadgen, tmp_path):
    existing = tmp_path / "taken"
    existing.write_text("not a directory")
    code, _, stderr, _ = loadgen(*SHORT, out=existing)
    assert code == 2 and str(existing) in stderr and existing.read_text() == "not a directory"
