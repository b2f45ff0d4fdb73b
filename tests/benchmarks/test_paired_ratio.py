"""``widedeep-bench bench paired-ratio``: N paired ORT FP32 / TF ratios, their spread judged by the profile, quiet
or busy.

Tiny sizes only (a tiny SavedModel and its conversion, batch 64, 3 rounds): these check what the command
records and how it judges, never how fast anything is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from widedeep_bench.bench import engine_throughput, paired_ratio

QUICK = ["--batch", "64", "--rounds", "3", "--duration", "0", "--warmup", "1", "--warmup-s", "0"]


def _argv(tiny_saved_model, converted_onnx, tiny_csv, profile, json_path, *extra) -> list[str]:
    return ["--saved-model", str(tiny_saved_model), "--onnx", str(converted_onnx), "--eval-csv", str(tiny_csv),
            *QUICK, "--profile", str(profile), "--json", str(json_path), *extra]


def _fixed_ratios(monkeypatch, ratios, after_s: float = 0.0) -> None:
    """``ort_over_tf`` (the paired measurement each run makes) returns ``ratios`` in turn, each after ``after_s``."""
    given = iter(ratios)

    def measured(*args) -> dict:
        time.sleep(after_s)
        return {"ratio": next(given), "q25": 0.0, "q75": 9.0, "pairs": 3,
                "samples_per_s": {"onnxruntime-fp32": 1.0, "tensorflow-fp32": 1.0}}
    monkeypatch.setattr(engine_throughput, "ort_over_tf", measured)


def test_the_spread_is_max_minus_min_over_the_median():
    assert paired_ratio.spread([1.0, 1.1, 1.2]) == pytest.approx(0.2 / 1.1)
    assert paired_ratio.spread([0.9, 0.9]) == 0.0


def test_a_run_records_each_ratio_the_spread_the_machine_and_the_method(bench_command, tiny_saved_model,
                                                                        converted_onnx, tiny_csv, profile_with,
                                                                        tmp_path, capsys):
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": 1e9}))
    json_path = tmp_path / "paired.json"
    assert bench_command("paired-ratio", *_argv(tiny_saved_model, converted_onnx, tiny_csv, profile, json_path,
                                                "--runs", "3")) == 0
    report = json.loads(json_path.read_text())
    assert report["load"]["mode"] == "quiet" and len(report["runs"]) == 3
    for run in report["runs"]:
        assert run["pairs"] == 3 and run["q25"] <= run["ratio"] <= run["q75"]
        assert set(run["samples_per_s"]) == {"onnxruntime-fp32", "tensorflow-fp32"}
    assert report["ratios"] == [run["ratio"] for run in report["runs"]]
    assert report["spread"] == pytest.approx(paired_ratio.spread(report["ratios"]))
    assert report["machine"]["cpu"] and "cpu_flags" in report["machine"]
    assert "alternating rounds on the same batch" in report["method"]["run"]
    assert report["targets"] == [{"metric": "spread_quiet", "measured": report["spread"], "min": None, "max": 1e9,
                                  "met": True, "target": "paired_ratio spread_quiet <= 1e+09", "why": "a test"}]
    out = capsys.readouterr().out
    assert "run 3/3: ORT FP32 / TF" in out and "PASS  paired_ratio spread_quiet <= 1e+09" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["passed"] is True and summary["figures"] == {"spread_quiet": report["spread"]}
    assert summary["cpu"] == report["machine"]["cpu"]


@pytest.mark.parametrize("ratios, maximum, status", [([1.0, 1.2], 0.2, 0), ([1.0, 1.2], 0.18, 1)])
def test_the_exit_status_says_whether_the_spread_met_the_profile_s_target(bench_command, monkeypatch,
                                                                          tiny_saved_model, converted_onnx, tiny_csv,
                                                                          profile_with, tmp_path, ratios, maximum,
                                                                          status):
    _fixed_ratios(monkeypatch, ratios)
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": maximum}))
    argv = _argv(tiny_saved_model, converted_onnx, tiny_csv, profile, tmp_path / "p.json", "--runs", "2")
    assert bench_command("paired-ratio", *argv) == status  # spread = 0.2 / 1.1 = 0.182


def test_busy_load_is_judged_by_spread_loaded_and_keeps_a_pinned_core_busy_throughout(
        bench_command, tiny_saved_model, converted_onnx, tiny_csv, profile_with, tmp_path):
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": 0.0}), ("paired_ratio", "spread_loaded",
                                                                            {"max": 1e9}))
    json_path = tmp_path / "busy.json"
    assert bench_command("paired-ratio", *_argv(tiny_saved_model, converted_onnx, tiny_csv, profile, json_path,
                                                "--runs", "2", "--load", "busy")) == 0
    report = json.loads(json_path.read_text())
    assert report["load"]["mode"] == "busy" and report["load"]["busy_throughout"] is True
    assert report["load"]["busy_core"] == max(os.sched_getaffinity(0))
    assert [t["metric"] for t in report["targets"]] == ["spread_loaded"]


def test_the_busy_loop_is_pinned_to_one_core_and_gone_afterwards():
    with paired_ratio.BusyCore() as busy:
        pid = busy.process.pid
        assert os.sched_getaffinity(pid) == {busy.core} and busy.still_busy()
    assert busy.process.returncode is not None and not busy.still_busy()


def test_a_busy_loop_that_ends_before_the_measurement_fails_the_run(bench_command, monkeypatch, tiny_saved_model,
                                                                    converted_onnx, tiny_csv, profile_with,
                                                                    tmp_path, capsys):
    monkeypatch.setattr(paired_ratio, "BUSY_LIMIT_S", 0.0)  # the loop stops at its first look at the clock
    _fixed_ratios(monkeypatch, [1.0] * 5, after_s=0.2)  # 0.2 s: longer than a loop told to stop at once lasts
    profile = profile_with(("paired_ratio", "spread_loaded", {"max": 1e9}))
    argv = _argv(tiny_saved_model, converted_onnx, tiny_csv, profile, tmp_path / "p.json", "--load", "busy")
    assert bench_command("paired-ratio", *argv) == 1
    captured = capsys.readouterr()
    assert "FAIL  the busy loop on core" in captured.out
    assert "error: FAIL the busy loop on core" in captured.err


@pytest.mark.parametrize("argv, words", [
    (["--runs", "1"], "--runs must be at least 2"),
    (["--threads", "0"], "--batch and --threads at least 1"),
    (["--saved-model", "x"], "give both --saved-model and --onnx"),
    (["--load", "heavy"], "invalid choice: 'heavy'"),
])
def test_bad_arguments_are_refused(bench_command, capsys, argv, words):
    assert bench_command("paired-ratio", *argv) == 2
    assert words in capsys.readouterr().err


def test_a_profile_without_the_load_s_target_is_refused(bench_command, profile_with, capsys):
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": 0.05}))
    assert bench_command("paired-ratio", "--load", "busy", "--profile", profile) == 2
    assert "no [[target]] for benchmark 'paired_ratio' with metric 'spread_loaded'" in capsys.readouterr().err


def test_the_installed_command_runs_from_any_directory_with_the_threads_asked_for(tiny_saved_model, converted_onnx,
                                                                                 tiny_csv, profile_with, tmp_path):
    # A process of its own: TensorFlow's thread pool is process-wide and fixed at its first use.
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": 1e9}))
    json_path = tmp_path / "paired.json"
    done = subprocess.run([sys.executable, "-m", "widedeep_bench", "bench", "paired-ratio", "-q", "--runs", "2",
                           "--threads", "1", *_argv(tiny_saved_model, converted_onnx, tiny_csv, profile, json_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(json_path.read_text())["threads"] == {"onnxruntime-fp32": 1, "tensorflow-fp32": 1}
    assert json.loads(done.stdout.strip().splitlines()[-1])["passed"] is True
