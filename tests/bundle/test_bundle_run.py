"""The suite run from a bundle on a machine without TensorFlow: parity and accuracy pass against the
bundle's references, nothing ever tries to import TensorFlow, tf2onnx or onnxsim, and perf's paired
ratio, which needs the TF original timed beside the engine, is NOT RUN with the reason (fail closed)."""

from __future__ import annotations

import json

import pytest

from .conftest import run_cli

SMALL = ("--wd-backend", "onnxruntime", "--wd-batch-sizes", "1024")


def test_a_run_from_the_bundle_without_tensorflow_passes_parity_and_accuracy(made_bundle, run_device, tmp_path):
    report = tmp_path / "report.json"
    # FP32 and FP16: a user's bundle carries no calibration rows, and its 2,148 eval rows are too few to hold
    # 4,096 out for INT8 (tests/suite/test_precision_runs.py covers that).
    done = run_device("--wd-bundle", made_bundle["path"], "-m", "parity or accuracy", *SMALL,
                      "--wd-precision", "fp32,fp16", "--wd-report", report, "-q")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert done.imports_tried == []  # not even tried: nothing on this path needs TensorFlow
    saved = json.loads(report.read_text())
    assert saved["passed"] is True
    status = {gate["name"]: gate["status"] for gate in saved["gates"]}
    for name in ("parity onnxruntime-fp32/b1024 vs tensorflow: smallest atol that passes",
                 "parity onnxruntime-fp16/b1024 vs onnxruntime-fp32: smallest atol that passes",
                 "accuracy tensorflow-fp32: Top-1 >= profile floor",
                 "accuracy onnxruntime-fp32: Top-1 >= TF original - allowed drop"):
        assert status[name] == "PASS", name
    context = saved["context"]
    assert context["bundle"]["directory"] == str(made_bundle["path"])
    assert context["assets"]["onnx"] == str(made_bundle["path"] / "widedeep.onnx")
    assert context["assets"]["origins"] == {"saved_model": "absent", "eval_csv": "bundle", "onnx": "bundle"}
    assert saved["accuracy"]["tensorflow-fp32"]["rows"] == 2048


def test_widedeep_bench_test_bundle_runs_it_from_any_directory(made_bundle, tmp_path, no_tensorflow):
    done = run_cli("test", "--bundle", made_bundle["path"], "-m", "parity or accuracy", *SMALL, "--wd-precision",
                   "fp32", "-q", cache=tmp_path / "device_cache", blocked=no_tensorflow, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "widedeep_bench gates" in done.stdout and "FAIL" not in done.stdout
    assert "PASS" in done.stdout and "parity onnxruntime-fp32/b1024 vs tensorflow" in done.stdout


def test_the_environment_variable_names_the_bundle_as_the_option_does(made_bundle, run_device):
    done = run_device("-m", "conversion", "--wd-backend", "onnxruntime", "-q",
                      env={"WIDEDEEP_BUNDLE": str(made_bundle["path"])})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "passed" in done.stdout and done.imports_tried == []


def test_perf_from_a_bundle_lists_the_paired_ratio_gate_as_not_run_and_fails(made_bundle, run_device):
    done = run_device("--wd-bundle", made_bundle["path"], "-m", "perf", *SMALL, "--wd-precision", "fp32",
                      "--wd-perf-rounds", "2", "--wd-perf-warmup", "0", "--wd-perf-duration", "0.05", "-q")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-4000:] + done.stderr[-2000:]
    assert ("perf onnxruntime-fp32/b1024: paired ratio vs TF original >= profile ratio (onnxruntime)" in done.stdout)
    assert ("NOT RUN: the relative gate needs the TF original timed in the same rounds: no TF original in this "
            "run (a bundle run" in done.stdout)
    assert "RUN FAILS: 1 selected gate(s) were not run" in done.stdout
    assert done.imports_tried == []
