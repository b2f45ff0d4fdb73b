"""benchmarks/paired_ratio.py: N paired ORT FP32 / TF ratios, their spread judged by the profile, quiet or busy.

Tiny sizes only (a tiny SavedModel and its conversion, batch 64, 3 rounds): these check what the command
records and how it judges, never how fast anything is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
QUICK = ["--batch", "64", "--rounds", "3", "--duration", "0", "--warmup", "1", "--warmup-s", "0"]


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("paired_ratio")


def fixed_ratio_after_a_while() -> dict:
    """What ``ort_over_tf`` returns, after 0.2 s: longer than a busy loop told to stop at once lasts."""
    time.sleep(0.2)
    return {"ratio": 1.0, "q25": 1.0, "q75": 1.0, "pairs": 3,
            "samples_per_s": {"onnxruntime-fp32": 1.0, "tensorflow-fp32": 1.0}}


def _argv(tiny_saved_model, converted_onnx, tiny_csv, profile, json_path, *extra) -> list[str]:
    return ["--saved-model", str(tiny_saved_model), "--onnx", str(converted_onnx), "--eval-csv", str(tiny_csv),
            *QUICK, "--profile", str(profile), "--json", str(json_path), *extra]


def test_the_spread_is_max_minus_min_over_the_median(bench):
    assert bench.spread([1.0, 1.1, 1.2]) == pytest.approx(0.2 / 1.1)
    assert bench.spread([0.9, 0.9]) == 0.0


def test_a_run_records_each_ratio_the_spread_the_machine_and_the_method(bench, tiny_saved_model, converted_onnx,
                                                                        tiny_csv, profile_with, tmp_path, capsys):
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": 1e9}))
    json_path = tmp_path / "paired.json"
    assert bench.main(_argv(tiny_saved_model, converted_onnx, tiny_csv, profile, json_path, "--runs", "3")) == 0
    report = json.loads(json_path.read_text())
    assert report["load"]["mode"] == "quiet" and len(report["runs"]) == 3
    for run in report["runs"]:
        assert run["pairs"] == 3 and run["q25"] <= run["ratio"] <= run["q75"]
        assert set(run["samples_per_s"]) == {"onnxruntime-fp32", "tensorflow-fp32"}
    assert report["ratios"] == [run["ratio"] for run in report["runs"]]
    assert report["spread"] == pytest.approx(bench.spread(report["ratios"]))
    assert report["machine"]["cpu"] and "cpu_flags" in report["machine"]
    assert "alternating rounds on the same batch" in report["method"]["run"]
    assert report["targets"] == [{"metric": "spread_quiet", "measured": report["spread"], "min": None, "max": 1e9,
                                  "met": True, "target": "paired_ratio spread_quiet <= 1e+09", "why": "a test"}]
    out = capsys.readouterr().out
    assert "run 3/3: ORT FP32 / TF" in out and "PASS  paired_ratio spread_quiet <= 1e+09" in out


@pytest.mark.parametrize("ratios, maximum, status", [([1.0, 1.2], 0.2, 0), ([1.0, 1.2], 0.18, 1)])
def test_the_exit_status_says_whether_the_spread_met_the_profile_s_target(bench, monkeypatch, tiny_saved_model,
                                                                          converted_onnx, tiny_csv, profile_with,
                                                                          tmp_path, ratios, maximum, status):
    given = iter(ratios)
    monkeypatch.setattr(bench.bench_setup, "ort_over_tf", lambda *args: {
        "ratio": next(given), "q25": 0.0, "q75": 9.0, "pairs": 3,
        "samples_per_s": {"onnxruntime-fp32": 1.0, "tensorflow-fp32": 1.0}})
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": maximum}))
    argv = _argv(tiny_saved_model, converted_onnx, tiny_csv, profile, tmp_path / "p.json", "--runs", "2")
    assert bench.main(argv) == status  # spread = 0.2 / 1.1 = 0.182


def test_busy_load_is_judged_by_spread_loaded_and_keeps_a_pinned_core_busy_throughout(
        bench, tiny_saved_model, converted_onnx, tiny_csv, profile_with, tmp_path, capsys):
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": 0.0}), ("paired_ratio", "spread_loaded",
                                                                            {"max": 1e9}))
    json_path = tmp_path / "busy.json"
    assert bench.main(_argv(tiny_saved_model, converted_onnx, tiny_csv, profile, json_path, "--runs", "2",
                            "--load", "busy")) == 0
    report = json.loads(json_path.read_text())
    assert report["load"]["mode"] == "busy" and report["load"]["busy_throughout"] is True
    assert report["load"]["busy_core"] == max(os.sched_getaffinity(0))
    assert [t["metric"] for t in report["targets"]] == ["spread_loaded"]


def test_the_busy_loop_is_pinned_to_one_core_and_gone_afterwards(bench):
    with bench.BusyCore() as busy:
        pid = busy.process.pid
        assert os.sched_getaffinity(pid) == {busy.core} and busy.still_busy()
    assert busy.process.returncode is not None and not busy.still_busy()


def test_a_busy_loop_that_ends_before_the_measurement_fails_the_run(bench, monkeypatch, tiny_saved_model,
                                                                    converted_onnx, tiny_csv, profile_with,
                                                                    tmp_path, capsys):
    monkeypatch.setattr(bench, "BUSY_LIMIT_S", 0.0)  # the loop stops at its first look at the clock
    monkeypatch.setattr(bench.bench_setup, "ort_over_tf", lambda *args: fixed_ratio_after_a_while())
    profile = profile_with(("paired_ratio", "spread_loaded", {"max": 1e9}))
    argv = _argv(tiny_saved_model, converted_onnx, tiny_csv, profile, tmp_path / "p.json", "--load", "busy")
    assert bench.main(argv) == 1
    assert "FAIL  the busy loop on core" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--runs", "1"], "--runs must be at least 2"),
    (["--saved-model", "x"], "give both --saved-model and --onnx"),
    (["--load", "heavy"], "invalid choice: 'heavy'"),
])
def test_bad_arguments_are_refused(bench, capsys, argv, words):
    with pytest.raises(SystemExit) as raised:
        bench.parse_args(argv)
    assert raised.value.code == 2 and words in capsys.readouterr().err


def test_a_profile_without_the_load_s_target_is_refused(bench, profile_with, capsys):
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": 0.05}))
    with pytest.raises(SystemExit):
        bench.parse_args(["--load", "busy", "--profile", str(profile)])
    assert "no [[target]] for benchmark 'paired_ratio' with metric 'spread_loaded'" in capsys.readouterr().err


def test_it_runs_as_a_script_from_the_repository_with_the_threads_asked_for(tiny_saved_model, converted_onnx,
                                                                            tiny_csv, profile_with, tmp_path):
    profile = profile_with(("paired_ratio", "spread_quiet", {"max": 1e9}))
    json_path = tmp_path / "paired.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "paired_ratio.py"), "--runs", "2", "--threads", "1",
                           *_argv(tiny_saved_model, converted_onnx, tiny_csv, profile, json_path)],
                          cwd=BENCHMARKS.parent, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(json_path.read_text())["threads"] == {"onnxruntime-fp32": 1, "tensorflow-fp32": 1}
