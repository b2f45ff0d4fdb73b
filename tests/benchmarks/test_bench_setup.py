"""What the benchmark commands share: targets judged from a profile, the timing plan from the command line."""

from __future__ import annotations

import argparse

import pytest

from widedeep_bench import bench_setup
from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import TimingPlan
from widedeep_bench.profiles import BenchmarkTarget


def target(**bounds) -> BenchmarkTarget:
    return BenchmarkTarget("engine_throughput", "ort_fp32_over_tf", why="a test", **bounds)


@pytest.mark.parametrize("bounds, measured, met", [
    ({"min": 1.25}, 1.25, True), ({"min": 1.25}, 1.2499, False),
    ({"max": 0.05}, 0.05, True), ({"max": 0.05}, 0.0501, False),
    ({"min": 0.9, "max": 1.1}, 1.0, True), ({"min": 0.9, "max": 1.1}, 1.2, False),
    ({"min": 1.25}, float("nan"), False),
])
def test_a_target_is_met_within_its_bounds_inclusive(bounds, measured, met):
    assert bench_setup.judged(target(**bounds), measured)["met"] is met


def test_a_target_whose_figure_was_not_measured_is_missed_and_says_so():
    verdict = bench_setup.judged(target(min=0.5), None)
    assert verdict["met"] is False
    assert bench_setup.verdict_lines([verdict])[0] == "MISS  engine_throughput ort_fp32_over_tf >= 0.5: not measured"


def test_verdict_lines_give_pass_or_miss_the_figure_and_why():
    lines = bench_setup.verdict_lines([bench_setup.judged(target(min=1.0, max=2.0), 1.5)])
    assert lines == ["PASS  engine_throughput ort_fp32_over_tf >= 1 and <= 2: 1.5", "      why: a test"]


def test_a_target_this_run_does_not_judge_is_neither_passed_nor_missed_and_says_why():
    verdict = bench_setup.not_applicable(target(min=1e7), 2.5e6, "--cpu, not a GPU figure")
    assert verdict["met"] is None and verdict["measured"] == 2.5e6
    assert bench_setup.verdict_lines([verdict])[0] == ("n/a   engine_throughput ort_fp32_over_tf >= 1e+07: 2,500,000 "
                                                        "(not judged: --cpu, not a GPU figure)")


def test_the_profile_option_can_go_by_another_name_and_default(profile_with):
    parser = argparse.ArgumentParser()
    bench_setup.add_profile_option(parser, "--targets", "h100-torch")
    assert parser.parse_args([]).targets == "h100-torch"
    assert parser.parse_args(["--targets", "cpu-default"]).targets == "cpu-default"


def test_a_profile_without_targets_for_the_benchmark_is_an_error_naming_it(profile_with):
    path = profile_with(("paired_ratio", "spread_quiet", {"max": 0.05}))
    with pytest.raises(WidedeepError, match=r"no \[\[target\]\] with benchmark = 'engine_throughput'"):
        bench_setup.profile_targets(str(path), "engine_throughput")
    source, targets = bench_setup.profile_targets(str(path), "paired_ratio")
    assert source == str(path) and [(t.metric, t.max) for t in targets] == [("spread_quiet", 0.05)]


def test_the_default_profile_carries_the_targets_of_the_cpu_benchmarks():
    assert {t.metric for t in bench_setup.profile_targets("cpu-default", "engine_throughput")[1]} == {
        "ort_fp32_over_tf", "ort_fp32_over_sgemm_ceiling", "null_time_over_ort_fp32_time"}
    assert {t.metric for t in bench_setup.profile_targets("cpu-default", "paired_ratio")[1]} == {
        "spread_quiet", "spread_loaded"}
    assert {t.metric for t in bench_setup.profile_targets("cpu-default", "preprocess_speed")[1]} == {
        "speedup_over_per_row", "cold_read_s", "warm_load_s"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    bench_setup.add_timing_options(parser, TimingPlan(warmup_s=0.3, min_warmup_rounds=3, min_rounds=20,
                                                      min_duration_s=1.0))
    return parser


def test_the_timing_options_make_the_plan_with_the_given_defaults():
    parser = _parser()
    assert bench_setup.timing_plan(parser.parse_args([]), parser) == TimingPlan(0.3, 3, 20, 1.0)
    args = parser.parse_args(["--rounds", "7", "--duration", "0", "--warmup", "1", "--warmup-s", "0.5"])
    assert bench_setup.timing_plan(args, parser) == TimingPlan(warmup_s=0.5, min_warmup_rounds=1, min_rounds=7,
                                                               min_duration_s=0.0)


@pytest.mark.parametrize("argv, words", [(["--rounds", "0"], "1 <= min_rounds"),
                                         (["--duration", "nan"], "min_duration_s must be a finite number"),
                                         (["--warmup-s", "-1"], "warmup_s must be a finite number >= 0")])
def test_a_plan_the_timing_module_refuses_is_a_usage_error(capsys, argv, words):
    parser = _parser()
    with pytest.raises(SystemExit) as raised:
        bench_setup.timing_plan(parser.parse_args(argv), parser)
    assert raised.value.code == 2 and words in capsys.readouterr().err


def test_fewer_rows_than_one_batch_is_an_error_naming_the_rows(tiny_csv):
    from widedeep_bench.data.criteo_csv import load_eval_tensors

    rows = load_eval_tensors(tiny_csv, use_cache=False)
    assert len(bench_setup.real_batches(rows, 64, "tiny")) == 4
    with pytest.raises(WidedeepError, match="tiny has 256 rows, fewer than one batch of 1024"):
        bench_setup.real_batches(rows, 1024, "tiny")
