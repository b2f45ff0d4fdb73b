"""benchmarks/engine_throughput.py: block figures per runner, the paired ORT / TF ratio, targets from the profile.

Tiny sizes only (a tiny SavedModel and its conversion, batch 64, 3 rounds): these check what the command
records and how it judges, never how fast anything is.
"""

from __future__ import annotations

import json

import pytest


QUICK = ["--batch", "64", "--rounds", "3", "--duration", "0", "--warmup", "1", "--warmup-s", "0"]
GENEROUS = (("engine_throughput", "ort_fp32_over_tf", {"min": 1e-9}),
            ("engine_throughput", "null_time_over_ort_fp32_time", {"max": 1e9}))


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("engine_throughput")


def test_targets_come_from_the_profile_and_the_ratio_judged_is_the_paired_one(bench, tiny_saved_model,
                                                                              converted_onnx, tiny_csv, profile_with,
                                                                              tmp_path, capsys):
    profile = profile_with(*GENEROUS, ("engine_throughput", "ort_fp32_over_sgemm_ceiling", {"min": 1e9}))
    json_path = tmp_path / "engines.json"
    argv = ["--saved-model", str(tiny_saved_model), "--onnx", str(converted_onnx), "--eval-csv", str(tiny_csv),
            *QUICK, "--profile", str(profile), "--json", str(json_path)]
    assert bench.main(argv) == 1  # the impossible ceiling target is missed
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
    out = capsys.readouterr().out
    assert "MISS  engine_throughput ort_fp32_over_sgemm_ceiling >= 1e+09" in out
    assert "PASS  engine_throughput ort_fp32_over_tf >= 1e-09" in out
    assert "paired: median of 3 interleaved rounds" in out and "blocks: ratio of samples/s" in out


@pytest.mark.parametrize("targets, words", [
    ((("engine_throughput", "ort_over_everything", {"min": 1.0}),),
     "[[target]] metrics ['ort_over_everything'] are not measured by engine_throughput"),
    ((("paired_ratio", "spread_quiet", {"max": 0.05}),), "no [[target]] with benchmark = 'engine_throughput'"),
])
def test_a_profile_whose_targets_this_benchmark_cannot_judge_is_refused(bench, profile_with, capsys, targets, words):
    with pytest.raises(SystemExit) as raised:
        bench.parse_args(["--profile", str(profile_with(*targets))])
    assert raised.value.code == 2 and words in capsys.readouterr().err


def test_a_target_whose_runner_did_not_run_is_missed_not_passed(bench):
    results = {"tensorflow-fp32": {"samples_per_s": 1.0, "median_ms": 1.0},
               "sgemm-ceiling": {"samples_per_s": 1.0, "median_ms": 1.0},
               "null-fp32": {"samples_per_s": 1e6, "median_ms": 1e-3}}
    assert bench.ratios_of(results, paired=None) == {}  # ONNX Runtime FP32 did not run: no ratio at all
    report = {"targets": [{"met": False}], "parity": {}}
    assert bench.exit_status(report) == 1 and bench.exit_status({"targets": [], "parity": {}}) == 1
