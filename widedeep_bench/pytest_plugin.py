"""The conformance suite as a pytest plugin: options, parametrization, session fixtures, the gate plan, report.

Registered by the package's ``pytest11`` entry point, so it loads wherever the package is installed; it
stays inert (options and markers only) unless the session collects the shipped conformance tests
(``widedeep_bench/conformance``, what ``widedeep-bench test`` runs) or a ``--wd-*`` option is given, so
that other projects' test runs in the same Python are not touched (``_collects_the_suite``). State lives in one ``SuiteResults`` created in
``pytest_configure`` and judged in ``pytest_sessionfinish`` (printed by ``pytest_terminal_summary``,
saved by ``--wd-report``); under pytest-xdist each worker sends its results to the controller, which
merges them. The suite fails closed: a runner the run names that cannot run here stops it at
configuration, and every planned gate that ends without a result is NOT RUN and fails the run
(``--wd-allow-missing`` lists them instead, for exploratory runs).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from widedeep_bench.cache import check_cache_root
from widedeep_bench.conformance import DIRECTORY as CONFORMANCE_DIR
from widedeep_bench.errors import WidedeepError
from widedeep_bench.suite.config import OPTIONS, SuiteConfig
from widedeep_bench.suite.results import SuiteResults

PERF_UNDER_XDIST = ("perf tests are skipped under pytest-xdist (-n): pytest-benchmark disables itself there, "
                    "so they would measure nothing; run `pytest -m perf` without -n")
SCENARIO_UNDER_XDIST = ("scenario tests are skipped under pytest-xdist (-n): other workers' tests would share the "
                        "cores LoadGen measures; run `pytest -m scenario` without -n")


def pytest_addoption(parser):
    group = parser.getgroup("widedeep", "Wide & Deep conformance suite")
    for option, spec in OPTIONS.items():
        shown = f" (default {spec.default})" if spec.default else ""
        group.addoption(option, default=None, action="store_true" if spec.flag else "store",
                        help=f"{spec.help}{shown}; environment: {spec.env}")


MARKERS = {
    "conversion": "conversion stages (export, simplify, deploy, dynamic) and their validation",
    "parity": "engines against the TF original (or a saved reference) on the same real rows",
    "accuracy": "Top-1 / AUC / log loss on the whole eval set, with gates",
    "perf": "throughput benchmarks (pytest-benchmark); skipped under xdist",
    "scenario": "MLPerf LoadGen scenarios of the profile's [[scenario]] tables; skipped under xdist",
}


def pytest_configure(config):
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    config.widedeep_config = None
    named = _suite_options_given(config)
    if not (named or _collects_the_suite(config)):
        return
    if named and config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR:
        # `pytest -m accuracy --wd-saved-model DIR` typed where no test paths are configured (any directory
        # but a checkout of the suite): the tests to run are the shipped conformance suite, not the
        # directory's files. Under xdist the workers get these args from the controller.
        config.args = [str(CONFORMANCE_DIR)]
    # The library's progress bars and narration follow pytest's own verbosity.
    if config.getoption("verbose") < 0:
        os.environ["WIDEDEEP_QUIET"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = config.widedeep_results = SuiteResults()
    config.widedeep_deselected = []
    config.widedeep_bundle = None
    try:
        _check_output_paths(config)
        suite = SuiteConfig.from_pytest(config)
        check_cache_root()
        if suite.bundle is not None:  # verified before anything is built or run from it
            from widedeep_bench.bundle import load_bundle

            config.widedeep_bundle = load_bundle(suite.bundle, suite.bundle_option)
            suite = suite.with_bundle(config.widedeep_bundle)
        config.widedeep_config = suite
        _refuse_what_cannot_run(config, suite)
        _refuse_what_needs_absent_tensorflow(suite)
    except WidedeepError as exc:
        raise pytest.UsageError(str(exc)) from exc
    results.allow_missing = suite.allow_missing
    config.pluginmanager.register(_OutcomeRecorder(results), "widedeep-outcomes")


def pytest_report_header(config):
    """The suite's version and what the run judges against, at the top of every run of the suite."""
    from widedeep_bench import __version__

    suite: SuiteConfig | None = config.widedeep_config
    if suite is None:
        return None
    source = f", bundle {suite.bundle}" if suite.bundle is not None else ""
    return f"widedeep-bench {__version__}: profile {suite.profile.name} ({suite.profile.source}){source}"


def _suite_options_given(config) -> bool:
    """A ``--wd-*`` option on the command line: the session is a run of the suite."""
    return any(config.getoption(option) is not None for option in OPTIONS)


def _collects_the_suite(config) -> bool:
    """Whether a path the session collects is the shipped conformance tests, lies in them, or is the package
    or the directory right above it (a checkout's root); or ``--pyargs`` names them. A project whose
    virtualenv (with this package in it) lies somewhere below its own root does not count: pytest does not
    collect inside a virtualenv, and that project's tests are not the suite."""
    for arg in config.args:
        target = arg.split("::")[0]
        if config.option.pyargs and target.split(".")[0] == "widedeep_bench":
            return True
        path = Path(config.invocation_params.dir, target).resolve()
        if path == CONFORMANCE_DIR or CONFORMANCE_DIR in path.parents or path in CONFORMANCE_DIR.parents[:2]:
            return True
    return False


def _check_output_paths(config) -> None:
    """Before anything is measured: an output path that can never be written is one line, and a report an
    earlier run left at ``--wd-report`` is removed, so a run that ends without a verdict (a bad option, an
    interrupted session) never leaves another run's ``"passed": true`` where this run's would be."""
    from widedeep_bench.cache import check_output_path, remove_earlier_output
    from widedeep_bench.suite.config import given

    for option in ("--wd-report", "--wd-save-reference"):
        output = given(config, option)
        if not output.value:
            continue
        path, label = Path(output.value), f"{output.name}={output.value!r}"
        check_output_path(path, label)
        if option == "--wd-report" and not hasattr(config, "workerinput"):
            remove_earlier_output(path, label, "a widedeep_bench report", _is_empty_or_report)


def _is_empty_or_report(earlier) -> bool:
    """An empty file, or a report of this suite."""
    return earlier is None or (isinstance(earlier, dict) and "report_version" in earlier)


def _refuse_what_cannot_run(config, suite: SuiteConfig) -> None:
    """Fail closed before collection: a runner the profile, ``--wd-backend`` or ``--wd-ort-providers`` names
    that cannot run here, or a profile throughput gate no test of this run can evaluate."""
    from widedeep_bench.suite.engines import engine_cases
    from widedeep_bench.suite.plan import unmeasurable_perf_gates, unrunnable_scenario_gates

    cases = engine_cases(suite.backends, suite.precisions, ort_providers=suite.ort_providers)
    missing = [f"{case.id}: {case.unavailable}" for case in cases if case.unavailable and suite.must_run(case.backend)]
    if missing and not suite.allow_missing:
        named_by = ("--wd-backend" if suite.backends_named else "--wd-ort-providers" if not suite.backends
                    else f"profile {suite.profile.name!r}")
        raise WidedeepError(f"runners named by {named_by} cannot run here: " + "; ".join(missing)
                            + ". Install them, or add --wd-allow-missing for an exploratory run that lists "
                              "their gates as NOT RUN")
    backends = sorted({case.backend for case in cases if not case.unavailable or suite.must_run(case.backend)})
    problems = unmeasurable_perf_gates(suite, backends) if _may_run(config, "perf") else []
    if suite.profile.scenarios and _may_run(config, "scenario"):
        problems += unrunnable_scenario_gates(suite)
    elif not suite.profile.scenarios and _may_run(config, "scenario") and \
            not any(_may_run(config, marker) for marker in MARKERS if marker != "scenario"):
        problems.append(f"-m {config.getoption('markexpr')!r} selects only the scenario tests and profile "
                        f"{suite.profile.name!r} ({suite.profile.source}) has no [[scenario]] tables: nothing would "
                        f"be measured")
    if problems:
        raise WidedeepError("; ".join(problems))


def _refuse_what_needs_absent_tensorflow(suite: SuiteConfig) -> None:
    """On a machine without TensorFlow, a run that would need it (to build the synthetic default, convert,
    compute the TF reference or run a SavedModel it was given) is one line naming the bundle workflow,
    before collection, rather than a fixture's traceback in every test."""
    if suite.bundle is not None:
        return
    from widedeep_bench.assets import asset_origins
    from widedeep_bench.bundle import (CONVERSION_MODULES, TENSORFLOW_MODULES, missing_tensorflow,
                                       synthetic_default_purposes)

    origins = asset_origins(suite.saved_model, suite.eval_csv, suite.onnx)
    saved_model, _, onnx = origins
    purposes = synthetic_default_purposes(*origins)
    if onnx is None:
        purposes.append("convert the SavedModel")
    if (saved_model is not None or onnx is None) and not suite.reference:
        purposes.append("compute the TF reference")
    elif saved_model is not None:
        purposes.append("run the TF original it was given")
    if not purposes:
        return
    problem = missing_tensorflow("this run", purposes, CONVERSION_MODULES if onnx is None else TENSORFLOW_MODULES,
                                 remedy="run from a bundle made on a machine with TensorFlow: --wd-bundle DIR "
                                        "(widedeep-bench bundle)")
    if problem:
        raise WidedeepError(problem)


def _may_run(config, marker: str) -> bool:
    """False only when ``-m`` certainly deselects the tests marked ``marker`` (their gates are then DESELECTED)."""
    markexpr = config.getoption("markexpr", "")
    if not markexpr:
        return True
    try:
        from _pytest.mark.expression import Expression

        return bool(Expression.compile(markexpr).evaluate(lambda name, **_: name == marker))
    except Exception:  # noqa: BLE001 - pytest's private API changed: assume they may run, so the check applies
        return True


def _under_xdist(config) -> bool:
    return hasattr(config, "workerinput") or bool(getattr(config.option, "numprocesses", None))


def pytest_generate_tests(metafunc):
    from widedeep_bench.suite.engines import OVERHEAD_RUNNER, REFERENCE_RUNNER, engine_cases

    suite: SuiteConfig = metafunc.config.widedeep_config
    if suite is None:
        return
    absent = {}
    if suite.bundle is not None:  # never probe TensorFlow for a model the run does not have
        from widedeep_bench.bundle import NO_TF_ORIGINAL

        absent[REFERENCE_RUNNER] = f"no TF original in this run ({NO_TF_ORIGINAL})"
    for fixture, include in (("engine_case", ()), ("perf_case", (REFERENCE_RUNNER, OVERHEAD_RUNNER))):
        if fixture in metafunc.fixturenames:
            try:
                cases = engine_cases(suite.backends, suite.precisions, include=include,
                                     ort_providers=suite.ort_providers, absent=absent)
            except WidedeepError as exc:
                raise pytest.UsageError(str(exc)) from exc
            metafunc.parametrize(fixture, [
                pytest.param(case, id=case.id, marks=[pytest.mark.skip(reason=case.unavailable)]
                             if case.unavailable else []) for case in cases])
    if "scenario_gate" in metafunc.fixturenames:
        from widedeep_bench.gates import scenario_case

        metafunc.parametrize("scenario_gate", [pytest.param(gate, id=scenario_case(gate).replace(" ", "-"))
                                               for gate in suite.profile.scenarios])
    if "batch_size" in metafunc.fixturenames:
        metafunc.parametrize("batch_size", suite.batch_sizes, ids=[f"b{b}" for b in suite.batch_sizes])


def pytest_deselected(items):
    if items and items[0].config.widedeep_config is not None:
        items[0].config.widedeep_deselected.extend(items)


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected, so the plan knows what was kept
def pytest_collection_modifyitems(config, items):
    if config.widedeep_config is None:
        return
    if _under_xdist(config):
        for item in items:
            # The timing tests themselves: the precision proof also carries the perf marker (so that -m perf
            # proves what it times) but times nothing.
            why = {"test_throughput": PERF_UNDER_XDIST, "test_scenario": SCENARIO_UNDER_XDIST}.get(
                getattr(item, "originalname", item.name))
            if why is not None:
                item.add_marker(pytest.mark.skip(reason=why))
    # Among the perf tests (and only there), the TF original's cases run first: its own figure is then
    # measured before the engines, which are timed interleaved with it.
    def tensorflow_first(item):
        case = getattr(item, "callspec", None) and item.callspec.params.get("perf_case")
        return 0 if case is not None and case.backend == "tensorflow" else 1
    positions = [i for i, item in enumerate(items) if item.get_closest_marker("perf")]
    for position, item in zip(positions, sorted((items[i] for i in positions), key=tensorflow_first)):
        items[position] = item
    _plan_gates(config, items, config.widedeep_deselected)


def _plan_gates(config, selected, deselected) -> None:
    """Record every gate the collected conformance tests evaluate (selected or deselected by -m / -k)."""
    from widedeep_bench.gates import PlannedGate
    from widedeep_bench.suite.plan import gates_of_test

    results: SuiteResults = config.widedeep_results
    for items, kept in ((selected, True), (deselected, False)):
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            planned = gates_of_test(getattr(item, "originalname", item.name), params, config.widedeep_config)
            # Engine tests that judge something, or would where their runner runs: when all of them evaluated
            # nothing (a precision no runner has here, say), nothing was accepted.
            results.engine_tests_selected += int(kept and planned.judges)
            for name in planned.names:
                results.gates.plan(PlannedGate(name=name, nodeid=item.nodeid, selected=kept, engine=planned.engine))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failure the suite raised on purpose (``WidedeepError``) is shown as its one line, not a traceback:
    the message already names the file, option or tensor and what was expected."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(WidedeepError):
        report.longrepr = f"widedeep_bench: {call.excinfo.value}"
    if (report.failed or report.skipped) and getattr(item.config, "widedeep_config", None) is not None:
        # The gates this test was to judge and never reached: NOT RUN on its JUnit case, with why.
        report.user_properties = [*report.user_properties, *item.config.widedeep_results.gates.unjudged_properties(
            item.nodeid, outcome_reason(report))]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """The gates a test recorded become properties of its JUnit test case (``gates.junit_properties``), so
    ``--junitxml`` carries each measured value, threshold, unit and method. ``user_properties`` travel with
    the test's report, from an xdist worker to the controller too."""
    book = item.config.widedeep_results.gates if item.config.widedeep_config is not None else None
    mark = book.mark() if book is not None else None
    yield
    if book is not None:
        item.user_properties.extend(book.recorded_since(mark))


class _OutcomeRecorder:
    """Remembers why a test did not run to the end: the reason its planned gates were NOT RUN. Registered
    per session in ``pytest_configure`` (under xdist the controller sees every worker's reports)."""

    def __init__(self, results: SuiteResults):
        self.results = results

    def pytest_runtest_logreport(self, report):
        if report.passed or report.nodeid in self.results.outcomes:
            return
        self.results.outcomes[report.nodeid] = outcome_reason(report)


def outcome_reason(report) -> str:
    """Why a test did not run to the end, in one line: its skip reason, or "failed: ..." / "error in setup: ...".
    """
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return reason.removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    message = (crash.message if crash is not None else str(report.longrepr)).strip().splitlines() or ["?"]
    stage = "failed" if report.when == "call" else f"error in {report.when}"
    return f"{stage}: {message[0]}"


# --- session fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def wd_config(pytestconfig) -> SuiteConfig:
    if pytestconfig.widedeep_config is None:
        raise WidedeepError("the widedeep_bench plugin is inactive in this session: its fixtures serve the shipped "
                            "conformance tests (run `widedeep-bench test`, or collect widedeep_bench/conformance)")
    return pytestconfig.widedeep_config


@pytest.fixture(scope="session")
def wd_results(pytestconfig, wd_config) -> SuiteResults:
    return pytestconfig.widedeep_results


@pytest.fixture(scope="session")
def wd_assets(pytestconfig, wd_config, wd_results):
    """The model and eval set under test: the user's (options / environment / fetched) or the default.
    Messages name each path as the user gave it: the option, or its environment variable."""
    from widedeep_bench.assets import OptionNames, resolve_assets
    from widedeep_bench.suite.config import given

    bundle = pytestconfig.widedeep_bundle
    if bundle is not None:  # verified at configuration: its files, and nothing from the cache or environment
        assets = bundle.assets()
        wd_results.context["bundle"] = bundle.as_context()
    else:
        typed = {option: given(pytestconfig, option).name or option
                 for option in ("--wd-saved-model", "--wd-eval-csv", "--wd-onnx")}
        assets = resolve_assets(wd_config.saved_model, wd_config.eval_csv, wd_config.onnx, rows=wd_config.rows,
                                option_names=OptionNames(*typed.values()))
    wd_results.context["assets"] = assets.as_dict()
    wd_results.context["profile"] = wd_config.profile.name
    return assets


@pytest.fixture(scope="session")
def eval_tensors(wd_assets, wd_results):
    """The whole eval set as tensors (cached by content hash)."""
    from widedeep_bench.data.criteo_csv import load_eval_tensors

    tensors = load_eval_tensors(wd_assets.eval_csv)
    wd_results.context["eval_sha256"] = tensors.sha256
    return tensors


@pytest.fixture(scope="session")
def calibration(pytestconfig, wd_config, wd_assets, eval_tensors, wd_results):
    """The rows INT8 engines calibrate on (``widedeep_bench.calibration``), proven disjoint from the scored
    rows and named in the report; None when no engine of the run is calibrated; ``CalibrationUnavailable``
    (why) when the default source has none (an eval set too short to hold rows out)."""
    if not wd_config.calibrates:
        return None
    from widedeep_bench.calibration import CalibrationUnavailable, calibration_set, check_disjoint, scored_rows
    from widedeep_bench.metrics import whole_batches
    from widedeep_bench.suite.config import given

    option = given(pytestconfig, "--wd-calibration-csv").name or "--wd-calibration-csv"
    csv, bundle = wd_config.calibration_csv, pytestconfig.widedeep_bundle
    if csv is None and bundle is not None and bundle.calibration_csv is not None:
        csv, option = bundle.calibration_csv, f"the bundle's {bundle.calibration_csv.name}"
    try:
        rows = calibration_set(wd_assets, eval_tensors, csv, option=option)
    except WidedeepError as exc:
        if csv is not None:
            raise  # the user's (or the bundle's) file is bad: every test that needs it says so
        # No rows to hold out (a short eval set): the INT8 engines fail with this reason, the rest run.
        wd_results.context["calibration"] = {"unavailable": str(exc)}
        return CalibrationUnavailable(str(exc))
    check_disjoint(rows, whole_batches(scored_rows(eval_tensors, rows)))
    wd_results.context["calibration"] = rows.as_dict()
    return rows


@pytest.fixture(scope="session")
def reference_rows(eval_tensors, calibration):
    """The rows references are computed on and parity is checked on: every whole batch of 1024 before any
    held-out calibration rows (labels not needed, so an unlabelled eval.csv still checks parity)."""
    from widedeep_bench.calibration import scored_rows
    from widedeep_bench.metrics import whole_batches

    return whole_batches(scored_rows(eval_tensors, calibration))


@pytest.fixture(scope="session")
def accuracy_tensors(eval_tensors, calibration):
    """The rows the accuracy run scores: the same whole batches, which must carry labels."""
    from widedeep_bench.calibration import scored_rows
    from widedeep_bench.metrics import accuracy_rows

    return accuracy_rows(scored_rows(eval_tensors, calibration))


@pytest.fixture(scope="session")
def suite_conversion(wd_assets, eval_tensors, wd_results):
    """The TF original converted by the pipeline (cached), or None when the user gave a converted ONNX."""
    if wd_assets.onnx is not None:
        return None
    from widedeep_bench.bundle import conversion_rows
    from widedeep_bench.conversion.cached import cached_conversion

    result = cached_conversion(wd_assets.saved_model, parity_rows=conversion_rows(eval_tensors))
    wd_results.context["conversion"] = result.as_dict()
    return result


@pytest.fixture(scope="session")
def suite_onnx(wd_assets, suite_conversion) -> Path:
    """The ONNX the engines run: the user's converted model (its roles checked), or the pipeline's."""
    if suite_conversion is not None:
        return suite_conversion.final
    from widedeep_bench.onnx_roles import input_roles

    input_roles(wd_assets.onnx)  # a user's model must have its roles before anything is built from it
    return Path(wd_assets.onnx)


@pytest.fixture(scope="session")
def engine_pool(wd_config, wd_assets, suite_onnx, calibration):
    from widedeep_bench.bundle import NO_TF_ORIGINAL
    from widedeep_bench.engines.store import EngineStore
    from widedeep_bench.suite.engines import EnginePool

    extra = {"no_saved_model": NO_TF_ORIGINAL} if wd_config.bundle is not None else {}
    pool = EnginePool(onnx=suite_onnx, saved_model=wd_assets.saved_model, max_batch=max(wd_config.batch_sizes),
                      store=EngineStore(), ort_providers=wd_config.ort_providers, calibration=calibration,
                      **extra)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def references(wd_config, wd_assets, reference_rows, suite_onnx, engine_pool):
    """Reference probabilities on ``reference_rows`` by name ("tensorflow", "onnxruntime-fp32").

    Loaded from ``--wd-reference`` when given, else computed once (cached on disk) from the TF
    original and from ONNX Runtime FP32; saved to ``--wd-save-reference`` when asked.
    """
    from widedeep_bench.suite.reference import ReferenceSet

    refs = ReferenceSet(wd_assets, reference_rows, suite_onnx, engine_pool, source=wd_config.reference)
    if wd_config.save_reference:
        refs.save(Path(wd_config.save_reference))
    return refs


# --- reporting ---------------------------------------------------------------------------------

def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if config.widedeep_config is None:
        return
    results: SuiteResults = config.widedeep_results
    if hasattr(config, "workerinput"):
        config.workeroutput["widedeep_results"] = json.dumps(results.as_dict())
        return
    if config.option.collectonly:
        return  # nothing was meant to run: no verdict, no report
    verdict = results.verdict()
    fails = verdict.problems or verdict.count("FAIL")
    if fails and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    report = config.widedeep_config.report
    if report:
        try:
            results.write_report(Path(report), command=_command_line(config),
                                 session_ok=session.exitstatus == pytest.ExitCode.OK)
        except WidedeepError as exc:  # e.g. the disk filled during the run: one line, and the run fails
            config.widedeep_report_error = str(exc)
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _command_line(config) -> list[str]:
    """The command the user typed: ``widedeep-bench test ...``, ``pytest ...`` or ``python -m pytest ...``
    (whose ``sys.argv[0]`` is pytest's ``__main__.py``)."""
    program = Path(sys.argv[0]).name
    if program == "__main__.py":
        return ["python", "-m", "pytest", *config.invocation_params.args]
    return [program, *sys.argv[1:]]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    if node.config.widedeep_config is None:
        return
    payload = getattr(node, "workeroutput", {}).get("widedeep_results")
    if payload:
        node.config.widedeep_results.merge(json.loads(payload))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.widedeep_config is None:
        return
    results: SuiteResults = config.widedeep_results
    if not config.option.collectonly and (results.gates.planned or results.gates.results or results.throughput):
        terminalreporter.section("widedeep_bench gates")
        for line in results.summary_lines():
            terminalreporter.write_line(line)
    report_error = getattr(config, "widedeep_report_error", None)
    if report_error:
        terminalreporter.write_line(f"RUN FAILS: report not written: {report_error}", red=True)
    elif config.widedeep_config.report and not config.option.collectonly:
        terminalreporter.write_line(f"report written to {config.widedeep_config.report}")
