"""A gate never passes by accident: what cannot be measured fails the run, as a user would meet it.

Each case runs the conformance suite in a subprocess, as ``pytest`` on the command line. Most stop at
configuration or collection, before any model is built, so they are quick.
"""

import json

import pytest


def test_a_profile_whose_runner_is_absent_fails_before_anything_runs(run_suite):
    done = run_suite("--wd-profile", "mr-v100-ixrt-fp16")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert "runners named by profile 'mr-v100-ixrt-fp16' cannot run here: ixrt-fp16: ixrt not importable" \
        in done.stderr
    assert "--wd-allow-missing" in done.stderr


@pytest.mark.parametrize("marker", ["perf", "accuracy", "parity"])
def test_a_named_backend_that_cannot_run_fails_whatever_is_selected(marker, run_suite):
    done = run_suite("-m", marker, "--wd-backend", "tensorrt")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "runners named by --wd-backend cannot run here: tensorrt-" in done.stderr


def test_the_same_from_the_environment(run_suite):
    done = run_suite(env={"WIDEDEEP_BACKEND": "ixrt"})
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and "ixrt not importable" in done.stderr


def test_an_unavailable_ort_provider_is_refused_not_replaced_by_the_cpu(run_suite):
    done = run_suite("--wd-ort-providers", "CUDAExecutionProvider")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "CUDAExecutionProvider" in done.stderr and "available" in done.stderr


def test_a_perf_gate_at_a_batch_the_run_does_not_measure_is_an_error(run_suite):
    done = run_suite("--wd-batch-sizes", "4096", "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "cpu-default.toml [[perf]] #1 (onnxruntime fp32 batch 1024) can never apply" in done.stderr
    assert "batch 1024 (run measures [4096])" in done.stderr


def test_the_same_perf_gate_is_only_deselected_when_perf_is_not_selected(run_suite):
    done = run_suite("-m", "accuracy", "--wd-batch-sizes", "4096", "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.OK, done.stdout[-2000:] + done.stderr[-2000:]


def test_a_perf_gate_for_a_precision_the_run_does_not_measure_is_an_error(run_suite):
    done = run_suite("--wd-precision", "fp16", "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and "precision fp32" in done.stderr


@pytest.mark.parametrize("profile_text, key", [
    ('[accuracy]\ntop1_floor = 0.745\ntop1_max_drop = 0.001\nauc_margin = -0.5\n', "auc_margin"),
    ('[accuracy]\ntop1_floorr = 0.9\ntop1_floor = 0.745\ntop1_max_drop = 0.001\nauc_margin = 0.05\n', "top1_floorr"),
])
def test_a_profile_that_would_make_a_gate_meaningless_is_refused(tmp_path, profile_text, key, run_suite):
    profile = tmp_path / "weak.toml"
    profile.write_text('name = "weak"\nbackends = ["onnxruntime"]\nprecisions = ["fp32"]\nbatch_sizes = [1024]\n'
                       + profile_text)
    done = run_suite("--wd-profile", str(profile), "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and str(profile) in done.stderr and key in done.stderr


@pytest.mark.parametrize("option, value", [("--wd-perf-warmup", "abc"), ("--wd-perf-warmup", "-1"),
                                           ("--wd-perf-rounds", "0"), ("--wd-perf-duration", "nan")])
def test_a_bad_timing_option_is_one_line_not_an_internal_error(option, value, run_suite):
    done = run_suite(f"{option}={value}", "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and "INTERNALERROR" not in done.stderr + done.stdout
    assert option in done.stderr


def test_an_unusable_cache_root_is_one_line(tmp_path, run_suite):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    done = run_suite("--collect-only", "-q", env={"WIDEDEEP_CACHE": str(not_a_directory)})
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and str(not_a_directory) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_run_that_errors_in_setup_writes_a_report_that_does_not_pass(tmp_path, tiny_saved_model, run_suite,
                                                                       run_report):
    bad = tmp_path / "eval.csv"
    bad.write_text("this is not a criteo row\n")
    report = tmp_path / "report.json"
    done = run_suite("-m", "accuracy", "--wd-saved-model", str(tiny_saved_model), "--wd-eval-csv", str(bad),
                     "--wd-backend", "onnxruntime", "--wd-precision", "fp32", "--wd-report", str(report))
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-2000:]
    saved = json.loads(report.read_text())
    assert saved["passed"] is False
    not_run = [g for g in saved["gates"] if g["status"] == "NOT RUN"]
    assert not_run and all("error in setup" in g["why"] and "eval.csv" in g["why"] for g in not_run)
    shown = run_report(report)
    assert shown.returncode == 1 and "did not run" in shown.stderr
    assert json.loads(shown.stdout.splitlines()[-1])["passed"] is False
