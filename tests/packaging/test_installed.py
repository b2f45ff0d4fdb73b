"""The package as a vendor installs it: built from this source tree (not editable), used from a directory
outside the repository, with the pytest plugin found through its ``pytest11`` entry point.

The build is ``pip install --no-deps --target``: the dependencies are this interpreter's own, the package
and its metadata (console script, entry point, shipped profiles and conformance tests) are the built copy,
which the subprocesses import first (``PYTHONPATH``). CI's device-side venv (``.ci/run``) repeats this with
a real install into a fresh venv on Python 3.10 and NumPy 1.26.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from widedeep_bench import __version__

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", ".ci-*", "out", "build", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".benchmarks")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package built from a copy of this source tree and installed into a directory of its own."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    target = root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture
def elsewhere(tmp_path, installed):
    """``elsewhere(*command)`` runs a command in an empty directory outside the repository, importing the
    installed copy first, with a private cache and none of the caller's ``WIDEDEEP_*`` settings."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    def run(*command, timeout=600):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("WIDEDEEP_")}
        environment.update({"PYTHONPATH": str(installed), "WIDEDEEP_CACHE": str(tmp_path / "cache"),
                            "WIDEDEEP_QUIET": "1"})
        return subprocess.run([str(c) for c in command], cwd=workdir, env=environment, capture_output=True,
                              text=True, timeout=timeout)
    return run


def test_the_installed_copy_is_what_runs(elsewhere, installed):
    done = elsewhere(sys.executable, "-c", "import widedeep_bench; print(widedeep_bench.__file__)")
    assert Path(done.stdout.strip()).is_relative_to(installed), done.stdout + done.stderr


def test_widedeep_bench_version(elsewhere, installed):
    for command in ([installed / "bin" / "widedeep-bench", "--version"],
                    [sys.executable, "-m", "widedeep_bench", "--version"]):
        done = elsewhere(*command)
        assert (done.returncode, done.stdout.strip()) == (0, f"widedeep-bench {__version__}"), done.stderr


def test_the_profiles_and_conformance_tests_ship_in_the_package(installed):
    shipped = {path.relative_to(installed / "widedeep_bench").as_posix()
               for path in (installed / "widedeep_bench").rglob("*") if path.suffix in (".toml", ".py", ".ini")}
    assert {"profiles/cpu-default.toml", "profiles/mr-v100-ixrt-fp16.toml", "profiles/h100-torch.toml",
            "conformance/test_accuracy.py", "conformance/test_parity.py", "conformance/test_perf.py",
            "conformance/test_conversion.py", "conformance/suite.ini", "pytest_plugin.py"} <= shipped


@pytest.mark.parametrize("pytest_command", [[BIN / "pytest"], [sys.executable, "-m", "pytest"]],
                         ids=["bare-pytest", "python-m-pytest"])
def test_space_separated_suite_options_work_from_any_directory(elsewhere, tmp_path, pytest_command):
    """The plugin comes from the entry point, not from a conftest the rootdir would have to find: a
    path-valued option given with a space, which moves pytest's rootdir, is still an option of the suite."""
    model, csv = tmp_path / "model", tmp_path / "eval.csv"
    model.mkdir()
    csv.write_text("")
    (tmp_path / "elsewhere" / "test_unrelated.py").write_text("def test_unrelated():\n    pass\n")
    done = elsewhere(*pytest_command, "-m", "accuracy", "--collect-only", "-q", "-p", "no:cacheprovider",
                     "--wd-saved-model", model, "--wd-eval-csv", csv, "--wd-batch-sizes", "1024")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Given no test path, a run with the suite's options runs the shipped suite, not the directory's files.
    assert "test_accuracy.py::test_engine_accuracy[onnxruntime-fp32]" in done.stdout
    assert "test_unrelated" not in done.stdout
    pyargs = elsewhere(*pytest_command, "--pyargs", "widedeep_bench.conformance", "--collect-only", "-q",
                       "-p", "no:cacheprovider", "--wd-eval-csv", csv, "--wd-batch-sizes", "1024")
    assert pyargs.returncode == 0 and "test_parity.py::" in pyargs.stdout, pyargs.stdout[-3000:] + pyargs.stderr


def test_the_plugin_is_registered_once_in_the_repository(tmp_path):
    """The repository's own runs get the plugin from the installed package only (no conftest registers it
    again, which pytest would refuse)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WIDEDEEP_")}
    environment["WIDEDEEP_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--wd-batch-sizes", "1024", "widedeep_bench/conformance/test_accuracy.py",
                           "--trace-config"], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    registered = [line for line in done.stdout.splitlines() if "widedeep_bench/pytest_plugin.py" in line]
    assert len(registered) == 1, registered


def test_other_projects_tests_see_an_inert_plugin(elsewhere, tmp_path):
    """Installed into a Python that other projects test with, the plugin neither checks runtimes nor
    touches the cache unless the conformance suite runs."""
    (tmp_path / "elsewhere" / "test_other.py").write_text("def test_other():\n    assert True\n")
    done = elsewhere(BIN / "pytest", "-q", "-p", "no:cacheprovider", "test_other.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "widedeep_bench gates" not in done.stdout
    assert not (tmp_path / "cache").exists()


def test_a_project_with_the_package_in_its_own_virtualenv_runs_its_own_tests(installed, tmp_path):
    """The usual layout, ``project/.venv/.../widedeep_bench``: bare ``pytest`` in the project runs the
    project's tests, and the suite neither takes the session over nor checks anything."""
    project = tmp_path / "project"
    shutil.copytree(installed, project / ".venv" / "site-packages")
    (project / "test_mine.py").write_text("def test_mine():\n    assert True\n")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WIDEDEEP_")}
    environment.update(PYTHONPATH=str(project / ".venv" / "site-packages"), WIDEDEEP_CACHE=str(tmp_path / "cache"))
    for command in ([BIN / "pytest"], [BIN / "pytest", "."], [sys.executable, "-m", "pytest"]):
        done = subprocess.run([*map(str, command), "-q", "-p", "no:cacheprovider"], cwd=project, env=environment,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
        assert "widedeep_bench gates" not in done.stdout
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("arguments, expected", [
    (["--wd-perf-rounds", "abc"], 2),  # pytest's usage error: bad usage or input
    (["-k", "no_test_has_this_name"], 1),  # nothing collected: nothing was measured, so nothing passed
], ids=["usage-error", "nothing-collected"])
def test_the_test_command_maps_pytest_exit_statuses_to_the_clis(elsewhere, installed, arguments, expected):
    done = elsewhere(installed / "bin" / "widedeep-bench", "test", "-p", "no:randomly", *arguments)
    assert done.returncode == expected, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.parametrize("pytest_status, expected", [(0, 0), (1, 1), (2, 1), (3, 1), (4, 2), (5, 1)],
                         ids=["passed", "failed", "interrupted", "internal-error", "usage-error", "none-collected"])
def test_only_a_clean_pytest_run_exits_0_and_only_a_usage_error_exits_2(pytest_status, expected):
    from widedeep_bench.commands.test import exit_code

    assert exit_code(pytest_status) == expected


def test_the_test_command_is_not_steered_by_a_project_configuration_above_the_package(installed, tmp_path):
    """Installed under a project whose pytest configuration adds options the suite's run does not have: the
    shipped suite runs with its own configuration."""
    project = tmp_path / "project"
    site = project / ".venv" / "site-packages"
    shutil.copytree(installed, site)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "--no-such-plugin-option"\n')
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WIDEDEEP_")}
    environment.update(PYTHONPATH=str(site), WIDEDEEP_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([str(site / "bin" / "widedeep-bench"), "test", "-m", "accuracy", "--collect-only", "-q",
                           "--wd-batch-sizes", "1024"], cwd=project, env=environment, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "test_engine_accuracy[onnxruntime-fp32]" in done.stdout, \
        done.stdout[-2000:] + done.stderr[-2000:]


def test_the_test_command_loads_what_it_needs_when_plugin_autoloading_is_off(elsewhere, installed, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    done = elsewhere(installed / "bin" / "widedeep-bench", "test", "-m", "perf", "--collect-only", "-q",
                     "--wd-batch-sizes", "1024")
    assert done.returncode == 0 and "test_throughput[" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.parametrize("arguments, message", [
    (["--bundle", "no-such-dir"], "--bundle='no-such-dir': no such directory"),
    (["--bundle", "a", "--wd-bundle", "b"], "--bundle and --wd-bundle both name a bundle: give one"),
], ids=["missing-bundle", "two-bundles"])
def test_a_bad_bundle_argument_is_one_line_naming_the_option_typed(elsewhere, installed, arguments, message):
    done = elsewhere(installed / "bin" / "widedeep-bench", "test", *arguments)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_global_flags_are_accepted_after_the_command(elsewhere, installed, tmp_path):
    report = tmp_path / "report.json"
    report.write_text('{"report_version": 2, "passed": true, "gates": []}\n')
    script = installed / "bin" / "widedeep-bench"
    after, before = elsewhere(script, "report", str(report), "-q"), elsewhere(script, "-q", "report", str(report))
    assert after.returncode == before.returncode == 1, after.stderr + before.stderr
    assert "no gate was evaluated" in after.stderr
    unknown = elsewhere(script, "report", str(report), "--no-such-flag")
    assert unknown.returncode == 2 and "unrecognized arguments: --no-such-flag" in unknown.stderr
    assert "usage: widedeep-bench report" in unknown.stderr  # the usage of the command it is about


@pytest.mark.slow
def test_the_readme_accuracy_command_reports_top1_and_fails_below_the_floor(elsewhere, installed, tmp_path,
                                                                              tiny_saved_model, monkeypatch):
    """``pytest -m accuracy --wd-saved-model DIR --wd-eval-csv FILE`` with space-separated paths, from
    outside the repository: the Top-1 it reports is the model's on those rows, and a profile whose floor the
    engine misses makes the run exit 1 (``widedeep-bench test``) with the failed gate in the report."""
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.engines.registry import make_runner
    from widedeep_bench.gates import accuracy_floor_name
    from widedeep_bench.metrics import ACCURACY_BATCH, accuracy, accuracy_rows
    from widedeep_bench.probabilities import run_batches
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    monkeypatch.setenv("WIDEDEEP_CACHE", str(tmp_path / "cache"))  # the one the run below uses
    monkeypatch.setenv("WIDEDEEP_QUIET", "1")
    csv = write_criteo_csv(tmp_path / "eval.csv", 4096)
    rows = accuracy_rows(load_eval_tensors(csv))
    with make_runner("tensorflow", tiny_saved_model) as tensorflow:
        expected = accuracy(run_batches(tensorflow, rows, ACCURACY_BATCH), rows.labels).top1
    strict = tmp_path / "strict.toml"
    strict.write_text((installed / "widedeep_bench" / "profiles" / "cpu-default.toml").read_text()
                      .replace("top1_floor = 0.745", f"top1_floor = {min(expected + 0.05, 0.99):.3f}"))
    assert strict.read_text() != (installed / "widedeep_bench" / "profiles" / "cpu-default.toml").read_text()
    report = tmp_path / "report.json"
    done = elsewhere(installed / "bin" / "widedeep-bench", "test", "-m", "accuracy", "--wd-saved-model",
                     tiny_saved_model, "--wd-eval-csv", csv, "--wd-backend", "onnxruntime", "--wd-precision",
                     "fp32", "--wd-profile", strict, "--wd-batch-sizes", "1024", "--wd-report", report)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    saved = json.loads(report.read_text())
    assert saved["accuracy"]["onnxruntime-fp32"]["top1"] == pytest.approx(expected, abs=1e-5)
    floor = next(gate for gate in saved["gates"] if gate["name"] == accuracy_floor_name("onnxruntime-fp32"))
    assert floor["status"] == "FAIL" and floor["measured"] == pytest.approx(expected, abs=1e-5), floor
    assert saved["widedeep_bench_version"] == __version__ and saved["passed"] is False


def test_a_suite_run_names_the_suite_version_and_profile_in_its_header(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WIDEDEEP_")}
    environment["WIDEDEEP_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider",
                           "--wd-batch-sizes", "1024", "widedeep_bench/conformance/test_accuracy.py"], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"widedeep-bench {__version__}: profile cpu-default (" in done.stdout
