"""``widedeep-bench compare BASE NEW``: a verdict per perf case that knows the noise, and gates that flipped."""

import json

import pytest

from .sample_reports import MEDIANS, as_version_2, drifting, failing, sample_report

SLOWED = "onnxruntime-fp32/b4096"
REFERENCES = ("tensorflow-fp32/b1024", "null-fp32/b1024")


def drifting_run(seed: int, **options) -> dict:
    """300 rounds per case whose speed wanders slowly (about +-4%), as a loaded machine's does within one run."""
    return drifting(sample_report(seed=seed, rounds=300, **options), seed=100 + seed)


def summary(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def verdicts(stdout: str) -> dict[str, str]:
    return {change["case"]: change["verdict"] for change in summary(stdout)["throughput"]}


def test_two_runs_of_one_machine_are_within_noise_for_every_case_and_exit_0(write, cli):
    code, out, err = cli("compare", write(sample_report(seed=1), "base.json"), write(sample_report(seed=2), "new.json"))
    assert code == 0, err
    assert verdicts(out) == {case: "within noise" for case in MEDIANS}
    assert "WARNING" not in out and summary(out)["passed"] is True


def test_a_report_whose_rounds_for_one_case_are_20_percent_slower_exits_1_naming_the_case(write, cli):
    code, out, err = cli("compare", write(sample_report(seed=1), "base.json"),
                         write(sample_report(seed=2, speed={SLOWED: 0.8}), "new.json"))
    assert code == 1
    assert verdicts(out)[SLOWED] == "slower, significant"
    assert summary(out)["regressions"] == [SLOWED] and SLOWED in err
    assert all(verdict == "within noise" for case, verdict in verdicts(out).items() if case != SLOWED)


def test_a_significant_slowdown_within_the_threshold_is_reported_and_exits_0(write, cli):
    code, out, _ = cli("compare", write(sample_report(seed=1), "base.json"),
                       write(sample_report(seed=2, speed={SLOWED: 0.8}), "new.json"), "--max-regression", "25%")
    assert code == 0 and verdicts(out)[SLOWED] == "slower, within threshold"


def test_a_faster_case_is_faster_significant_and_never_fails(write, cli):
    code, out, _ = cli("compare", write(sample_report(seed=1), "base.json"),
                       write(sample_report(seed=2, speed={SLOWED: 1.3}), "new.json"))
    assert code == 0 and verdicts(out)[SLOWED] == "faster, significant"


@pytest.mark.parametrize("base_seed, new_seed", [(1, 2), (3, 4), (5, 6)])
def test_two_runs_that_drift_within_themselves_never_fail_though_single_rounds_would(write, cli, base_seed, new_seed):
    """Hundreds of drifting rounds make any wander significant round by round; block medians see it as noise."""
    from scipy.stats import mannwhitneyu

    from widedeep_bench.reporting.compare import round_samples_per_s

    base, new = drifting_run(base_seed), drifting_run(new_seed)
    code, out, err = cli("compare", write(base, "base.json"), write(new, "new.json"))
    assert code == 0, err
    assert "slower, significant" not in verdicts(out).values() and summary(out)["regressions"] == []
    per_round_p = [mannwhitneyu(round_samples_per_s(new["throughput"][case]), round_samples_per_s(base["throughput"][case]),
                                alternative=side).pvalue for case in MEDIANS for side in ("less", "greater")]
    assert min(per_round_p) < 0.01  # the drift is real: a test on single rounds would have called it a change


def test_a_drifting_run_with_one_engine_case_20_percent_slower_exits_1_naming_only_that_case(write, cli):
    code, out, err = cli("compare", write(drifting_run(1), "base.json"),
                         write(drifting_run(2, speed={SLOWED: 0.8}), "new.json"))
    assert code == 1
    assert verdicts(out)[SLOWED] == "slower, significant"
    assert summary(out)["regressions"] == [SLOWED] and SLOWED in err


@pytest.mark.parametrize("reference", REFERENCES)
def test_a_20_percent_slower_reference_is_shown_and_never_fails(write, cli, reference):
    """The TF original and the null runner measure the machine and the harness, not an engine under test."""
    code, out, err = cli("compare", write(sample_report(seed=1), "base.json"),
                         write(sample_report(seed=2, speed={reference: 0.8}), "new.json"))
    assert code == 0, err
    change = next(c for c in summary(out)["throughput"] if c["case"] == reference)
    assert change["verdict"] == "slower, significant" and change["reference"] is True
    assert summary(out)["regressions"] == [] and summary(out)["passed"] is True
    assert any(line.split()[0] == reference and line.endswith("slower, significant (reference)")
               for line in out.splitlines())


def test_references_are_the_tf_original_and_the_null_runner_at_any_precision():
    from widedeep_bench.reporting.compare import is_reference

    assert is_reference({"backend": "tensorflow", "precision": "fp32"})
    assert is_reference({"backend": "null", "precision": "int8"})
    assert not is_reference({"backend": "onnxruntime", "precision": "fp32"})


def test_a_3_percent_slowdown_over_many_rounds_is_slower_within_threshold_and_exits_0(write, cli):
    code, out, err = cli("compare", write(sample_report(seed=1, rounds=300), "base.json"),
                         write(sample_report(seed=2, rounds=300, speed={SLOWED: 0.97}), "new.json"))
    assert code == 0, err
    assert verdicts(out)[SLOWED] == "slower, within threshold"


def test_block_medians_keep_the_timing_order_and_at_least_3_rounds_a_block():
    import numpy as np

    from widedeep_bench.reporting.compare import block_medians

    assert block_medians(np.arange(300.0)).tolist() == [14.5 + 30 * i for i in range(10)]
    assert block_medians(np.arange(10.0)).size == 3 and block_medians(np.arange(2.0)).tolist() == [0.5]


def test_a_case_or_gate_missing_from_the_new_run_is_a_warning_naming_it_and_exits_0(write, cli):
    new = sample_report(seed=2)
    del new["throughput"][SLOWED]
    gone = new["gates"].pop(0)["name"]
    code, out, err = cli("compare", write(sample_report(seed=1), "base.json"), write(new, "new.json"))
    assert code == 0, err
    warning = next(line for line in out.splitlines() if line.startswith("WARNING: the new run lacks"))
    assert SLOWED in warning and gone in warning
    assert summary(out)["missing_cases"] == [SLOWED] and summary(out)["missing_gates"] == [gone]


def test_a_gate_that_went_from_pass_to_fail_exits_1_naming_it(write, cli):
    new = failing(sample_report(seed=2), "accuracy onnxruntime-fp32: Top-1")
    code, out, err = cli("compare", write(sample_report(seed=1), "base.json"), write(new, "new.json"))
    gate = "accuracy onnxruntime-fp32: Top-1 >= profile floor"
    assert code == 1 and summary(out)["lost_gates"] == [gate] and gate in err
    assert f"LOST {gate}: PASS -> FAIL" in out


def test_a_gate_that_passed_and_did_not_run_is_lost_and_exits_1(write, cli):
    new = sample_report(seed=2)
    new["gates"][0] = {"name": new["gates"][0]["name"], "status": "NOT RUN", "passed": False,
                       "why": "onnxruntime not importable"}
    code, out, _ = cli("compare", write(sample_report(seed=1), "base.json"), write(new, "new.json"))
    assert code == 1 and summary(out)["lost_gates"] == [new["gates"][0]["name"]]


def test_a_gate_that_failed_and_now_passes_is_shown_and_exits_0(write, cli):
    base = failing(sample_report(seed=1), "accuracy onnxruntime-fp32: AUC")
    code, out, _ = cli("compare", write(base, "base.json"), write(sample_report(seed=2), "new.json"))
    assert code == 0 and "accuracy onnxruntime-fp32: AUC >= 0.5 + margin: FAIL -> PASS" in out


def test_reports_from_different_machines_compare_with_a_warning_naming_the_fields(write, cli):
    other = dict(sample_report(seed=2)["machine"], cpu="Intel Xeon Platinum 8480+", hostname="runner-b",
                 cpu_flags=["avx", "avx2", "avx512f", "fma", "sse4_2"])
    code, out, _ = cli("compare", write(sample_report(seed=1), "base.json"),
                       write(sample_report(seed=2, machine=other), "new.json"))
    assert code == 0
    warning = next(line for line in out.splitlines() if line.startswith("WARNING"))
    assert "cpu," in warning and "cpu_flags (+avx512f)" in warning and "hostname" in warning
    assert "logical_cpus" not in warning
    assert summary(out)["machine_differences"] == ["cpu", "cpu_flags (+avx512f)", "hostname"]


@pytest.mark.parametrize("which", ["base", "new", "both"])
def test_a_version_2_report_without_rounds_compares_by_median_and_never_fails_on_that_alone(write, cli, which):
    """Without rounds a 20% fall cannot be told from noise: the verdict says so, the exit code does not fail."""
    base, new = sample_report(seed=1), sample_report(seed=2, speed={SLOWED: 0.8})
    base, new = (as_version_2(base) if which in ("base", "both") else base,
                 as_version_2(new) if which in ("new", "both") else new)
    code, out, err = cli("compare", write(base, "base.json"), write(new, "new.json"))
    assert code == 0, err
    assert set(verdicts(out).values()) == {"no rounds recorded: compared by median only, no noise test"}
    change = next(c for c in summary(out)["throughput"] if c["case"] == SLOWED)
    assert change["change"] == pytest.approx(-0.2, abs=0.03)
    assert "report_version 2 records no round_seconds" in out


def test_accuracy_and_parity_changes_are_shown_per_case(write, cli):
    new = sample_report(seed=2)
    new["accuracy"]["onnxruntime-fp32"]["auc"] = 0.7901
    code, out, _ = cli("compare", write(sample_report(seed=1), "base.json"), write(new, "new.json"))
    assert code == 0
    assert any(line.split()[:3] == ["onnxruntime-fp32", "AUC", "0.7931"] and "-0.003" in line
               for line in out.splitlines())
    assert "max |a-b|" in out


def test_too_few_rounds_for_the_noise_test_say_so(write, cli):
    code, out, _ = cli("compare", write(sample_report(seed=1, rounds=3), "base.json"),
                       write(sample_report(seed=2, rounds=3, speed={SLOWED: 0.5}), "new.json"))
    assert code == 0 and verdicts(out)[SLOWED].startswith("too few rounds for the noise test (3 and 3 rounds")


def test_markdown_of_a_comparison_names_the_regression(write, cli, tmp_path):
    out_md = tmp_path / "compare.md"
    code, _, _ = cli("compare", write(sample_report(seed=1), "base.json"),
                     write(sample_report(seed=2, speed={SLOWED: 0.8}), "new.json"), "--markdown", out_md)
    text = out_md.read_text()
    assert code == 1 and text.startswith("# widedeep-bench compare: REGRESSION")
    assert f"| {SLOWED} |" in text and "**slower, significant**" in text


@pytest.mark.parametrize("value", ["5", "-1%", "fast", "100%", ""])
def test_a_bad_max_regression_is_one_line_exit_2(write, cli, value):
    code, out, err = cli("compare", write(sample_report(seed=1), "base.json"), write(sample_report(seed=2), "new.json"),
                         f"--max-regression={value}")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--max-regression" in err


@pytest.mark.parametrize("value, expected", [("5%", 0.05), ("0.05", 0.05), ("0", 0.0), ("12.5%", 0.125)])
def test_max_regression_reads_a_percentage_or_a_fraction(value, expected):
    from widedeep_bench.reporting.compare import parse_fraction

    assert parse_fraction(value, "--max-regression") == pytest.approx(expected)
