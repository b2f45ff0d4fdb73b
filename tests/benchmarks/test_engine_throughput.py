"""``widedeep-bench bench engines``: every runner in every precision, at every batch, beside the SGEMM ceiling;
the paired ORT / TF ratio; targets from the profile, the BF16/INT8 speed target judged only where the CPU has
the instructions for it.

Tiny sizes only (a tiny SavedModel and its conversion, batches 64 and 128, 3 rounds): these check what the
command records and how it judges, never how fast anything is. One run of the command (``engines_run``) is
shared by the tests that read its report.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import widedeep_bench.profiles
from widedeep_bench.bench import engine_throughput
from widedeep_bench.bench.targets import missed, verdict_lines
from widedeep_bench.commands.bench import batch_sizes
from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import TimingPlan
from widedeep_bench.precision import PRECISIONS
from widedeep_bench.profiles import BenchmarkTarget

QUICK = ["--rounds", "3", "--duration", "0", "--warmup", "1", "--warmup-s", "0"]
BATCHES = (64, 128)
TARGETS = (("ort_fp32_over_tf", "min = 1e-9"), ("null_time_over_ort_fp32_time", "max = 1e9"),
           ("ort_fp32_over_sgemm_ceiling", "min = 1e9"), ("fastest_reduced_over_ort_fp32", "min = 2.5"))
NO_REDUCED_ARITHMETIC = "CPU has none of amx_bf16, amx_int8, avx512_bf16, avx512_vnni, avx_vnni"


@pytest.fixture(scope="module")
def engines_run(tmp_path_factory, tiny_saved_model, converted_onnx, tiny_csv):
    """``bench engines`` once on the tiny model at batches 64 and 128, INT8 calibrated on a CSV of its own, on a
    CPU whose flag reader is made to report AVX2 only; an impossible ceiling target makes it exit 1.
    ``(exit status, report, stdout, stderr, calibration csv)``."""
    from widedeep_bench.__main__ import main
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    directory = tmp_path_factory.mktemp("engines")
    calibration_csv = write_criteo_csv(directory / "calibration.csv", 256, row_seed=3)
    profile = directory / "profile.toml"
    default = Path(widedeep_bench.profiles.__file__).with_name("cpu-default.toml")
    text = re.split(r"^\[\[target\]\]", default.read_text(), flags=re.M)[0]
    profile.write_text(text + "".join(f'\n[[target]]\nbenchmark = "engine_throughput"\nmetric = "{metric}"\n'
                                      f'{bound}\nwhy = "a test"\n' for metric, bound in TARGETS))
    json_path = directory / "engines.json"
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        patch.setattr("widedeep_bench.environment.cpu_flags", lambda *args: ["avx", "avx2", "fma"])
        status = main(["bench", "engines", "--saved-model", str(tiny_saved_model), "--onnx", str(converted_onnx),
                       "--eval-csv", str(tiny_csv), "--calibration-csv", str(calibration_csv),
                       "--batch", ",".join(map(str, BATCHES)), *QUICK, "--profile", str(profile),
                       "--json", str(json_path)])
    return status, json.loads(json_path.read_text()), out.getvalue(), err.getvalue(), calibration_csv


def test_every_runner_in_every_precision_is_measured_or_listed_with_the_reason_it_cannot_run(engines_run):
    _, report, out, _, _ = engines_run
    expected = ["tensorflow-fp32", *(f"{name}-{p}" for name in ("onnxruntime", "openvino", "torch") for p in PRECISIONS),
                "null-fp32"]
    assert sorted(report["cases"]) == sorted(expected)  # the JSON sorts its keys
    for label, case in report["cases"].items():
        assert label == f"{case['runner']}-{case['precision']}"
        if case["measured"]:
            assert case["unavailable"] is None and label not in report["skipped"]
            for size in map(str, BATCHES):  # measured under its own name and precision, at every batch
                assert report["results"][size][label]["precision"] == case["precision"]
                assert report["samples_per_s"][label][size] > 0
        else:
            assert case["unavailable"] and report["skipped"][label] == case["unavailable"]
            assert label not in report["samples_per_s"]
            assert re.search(rf"^{re.escape(label)} +not run  {re.escape(case['unavailable'])}$", out, re.M)
    measured = {label for label, case in report["cases"].items() if case["measured"]}
    assert {"tensorflow-fp32", "onnxruntime-fp32", "onnxruntime-int8", "null-fp32"} <= measured
    assert report["cases"]["onnxruntime-bf16"]["unavailable"] == "onnxruntime runs fp32/fp16/int8 only, not bf16"


def test_an_int8_case_is_calibrated_on_the_rows_given_and_says_which(engines_run):
    _, report, _, _, calibration_csv = engines_run
    calibration = report["cases"]["onnxruntime-int8"]["calibration"]
    assert calibration["source"].startswith(f"--calibration-csv {calibration_csv} (256 rows); numerics normalised "
                                            f"over ") and calibration["rows"] == 256
    assert re.fullmatch(r"[0-9a-f]{64}", calibration["sha256"])
    assert report["calibration"]["sha256"] == calibration["sha256"]
    assert "calibration" not in report["cases"]["onnxruntime-fp32"]
    proof = report["cases"]["onnxruntime-int8"]
    assert proof["proven"] is True and proof["precision_proof"]["evidence"]["shown"] is True
    assert proof["precision_proof"]["max_abs_vs_fp32"] > 1e-5


def test_the_sgemm_ceiling_is_computed_and_printed_at_every_batch(engines_run):
    _, report, out, _, _ = engines_run
    assert report["batches"] == list(BATCHES) and report["ratio_batch"] == BATCHES[0]
    for size in map(str, BATCHES):
        ceiling = report["results"][size]["sgemm-ceiling"]
        assert ceiling["batch_size"] == int(size) and ceiling["gflop_per_s"] > 0
        assert ceiling["samples_per_s"] == pytest.approx(ceiling["gflop_per_s"] * 1e9 / 3.04e6, rel=0.01)
        assert report["ratios_by_batch"][size]["ort_fp32_over_sgemm_ceiling"] == pytest.approx(
            report["samples_per_s"]["onnxruntime-fp32"][size] / ceiling["samples_per_s"])
        assert f"Engine throughput, batch {size} " in out
    assert re.search(r"^samples/s by batch +64 +128 +max\|p-TF\|$", out, re.M)
    assert re.search(r"^sgemm-ceiling +[\d,]+ +[\d,]+ +-$", out, re.M)
    assert re.search(r"^ORT FP32 / ceiling +[\d.]+% +[\d.]+%$", out, re.M)


def test_the_reduced_precision_target_is_not_judged_on_a_cpu_without_the_instructions_but_its_figure_is_printed(
        engines_run):
    status, report, out, _, _ = engines_run
    fastest = report["fastest_reduced"]
    assert report["results"]["64"][fastest["engine"]]["precision"] in ("bf16", "int8")
    verdicts = {t["metric"]: t for t in report["targets"]}
    reduced = verdicts["fastest_reduced_over_ort_fp32"]
    assert reduced["met"] is None and NO_REDUCED_ARITHMETIC in reduced["not_applicable"]
    assert reduced["measured"] == pytest.approx(fastest["samples_per_s"] / fastest["ort_fp32_samples_per_s"])
    assert report["machine"]["cpu_flags"] == ["avx", "avx2", "fma"] and report["machine"]["cpu"]
    assert (f"n/a   engine_throughput fastest_reduced_over_ort_fp32 >= 2.5: {reduced['measured']:.4g} (not judged: "
            f"{NO_REDUCED_ARITHMETIC}: no reduced-precision arithmetic to win 2.5x with)") in out
    assert re.search(rf"^fastest BF16/INT8 / ORT FP32 +[\d.]+x  {fastest['engine']}: [\d,]+ vs [\d,]+ samples/s; "
                     r"max \|p - p_TF\| \S+ \(parity (PASS|FAIL)\)$", out, re.M)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["figures"]["fastest_reduced_over_ort_fp32"] == reduced["measured"]
    assert not any("fastest_reduced" in miss for miss in summary["misses"]) and status == 1


def test_targets_come_from_the_profile_and_the_ratio_judged_is_the_paired_one(engines_run):
    status, report, out, err, _ = engines_run
    assert status == 1  # the impossible ceiling target is missed
    verdicts = {t["metric"]: t for t in report["targets"]}
    assert {metric: t["met"] for metric, t in verdicts.items()} == {
        "ort_fp32_over_tf": True, "null_time_over_ort_fp32_time": True, "ort_fp32_over_sgemm_ceiling": False,
        "fastest_reduced_over_ort_fp32": None}
    paired = report["paired"]
    assert verdicts["ort_fp32_over_tf"]["measured"] == paired["ratio"] == report["ratios"]["ort_fp32_over_tf"]
    assert paired["pairs"] == 3 and paired["q25"] <= paired["ratio"] <= paired["q75"]
    results = report["results"]["64"]
    assert report["ratios"]["ort_fp32_over_tf_blocks"] == pytest.approx(
        results["onnxruntime-fp32"]["samples_per_s"] / results["tensorflow-fp32"]["samples_per_s"])
    assert "ort_fp32_over_tf" not in report["ratios_by_batch"]["128"]  # paired at the ratio batch only
    for label in ("tensorflow-fp32", "onnxruntime-fp32", "null-fp32", "sgemm-ceiling"):
        assert results[label]["rounds"] >= 3 and results[label]["tail_statistic"] in ("p99", "max")
    assert "timed rounds >= 3" in report["method"]["blocks"]["64"]
    assert "alternating rounds" in report["method"]["paired"]
    assert all(record["passed"] for record in report["parity"].values()
               if record["precision"] in engine_throughput.TOLERANCES)
    assert "MISS  engine_throughput ort_fp32_over_sgemm_ceiling >= 1e+09" in out
    assert "PASS  engine_throughput ort_fp32_over_tf >= 1e-09" in out
    assert "paired: median of 3 interleaved rounds" in out and "blocks: ratio of samples/s" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["figures"] == {metric: t["measured"] for metric, t in verdicts.items()}
    assert summary["cpu"] == report["machine"]["cpu"] and summary["cpu_flags"] == report["machine"]["cpu_flags"]
    assert "MISS engine_throughput ort_fp32_over_sgemm_ceiling >= 1e+09" in summary["misses"]
    assert "widedeep-bench bench engines: error: MISS engine_throughput ort_fp32_over_sgemm_ceiling >= 1e+09" in err


def reduced_target(minimum: float = 2.5) -> BenchmarkTarget:
    return BenchmarkTarget("engine_throughput", "fastest_reduced_over_ort_fp32", min=minimum, why="a test")


def test_the_reduced_precision_target_is_not_judged_without_amx_bf16_or_vnni_and_fails_nothing():
    verdict = engine_throughput.verdict(reduced_target(), 1.45, ["avx", "avx2", "f16c", "fma", "avx512f"])
    assert verdict["met"] is None and verdict["measured"] == 1.45
    assert verdict["not_applicable"] == (f"{NO_REDUCED_ARITHMETIC}: no reduced-precision arithmetic to win 2.5x with")
    assert verdict_lines([verdict])[0].startswith("n/a   engine_throughput fastest_reduced_over_ort_fp32 >= 2.5: 1.45 ")
    assert missed([verdict]) == []


@pytest.mark.parametrize("flag", ["amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni"])
def test_the_reduced_precision_target_is_judged_where_the_cpu_has_the_instructions(flag):
    fp32 = {"samples_per_s": 46_000.0, "median_ms": 22.3, "precision": "fp32"}
    results = {"onnxruntime-fp32": fp32, "sgemm-ceiling": {"samples_per_s": 50_000.0, "median_ms": 20.5},
               "onnxruntime-int8": {"samples_per_s": 66_700.0, "median_ms": 15.4, "precision": "int8"},
               "onnxruntime-fp16": {"samples_per_s": 400_000.0, "median_ms": 2.6, "precision": "fp16"},
               "openvino-bf16": {"samples_per_s": 126_500.0, "median_ms": 8.1, "precision": "bf16"}}
    proven = {"onnxruntime-int8", "onnxruntime-fp16", "openvino-bf16"}
    assert engine_throughput.fastest_reduced(results, proven) == "openvino-bf16"  # FP16 is not a reduced speed case
    measured = engine_throughput.ratios_of(results, None, proven)["fastest_reduced_over_ort_fp32"]
    assert measured == pytest.approx(126_500 / 46_000)
    flags = ["avx", "avx2", flag]
    assert engine_throughput.verdict(reduced_target(), measured, flags)["met"] is True
    missed_verdict = engine_throughput.verdict(reduced_target(), 66_700 / 46_000, flags)
    assert missed_verdict["met"] is False and missed([missed_verdict]) == [
        "MISS engine_throughput fastest_reduced_over_ort_fp32 >= 2.5"]
    assert engine_throughput.verdict(reduced_target(), None, flags)["met"] is False  # none ran: not measured


def test_the_other_targets_are_judged_whatever_the_cpu_flags():
    target = BenchmarkTarget("engine_throughput", "ort_fp32_over_tf", min=1.25, why="a test")
    assert engine_throughput.verdict(target, 1.0, [])["met"] is False


@pytest.mark.parametrize("text, words", [
    ("0", "--batch 0: 0 is below 1"), ("-5", "--batch -5: -5 is below 1"), ("", "--batch is empty"),
    ("1024,abc", "--batch 1024,abc: 'abc' is not a whole number"), ("1.5", "'1.5' is not a whole number"),
    ("1024,,4096", "an empty item is not a whole number"), ("64,64", "--batch 64,64: 64 is given twice")])
def test_a_bad_batch_list_is_refused_in_one_line_before_anything_runs(bench_command, capsys, tmp_path, monkeypatch,
                                                                      text, words):
    monkeypatch.setattr(engine_throughput, "run", lambda args: pytest.fail("measured a bad --batch"))
    assert bench_command("engines", f"--batch={text}", "--json", tmp_path / "out.json") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "e.g. 1024,4096,16384" in err


def test_batch_sizes_are_a_comma_separated_list_defaulting_to_1024_4096_16384():
    from widedeep_bench.__main__ import build_parser

    assert batch_sizes(" 1024, 4096,16384") == (1024, 4096, 16384) == engine_throughput.DEFAULT_BATCHES
    assert batch_sizes(build_parser().parse_args(["bench", "engines"]).batch) == engine_throughput.DEFAULT_BATCHES
    with pytest.raises(WidedeepError, match="is below 1"):
        batch_sizes("1024,0")


def test_rounds_count_at_the_smallest_batch_and_a_larger_one_times_as_many_samples_in_fewer():
    plan = TimingPlan(min_rounds=100, min_duration_s=1.0)
    assert [engine_throughput.plan_at(plan, batch, 1024).min_rounds for batch in (1024, 4096, 16384)] == [100, 25, 10]
    assert engine_throughput.plan_at(plan, 16384, 1024).min_duration_s == 1.0
    assert engine_throughput.plan_at(TimingPlan(min_rounds=3, min_duration_s=0), 128, 64).min_rounds == 3
    assert engine_throughput.ratio_batch((4096, 1024)) == 1024 and engine_throughput.ratio_batch((64, 128)) == 64


@pytest.mark.parametrize("targets, words", [
    ((("engine_throughput", "ort_over_everything", {"min": 1.0}),),
     "[[target]] metrics ['ort_over_everything'] are not measured by engine_throughput"),
    ((("paired_ratio", "spread_quiet", {"max": 0.05}),), "no [[target]] with benchmark = 'engine_throughput'"),
])
def test_a_profile_whose_targets_this_benchmark_cannot_judge_is_refused(bench_command, profile_with, capsys, tmp_path,
                                                                        targets, words):
    assert bench_command("engines", "--profile", profile_with(*targets), "--json", tmp_path / "out.json") == 2
    assert words in capsys.readouterr().err


def test_calibration_rows_that_are_also_timed_are_refused(bench_command, tiny_saved_model, converted_onnx, tiny_csv,
                                                          capsys, tmp_path):
    assert bench_command("engines", "--saved-model", tiny_saved_model, "--onnx", converted_onnx, "--eval-csv",
                         tiny_csv, "--calibration-csv", tiny_csv, "--batch", "64", *QUICK,
                         "--json", tmp_path / "out.json") == 2
    assert "overlap the scored rows" in capsys.readouterr().err


def test_half_a_model_pair_is_refused_before_anything_runs(bench_command, capsys, tmp_path):
    assert bench_command("engines", "--onnx", "x.onnx", "--json", tmp_path / "out.json") == 2
    assert "give both --saved-model and --onnx" in capsys.readouterr().err


def test_only_an_engine_that_proved_its_precision_can_be_the_fastest_reduced_one():
    """The seed's failure: a fast "FP16" figure from an engine built in FP32. An INT8 label whose proof failed
    (its evidence not shown, or outputs equal to FP32's) is never the figure the 2.5x target judges."""
    results = {"onnxruntime-fp32": {"samples_per_s": 46_000.0, "median_ms": 22.3, "precision": "fp32"},
               "sgemm-ceiling": {"samples_per_s": 50_000.0, "median_ms": 20.5},
               "onnxruntime-int8": {"samples_per_s": 66_700.0, "median_ms": 15.4, "precision": "int8"},
               "openvino-int8": {"samples_per_s": 500_000.0, "median_ms": 2.0, "precision": "int8"}}
    assert engine_throughput.fastest_reduced(results, {"onnxruntime-int8"}) == "onnxruntime-int8"
    assert engine_throughput.fastest_reduced(results, set()) is None
    assert "fastest_reduced_over_ort_fp32" not in engine_throughput.ratios_of(results, None, set())


def test_a_target_whose_runner_did_not_run_is_missed_not_passed():
    results = {"tensorflow-fp32": {"samples_per_s": 1.0, "median_ms": 1.0},
               "sgemm-ceiling": {"samples_per_s": 1.0, "median_ms": 1.0},
               "null-fp32": {"samples_per_s": 1e6, "median_ms": 1e-3},
               "openvino-int8": {"samples_per_s": 3.0, "median_ms": 0.3, "precision": "int8"}}
    assert engine_throughput.ratios_of(results, None, {"openvino-int8"}) == {}  # no ONNX Runtime FP32: no ratio at all
    missed_target = {"met": False, "target": "engine_throughput ort_fp32_over_tf >= 0.85"}
    assert engine_throughput.misses({"targets": [missed_target], "parity": {}}) == [
        "MISS engine_throughput ort_fp32_over_tf >= 0.85"]
    assert engine_throughput.misses({"targets": [], "parity": {}}) == ["no [[target]] judged the figures"]


def test_an_engine_that_disagrees_with_tf_fails_the_run_however_fast_it_is():
    met = {"met": True, "target": "engine_throughput ort_fp32_over_tf >= 0.85"}
    parity = {"onnxruntime-fp16": {"passed": False, "max_abs": 0.2, "atol": 5e-3}}
    assert engine_throughput.misses({"targets": [met], "parity": parity}) == [
        "FAIL onnxruntime-fp16 agrees with TF (max |p - p_TF| 2.0e-01, atol 0.005)"]


class FixedRunner:
    """Returns the same probabilities whatever it is fed."""

    def __init__(self, precision: str, p1: float):
        self.options = SimpleNamespace(precision=precision)
        self.probabilities = np.array([[1 - p1, p1]] * 4, np.float32)

    def infer(self, categorical, numeric):
        return self.probabilities


def test_an_engine_whose_precision_has_no_tolerance_fails_parity_with_its_error_and_the_reason(monkeypatch):
    from widedeep_bench.compare import TOLERANCES

    monkeypatch.setattr(engine_throughput, "TOLERANCES", {"fp32": TOLERANCES["fp32"]})
    runners = {"tensorflow-fp32": FixedRunner("fp32", 0.25), "onnxruntime-fp32": FixedRunner("fp32", 0.25),
               "onnxruntime-int8": FixedRunner("int8", 0.5), "null-fp32": FixedRunner("fp32", 0.9)}
    parity = engine_throughput.agreement_with_tf(runners, (None, None))
    assert sorted(parity) == ["onnxruntime-fp32", "onnxruntime-int8"] and parity["onnxruntime-fp32"]["passed"]
    assert engine_throughput.misses({"targets": [{"met": True, "target": "t"}], "parity": parity}) == [
        "FAIL onnxruntime-int8 agrees with TF (max |p - p_TF| 2.5e-01, widedeep_bench.compare.TOLERANCES has no "
        "'int8' entry: its parity cannot be judged)"]
