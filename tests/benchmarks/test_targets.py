"""What the benchmarks share: targets judged from a profile (``bench.targets``), the rows (``bench.inputs``)."""

from __future__ import annotations

import pytest

from widedeep_bench.bench import inputs, targets as bench_targets
from widedeep_bench.errors import WidedeepError
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
    assert bench_targets.judged(target(**bounds), measured)["met"] is met


def test_a_target_whose_figure_was_not_measured_is_missed_and_says_so():
    verdict = bench_targets.judged(target(min=0.5), None)
    assert verdict["met"] is False
    assert bench_targets.verdict_lines([verdict])[0] == "MISS  engine_throughput ort_fp32_over_tf >= 0.5: not measured"


def test_verdict_lines_give_pass_or_miss_the_figure_and_why():
    lines = bench_targets.verdict_lines([bench_targets.judged(target(min=1.0, max=2.0), 1.5)])
    assert lines == ["PASS  engine_throughput ort_fp32_over_tf >= 1 and <= 2: 1.5", "      why: a test"]


def test_a_target_this_run_does_not_judge_is_neither_passed_nor_missed_and_says_why():
    verdict = bench_targets.not_applicable(target(min=1e7), 2.5e6, "--cpu, not a GPU figure")
    assert verdict["met"] is None and verdict["measured"] == 2.5e6
    assert bench_targets.verdict_lines([verdict])[0] == ("n/a   engine_throughput ort_fp32_over_tf >= 1e+07: 2,500,000 "
                                                        "(not judged: --cpu, not a GPU figure)")


def test_a_run_is_missed_by_each_target_missed_and_by_having_no_target_at_all():
    verdicts = [bench_targets.judged(target(min=1.0), 2.0), bench_targets.judged(target(min=1.0), 0.5),
                bench_targets.not_applicable(target(min=1.0), 0.5, "--cpu, not a GPU figure")]
    assert bench_targets.missed(verdicts) == ["MISS engine_throughput ort_fp32_over_tf >= 1"]
    assert bench_targets.missed([]) == ["no [[target]] judged the figures"]


def test_a_profile_without_targets_for_the_benchmark_is_an_error_naming_it(profile_with):
    path = profile_with(("paired_ratio", "spread_quiet", {"max": 0.05}))
    with pytest.raises(WidedeepError, match=r"no \[\[target\]\] with benchmark = 'engine_throughput'"):
        bench_targets.profile_targets(str(path), "engine_throughput")
    source, targets = bench_targets.profile_targets(str(path), "paired_ratio")
    assert source == str(path) and [(t.metric, t.max) for t in targets] == [("spread_quiet", 0.05)]


def test_the_default_profile_carries_the_targets_of_the_cpu_benchmarks():
    assert {t.metric for t in bench_targets.profile_targets("cpu-default", "engine_throughput")[1]} == {
        "ort_fp32_over_tf", "ort_fp32_over_sgemm_ceiling", "null_time_over_ort_fp32_time",
        "fastest_reduced_over_ort_fp32"}
    assert {t.metric for t in bench_targets.profile_targets("cpu-default", "paired_ratio")[1]} == {
        "spread_quiet", "spread_loaded"}
    assert {t.metric for t in bench_targets.profile_targets("cpu-default", "preprocess_speed")[1]} == {
        "speedup_over_per_row", "cold_read_s", "warm_load_s"}


def test_fewer_rows_than_one_batch_is_an_error_naming_the_rows(tiny_csv):
    from widedeep_bench.data.criteo_csv import load_eval_tensors

    rows = load_eval_tensors(tiny_csv, use_cache=False)
    assert len(inputs.real_batches(rows, 64, "tiny")) == 4
    with pytest.raises(WidedeepError, match="tiny has 256 rows, fewer than one batch of 1024"):
        inputs.real_batches(rows, 1024, "tiny")
