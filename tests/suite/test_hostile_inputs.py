"""What a hostile user tries after the issue's list: odd but valid profiles and options, hand-edited reports.

Each case runs the conformance suite (or ``python -m widedeep_bench``) in a subprocess, as a user would;
most stop at configuration, before any model is built, so they are quick.
"""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


PERMISSIVE = ('precisions = ["fp32"]\nbatch_sizes = [1024]\n'
              '[accuracy]\ntop1_floor = 0.01\ntop1_max_drop = 0.01\nauc_margin = 0.01\n')
HUGE_GATE = '[[perf]]\n{backend}precision = "fp32"\nbatch = 1024\nmin_samples_per_s = 1e12\n'


@pytest.mark.parametrize("backends, gate_backend, named", [
    ('["onnxruntime", "null"]', "null", None),  # a gate on the harness floor, which is measured, never gated
    ("[]", "tensorflow", None),  # a gate on the baseline peer (which can never be a backend under test)
    ("[]", None, "null"),  # a gate for any backend, and a run that tests only the null runner
])
def test_a_perf_gate_no_gated_runner_can_meet_is_an_error(tmp_path, backends, gate_backend, named, run_suite):
    profile = tmp_path / "ungated.toml"
    profile.write_text(f'name = "ungated"\nbackends = {backends}\n' + PERMISSIVE
                       + HUGE_GATE.format(backend=f'backend = "{gate_backend}"\n' if gate_backend else ""))
    done = run_suite("-m", "perf", "--wd-profile", str(profile), "--collect-only", "-q",
                     *(["--wd-backend", named] if named else []))
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert "[[perf]] #1" in done.stderr and "can never apply" in done.stderr


@pytest.mark.parametrize("option", ["--wd-report", "--wd-save-reference"])
def test_an_output_path_that_is_a_directory_is_one_line_before_anything_runs(tmp_path, option, run_suite):
    directory = tmp_path / "out"
    directory.mkdir()
    done = run_suite(option, str(directory), "-m", "conversion", "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{option}={str(directory)!r}: is a directory" in done.stderr and "Traceback" not in done.stderr


def test_a_run_that_stops_before_its_verdict_leaves_no_earlier_passing_report(tmp_path, run_suite):
    """CI that reads the report after a failed configuration must not find last week's "passed": true."""
    report = tmp_path / "report.json"
    report.write_text('{"report_version": 2, "passed": true, "gates": []}\n')
    profile = tmp_path / "typo.toml"
    profile.write_text('name = "typo"\nbackends = []\n' + PERMISSIVE + "top1_floorr = 0.9\n")
    done = run_suite("--wd-profile", str(profile), "--wd-report", str(report), "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and "top1_floorr" in done.stderr
    assert not report.exists()


def passing_report() -> dict:
    """A report as a passing run writes it: one engine gate evaluated and passed."""
    from widedeep_bench import gates
    from widedeep_bench.suite.results import SuiteResults

    results = SuiteResults()
    name = gates.accuracy_floor_name("onnxruntime-fp32")
    results.gates.plan(gates.PlannedGate(name=name, nodeid="t::x", selected=True, engine=True))
    results.gates.record(gates.evaluate(name, 0.75, ">=", 0.745, method="test"))
    results.accuracy["onnxruntime-fp32"] = {"top1": 0.75, "auc": 0.6, "logloss": 0.5, "rows": 1024}
    return results.as_report(["pytest"], session_ok=True)


@pytest.fixture
def show_report(tmp_path, run_report):
    """``show_report(saved)``: write ``saved`` (a dict, or text as it is) as a report and run ``report`` on it."""
    import json

    def show(saved: dict | str):
        path = tmp_path / "report.json"
        path.write_text(saved if isinstance(saved, str) else json.dumps(saved))
        return run_report(path)
    return show


def test_an_unedited_passing_report_passes(show_report):
    done = show_report(passing_report())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.parametrize("edit", [
    {"measured": 0.5},  # below the threshold, still marked PASS
    {"measured": float("nan")},  # NaN never passes
    {"op": "!="},  # not a comparison a gate uses
    {"threshold": 0.1, "measured": "high"},
])
def test_a_gate_whose_numbers_contradict_its_status_is_refused(edit, show_report):
    saved = passing_report()
    saved["gates"][0].update(edit)
    done = show_report(saved)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "gates[0]" in done.stderr and "Traceback" not in done.stderr


def test_a_report_listing_problems_does_not_pass_whatever_passed_says(show_report):
    saved = passing_report()
    saved["problems"] = ["2 selected gate(s) were not run"]
    done = show_report(saved)
    assert done.returncode == 1 and "were not run" in done.stderr


@pytest.mark.parametrize("edit", [
    lambda r: r["accuracy"]["onnxruntime-fp32"].pop("auc"),
    lambda r: r.update(throughput={"x/b1": {"samples_per_s": 1.0}}),
    lambda r: r["gates"][0].update(name=5),
    lambda r: r.update(problems="none"),
])
def test_a_damaged_report_is_one_line_not_a_traceback(edit, show_report):
    saved = passing_report()
    edit(saved)
    done = show_report(saved)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_machine_field_that_is_not_a_table_is_shown_as_unknown(show_report):
    saved = passing_report()
    saved["machine"] = "a string"
    done = show_report(saved)
    assert done.returncode == 0 and "machine ?" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize("selection", [["-m", "conversion"], []])
def test_a_run_that_measured_no_engine_never_writes_a_passing_report(tmp_path, tiny_saved_model, selection, run_suite,
                                                                     run_report):
    """Conversion gates (and the TF original's own) accept no engine: a report from such a run, however
    green, must not read as an acceptance. pytest itself succeeds: nothing it ran failed."""
    report = tmp_path / "report.json"
    args = ["--wd-saved-model", str(tiny_saved_model), "--wd-eval-csv", str(REPO / "fixtures" / "csv" / "labelled.csv"),
            "--wd-report", str(report)]
    done = run_suite(*args, *selection,
                     tests="widedeep_bench/conformance" if selection else "widedeep_bench/conformance/test_conversion.py")
    assert done.returncode == pytest.ExitCode.OK, done.stdout[-2000:] + done.stderr[-2000:]
    saved = json.loads(report.read_text())
    assert saved["passed"] is False and any("no engine gate" in problem for problem in saved["problems"])
    shown = run_report(report)
    assert shown.returncode == 1 and "no engine gate" in shown.stderr


@pytest.mark.parametrize("how", ["option", "profile"])
def test_the_tf_original_cannot_be_the_engine_under_test(tmp_path, how, run_suite):
    """It is the reference: its parity with itself is 0 and its drop below itself is 0, so every gate on
    it would pass by construction."""
    profile = tmp_path / "reference.toml"
    backends = '["tensorflow"]' if how == "profile" else "[]"
    profile.write_text(f'name = "reference"\nbackends = {backends}\n' + PERMISSIVE)
    extra = ["--wd-backend", "tensorflow"] if how == "option" else []
    done = run_suite("--wd-profile", str(profile), *extra, "-m", "accuracy or parity", "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert "tensorflow is the TF original" in done.stderr


def test_a_report_path_naming_a_file_that_is_not_a_report_is_refused_not_removed(tmp_path, run_suite):
    """--wd-report pointed at an input by mistake: the input is kept and the run stops in one line."""
    eval_csv = tmp_path / "eval.csv"
    eval_csv.write_text("0,1,2\n")
    done = run_suite("--wd-report", str(eval_csv), "--collect-only", "-q")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and "is not a widedeep_bench report" in done.stderr
    assert eval_csv.read_text() == "0,1,2\n"
