"""``widedeep-bench bench preprocess`` on a tiny CSV: its timings come from the timing module, its checks still
hold, and its targets come from the profile."""

from __future__ import annotations

import json

import pytest

from widedeep_bench.__main__ import build_parser
from widedeep_bench.bench import preprocess_speed


def test_a_tiny_run_times_both_readers_in_the_planned_rounds_and_is_judged_by_the_profile(bench_command, tiny_csv,
                                                                                          profile_with, tmp_path,
                                                                                          monkeypatch, capsys):
    monkeypatch.setenv("WIDEDEEP_CACHE", str(tmp_path / "cache"))  # the benchmark removes its tensor entry
    profile = profile_with(("preprocess_speed", "speedup_over_per_row", {"min": 1e-9}),
                           ("preprocess_speed", "cold_read_s", {"max": 1e9}),
                           ("preprocess_speed", "warm_load_s", {"max": 0.0}))  # no load takes 0 s: missed
    json_path = tmp_path / "pre.json"
    status = bench_command("preprocess", "--csv", tiny_csv, "--baseline-rows", "64", "--rounds", "2",
                           "--profile", profile, "--json", json_path)
    report = json.loads(json_path.read_text())
    methods = [result["method"] for result in report["results"]]
    assert methods[:2] == ["vectorised, cold (read_eval_csv, no cache), median of 2",
                           "per-row ByteMLPerf (1 TF hash call per row), median of 2"]
    assert report["results"][1]["rows"] == 64 and report["rows"] == len(tiny_csv.read_text().splitlines())
    assert all(result["wall_s"] > 0 and result["cpu_s"] >= 0 for result in report["results"])
    assert report["per_row_output_equals_vectorised"] is True
    verdicts = {t["metric"]: t for t in report["targets"]}
    assert {metric: t["met"] for metric, t in verdicts.items()} == {
        "speedup_over_per_row": True, "cold_read_s": True, "warm_load_s": False}
    assert verdicts["speedup_over_per_row"]["measured"] == report["speedup_wall"]
    assert verdicts["cold_read_s"]["measured"] == report["results"][0]["wall_s"]
    assert verdicts["warm_load_s"]["measured"] == report["results"][4]["wall_s"] > 0
    assert status == 1 and report["profile"] == str(profile) and report["benchmark"] == "preprocess_speed"
    assert "timed rounds >= 2" in report["method"] and report["machine"]["cpu_flags"] is not None
    out = capsys.readouterr().out
    assert "MISS  preprocess_speed warm_load_s <= 0: " in out and "PASS  preprocess_speed cold_read_s <= 1e+09" in out
    assert "PASS  per-row output equals vectorised output on the first 64 rows" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["misses"] == ["MISS preprocess_speed warm_load_s <= 0"] and summary["json"] == str(json_path)


def test_the_run_passes_only_when_every_target_is_met_and_the_outputs_agree():
    met, unmet = {"met": True, "target": "a"}, {"met": False, "target": "b"}
    assert preprocess_speed.misses({"targets": [met, met], "per_row_output_equals_vectorised": True}) == []
    assert preprocess_speed.misses({"targets": [met, unmet], "per_row_output_equals_vectorised": True}) == ["MISS b"]
    assert preprocess_speed.misses({"targets": [met], "per_row_output_equals_vectorised": False}) == [
        "FAIL per-row output differs from the vectorised output"]
    assert preprocess_speed.misses({"targets": [], "per_row_output_equals_vectorised": True}) == [
        "no [[target]] judged the figures"]  # judged by nothing is not a pass


def test_the_default_profile_holds_issue_2_s_targets():
    profile = build_parser().parse_args(["bench", "preprocess"]).profile
    assert profile == "cpu-default"
    assert {t.metric: (t.min, t.max) for t in preprocess_speed.targets_in(profile)[1]} == {
        "speedup_over_per_row": (30.0, None), "cold_read_s": (None, 10.0), "warm_load_s": (None, 0.5)}


@pytest.mark.parametrize("targets, words", [
    ((("preprocess_speed", "rows_per_s", {"min": 1.0}),),
     "[[target]] metrics ['rows_per_s'] are not measured by preprocess_speed"),
    ((("engine_throughput", "ort_fp32_over_tf", {"min": 1.0}),), "no [[target]] with benchmark = 'preprocess_speed'"),
])
def test_a_profile_whose_targets_this_benchmark_cannot_judge_is_refused(bench_command, profile_with, capsys,
                                                                        targets, words):
    assert bench_command("preprocess", "--profile", profile_with(*targets)) == 2
    assert words in capsys.readouterr().err


def test_a_duration_without_a_warm_up_to_plan_from_is_refused(bench_command, capsys):
    assert bench_command("preprocess", "--duration", "1") == 2
    assert "--duration needs --warmup 1 or more" in capsys.readouterr().err
