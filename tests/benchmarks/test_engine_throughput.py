"""``widedeep-bench bench engines``: block figures per runner, the paired ORT / TF ratio, targets from the profile.

Tiny sizes only (a tiny SavedModel and its conversion, batch 64, 3 rounds): these check what the command
records and how it judges, never how fast anything is.
"""

from __future__ import annotations

import json

import pytest

from widedeep_bench.bench import engine_throughput

QUICK = ["--batch", "64", "--rounds", "3", "--duration", "0", "--warmup", "1", "--warmup-s", "0"]
GENEROUS = (("engine_throughput", "ort_fp32_over_tf", {"min": 1e-9}),
            ("engine_throughput", "null_time_over_ort_fp32_time", {"max": 1e9}))


def test_targets_come_from_the_profile_and_the_ratio_judged_is_the_paired_one(bench_command, tiny_saved_model,
                                                                              converted_onnx, tiny_csv, profile_with,
                                                                              tmp_path, capsys):
    profile = profile_with(*GENEROUS, ("engine_throughput", "ort_fp32_over_sgemm_ceiling", {"min": 1e9}))
    json_path = tmp_path / "engines.json"
    status = bench_command("engines", "--saved-model", tiny_saved_model, "--onnx", converted_onnx, "--eval-csv",
                           tiny_csv, *QUICK, "--profile", profile, "--json", json_path)
    assert status == 1  # the impossible ceiling target is missed
    report = json.loads(json_path.read_text())
    verdicts = {t["metric"]: t for t in report["targets"]}
    assert {metric: t["met"] for metric, t in verdicts.items()} == {
        "ort_fp32_over_tf": True, "null_time_over_ort_fp32_time": True, "ort_fp32_over_sgemm_ceiling": False}
    paired = report["paired"]
    assert verdicts["ort_fp32_over_tf"]["measured"] == paired["ratio"] == report["ratios"]["ort_fp32_over_tf"]
    assert paired["pairs"] == 3 and paired["q25"] <= paired["ratio"] <= paired["q75"]
    blocks = report["ratios"]["ort_fp32_over_tf_blocks"]
    results = report["results"]
    assert blocks == pytest.approx(results["onnxruntime-fp32"]["samples_per_s"]
                                   / results["tensorflow-fp32"]["samples_per_s"])
    for label in ("tensorflow-fp32", "onnxruntime-fp32", "null-fp32", "sgemm-ceiling"):
        assert results[label]["rounds"] >= 3 and results[label]["tail_statistic"] in ("p99", "max")
    assert report["machine"]["cpu_flags"] is not None and report["profile"] == str(profile)
    assert "timed rounds >= 3" in report["method"]["blocks"] and "alternating rounds" in report["method"]["paired"]
    assert all(record["passed"] for record in report["parity"].values())
    captured = capsys.readouterr()
    out = captured.out
    assert "MISS  engine_throughput ort_fp32_over_sgemm_ceiling >= 1e+09" in out
    assert "PASS  engine_throughput ort_fp32_over_tf >= 1e-09" in out
    assert "paired: median of 3 interleaved rounds" in out and "blocks: ratio of samples/s" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == {"benchmark": "engine_throughput", "passed": False,
                       "misses": ["MISS engine_throughput ort_fp32_over_sgemm_ceiling >= 1e+09"],
                       "figures": {metric: t["measured"] for metric, t in verdicts.items()},
                       "cpu": report["machine"]["cpu"], "cpu_flags": report["machine"]["cpu_flags"],
                       "json": str(json_path)}
    assert ("widedeep-bench bench engines: error: MISS engine_throughput ort_fp32_over_sgemm_ceiling >= 1e+09"
            in captured.err)


@pytest.mark.parametrize("targets, words", [
    ((("engine_throughput", "ort_over_everything", {"min": 1.0}),),
     "[[target]] metrics ['ort_over_everything'] are not measured by engine_throughput"),
    ((("paired_ratio", "spread_quiet", {"max": 0.05}),), "no [[target]] with benchmark = 'engine_throughput'"),
])
def test_a_profile_whose_targets_this_benchmark_cannot_judge_is_refused(bench_command, profile_with, capsys,
                                                                        targets, words):
    assert bench_command("engines", "--profile", profile_with(*targets)) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [(["--batch", "0"], "--batch must be at least 1"),
                                         (["--onnx", "x.onnx"], "give both --saved-model and --onnx")])
def test_bad_arguments_are_refused_before_anything_runs(bench_command, capsys, argv, words):
    assert bench_command("engines", *argv) == 2
    assert words in capsys.readouterr().err


def test_a_target_whose_runner_did_not_run_is_missed_not_passed():
    results = {"tensorflow-fp32": {"samples_per_s": 1.0, "median_ms": 1.0},
               "sgemm-ceiling": {"samples_per_s": 1.0, "median_ms": 1.0},
               "null-fp32": {"samples_per_s": 1e6, "median_ms": 1e-3}}
    assert engine_throughput.ratios_of(results, paired=None) == {}  # ONNX Runtime FP32 did not run: no ratio at all
    missed = {"met": False, "target": "engine_throughput ort_fp32_over_tf >= 0.85"}
    assert engine_throughput.misses({"targets": [missed], "parity": {}}) == [
        "MISS engine_throughput ort_fp32_over_tf >= 0.85"]
    assert engine_throughput.misses({"targets": [], "parity": {}}) == ["no [[target]] judged the figures"]


def test_an_engine_that_disagrees_with_tf_fails_the_run_however_fast_it_is():
    met = {"met": True, "target": "engine_throughput ort_fp32_over_tf >= 0.85"}
    parity = {"onnxruntime-fp16": {"passed": False, "max_abs": 0.2, "atol": 5e-3}}
    assert engine_throughput.misses({"targets": [met], "parity": parity}) == [
        "FAIL onnxruntime-fp16 agrees with TF (max |p - p_TF| 2.0e-01, atol 0.005)"]
