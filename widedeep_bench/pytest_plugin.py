"""The conformance suite as a pytest plugin: options, parametrization, session fixtures, gates, report.

Loaded by the root ``conftest.py``. State lives in one ``SuiteResults`` created in
``pytest_configure`` and reported in ``pytest_terminal_summary`` (and by ``--wd-report``); under
pytest-xdist each worker sends its results to the controller, which merges them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.suite.config import OPTIONS, SuiteConfig
from widedeep_bench.suite.results import SuiteResults

PERF_UNDER_XDIST = ("perf tests are skipped under pytest-xdist (-n): pytest-benchmark disables itself there, "
                    "so they would measure nothing; run `pytest -m perf` without -n")


def pytest_addoption(parser):
    group = parser.getgroup("widedeep", "Wide & Deep conformance suite")
    for option, spec in OPTIONS.items():
        shown = f" (default {spec.default})" if spec.default else ""
        group.addoption(option, default=None, action="store_true" if spec.flag else "store",
                        help=f"{spec.help}{shown}; environment: {spec.env}")


def pytest_configure(config):
    config.widedeep_results = SuiteResults()
    try:
        config.widedeep_config = SuiteConfig.from_pytest(config)
    except WidedeepError as exc:
        raise pytest.UsageError(str(exc)) from exc


def _under_xdist(config) -> bool:
    return hasattr(config, "workerinput") or bool(getattr(config.option, "numprocesses", None))


def pytest_generate_tests(metafunc):
    from widedeep_bench.suite.engines import OVERHEAD_RUNNER, REFERENCE_RUNNER, engine_cases

    suite: SuiteConfig = metafunc.config.widedeep_config
    for fixture, include in (("engine_case", ()), ("perf_case", (REFERENCE_RUNNER, OVERHEAD_RUNNER))):
        if fixture in metafunc.fixturenames:
            try:
                cases = engine_cases(suite.backends, suite.precisions, include=include)
            except WidedeepError as exc:
                raise pytest.UsageError(str(exc)) from exc
            metafunc.parametrize(fixture, [
                pytest.param(case, id=case.id, marks=[pytest.mark.skip(reason=case.unavailable)]
                             if case.unavailable else []) for case in cases])
    if "batch_size" in metafunc.fixturenames:
        metafunc.parametrize("batch_size", suite.batch_sizes, ids=[f"b{b}" for b in suite.batch_sizes])


def pytest_collection_modifyitems(config, items):
    if _under_xdist(config):
        for item in items:
            if item.get_closest_marker("perf"):
                item.add_marker(pytest.mark.skip(reason=PERF_UNDER_XDIST))
    # Among the perf tests (and only there), the TF original's cases run first: relative gates compare
    # with it, measured in the same run and as close in time as the order allows.
    def tensorflow_first(item):
        case = getattr(item, "callspec", None) and item.callspec.params.get("perf_case")
        return 0 if case is not None and case.backend == "tensorflow" else 1
    positions = [i for i, item in enumerate(items) if item.get_closest_marker("perf")]
    for position, item in zip(positions, sorted((items[i] for i in positions), key=tensorflow_first)):
        items[position] = item


# --- session fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def wd_config(pytestconfig) -> SuiteConfig:
    return pytestconfig.widedeep_config


@pytest.fixture(scope="session")
def wd_results(pytestconfig) -> SuiteResults:
    return pytestconfig.widedeep_results


@pytest.fixture(scope="session")
def wd_assets(wd_config, wd_results):
    """The model and eval set under test: the user's (options / environment / fetched) or the default."""
    from widedeep_bench.assets import resolve_assets

    assets = resolve_assets(wd_config.saved_model, wd_config.eval_csv, wd_config.onnx, rows=wd_config.rows)
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
def reference_rows(eval_tensors):
    """The rows references are computed on and parity is checked on: every whole batch of 1024 (labels
    not needed, so an unlabelled eval.csv still checks parity)."""
    from widedeep_bench.metrics import whole_batches

    return whole_batches(eval_tensors)


@pytest.fixture(scope="session")
def accuracy_tensors(eval_tensors):
    """The rows the accuracy run scores: the same whole batches, which must carry labels."""
    from widedeep_bench.metrics import accuracy_rows

    return accuracy_rows(eval_tensors)


@pytest.fixture(scope="session")
def suite_conversion(wd_assets, eval_tensors, wd_results):
    """The TF original converted by the pipeline (cached), or None when the user gave a converted ONNX."""
    if wd_assets.onnx is not None:
        return None
    from widedeep_bench.conversion.cached import cached_conversion

    result = cached_conversion(wd_assets.saved_model, parity_rows=eval_tensors.head(min(512, eval_tensors.rows)))
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
def engine_pool(wd_config, wd_assets, suite_onnx):
    from widedeep_bench.engines.store import EngineStore
    from widedeep_bench.suite.engines import EnginePool

    pool = EnginePool(onnx=suite_onnx, saved_model=wd_assets.saved_model,
                      max_batch=max(wd_config.batch_sizes), store=EngineStore())
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def references(wd_config, wd_assets, reference_rows, suite_onnx, engine_pool):
    """Reference probabilities on ``reference_rows`` by name ("tensorflow", "onnxruntime-fp32").

    Loaded from ``--wd-reference`` when given, else computed once (cached on disk) from the TF
    original and from ONNX Runtime FP32; saved to ``--wd-save-reference`` when asked.
    """
    from widedeep_bench.suite.reference import ReferenceSet

    refs = ReferenceSet(wd_config, wd_assets, reference_rows, suite_onnx, engine_pool)
    if wd_config.save_reference:
        refs.save(Path(wd_config.save_reference))
    return refs


# --- reporting ---------------------------------------------------------------------------------

def pytest_sessionfinish(session, exitstatus):
    config = session.config
    results: SuiteResults = config.widedeep_results
    if hasattr(config, "workerinput"):
        config.workeroutput["widedeep_results"] = json.dumps(results.as_dict())
        return
    report = config.widedeep_config.report
    if report:
        results.write_report(Path(report), command=[Path(sys.argv[0]).name, *sys.argv[1:]])
    if results.gates.failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    payload = getattr(node, "workeroutput", {}).get("widedeep_results")
    if payload:
        node.config.widedeep_results.merge(json.loads(payload))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results: SuiteResults = config.widedeep_results
    if not results.gates.results and not results.accuracy and not results.throughput:
        return
    terminalreporter.section("widedeep_bench gates")
    for line in results.summary_lines():
        terminalreporter.write_line(line)
    if config.widedeep_config.report:
        terminalreporter.write_line(f"report written to {config.widedeep_config.report}")
