"""The contract every runner available here passes; the others are skipped with the reason.

Same probabilities as the TF original on real-format rows within the precision's tolerance, at any
batch size; every bad feed refused before the engine sees it; clear errors for misuse of state.
"""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.engines import PRECISIONS, RUNNERS, EngineOptions, make_runner
from widedeep_bench.engines.registry import runner_class
from widedeep_bench.errors import WidedeepError

pytestmark = pytest.mark.parity


def _case(name: str, precision: str):
    """A (runner, precision) parameter, skipped at collection with the reason if it cannot run here."""
    reason = runner_class(name).unavailable_reason(EngineOptions(precision=precision))
    return pytest.param((name, precision), id=f"{name}-{precision}",
                        marks=[pytest.mark.skip(reason=reason)] if reason else [])


ENGINES = [_case(name, precision) for name in RUNNERS if name != "null"
           for precision in PRECISIONS if precision in runner_class(name).precisions]
EVERY_RUNNER = ENGINES + [_case("null", "fp32")]
COMPILED_FP32 = [_case(name, "fp32") for name in RUNNERS if name not in ("tensorflow", "null")]


def _model_for(name, tiny_saved_model, converted_onnx):
    return {"tensorflow": tiny_saved_model, "null": None}.get(name, converted_onnx)


@pytest.fixture(scope="module")
def calibration_rows(tmp_path_factory):
    """What INT8 engines calibrate on: synthetic rows drawn with another row seed than ``engine_rows``."""
    from widedeep_bench.calibration import CalibrationSet
    from widedeep_bench.data.criteo_csv import read_eval_csv
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    path = write_criteo_csv(tmp_path_factory.mktemp("calibration") / "calibration.csv", 512, row_seed=7)
    return CalibrationSet(read_eval_csv(path), "contract calibration rows (row seed 7)")


def _options(precision: str, calibration_rows) -> EngineOptions:
    return EngineOptions(precision=precision,
                         calibration=calibration_rows)


@pytest.fixture(scope="module", params=ENGINES)
def active_engine(request, tiny_saved_model, converted_onnx, calibration_rows):
    """An activated runner (engine built or taken from the cache), shared by this module's tests."""
    name, precision = request.param
    with make_runner(name, _model_for(name, tiny_saved_model, converted_onnx),
                     _options(precision, calibration_rows)) as runner:
        yield runner


@pytest.fixture(params=EVERY_RUNNER)
def fresh_runner(request, tiny_saved_model, converted_onnx, calibration_rows):
    """A runner that has not been activated."""
    name, precision = request.param
    return make_runner(name, _model_for(name, tiny_saved_model, converted_onnx), _options(precision, calibration_rows))


def test_probabilities_match_the_tf_original_within_the_precision_tolerance(active_engine, engine_rows,
                                                                            tf_probabilities, record_property):
    tolerance = TOLERANCES[active_engine.options.precision]
    probabilities = active_engine.infer(engine_rows.categorical, engine_rows.numeric)
    result = compare(probabilities, tf_probabilities, atol=tolerance.atol, rtol=tolerance.rtol)
    record_property("achieved_error", str(result))
    print(f"{active_engine.name} {active_engine.options.precision} vs TF original: {result}")
    assert result, f"{active_engine.name} {active_engine.options.precision}: {result}; worst: {result.worst_rows}"
    assert probabilities.dtype == np.float32


@pytest.mark.parametrize("start, stop", [(0, 1), (1, 8), (100, 611)])
def test_any_batch_size_gives_the_same_rows(active_engine, engine_rows, tf_probabilities, start, stop):
    rows = engine_rows.slice(start, stop)
    probabilities = active_engine.infer(rows.categorical, rows.numeric)
    assert compare(probabilities, tf_probabilities[start:stop], atol=TOLERANCES[active_engine.options.precision].atol)


def test_the_tf_original_matches_an_independent_numpy_forward_pass(tiny_saved_model, engine_rows, tiny_weights,
                                                                   tf_probabilities):
    expected = tiny_weights.probabilities(engine_rows.categorical, engine_rows.numeric)
    result = compare(tf_probabilities, expected, atol=TOLERANCES["fp32"].atol)
    assert result, str(result)
    assert 0.05 < tf_probabilities[:, 1].mean() < 0.95  # a real spread of outputs, not a saturated model


def _broken(feed, case: str):
    categorical, numeric = feed.categorical.copy(), feed.numeric.copy()
    if case == "categorical_int32":
        return categorical.astype(np.int32), numeric
    if case == "numeric_float64":
        return categorical, numeric.astype(np.float64)
    if case == "one_categorical_row_missing":
        return categorical[:-1], numeric
    categorical.setflags(write=True)
    if case == "bucket_1000":
        categorical[26 * 3 + 4, 1] = 1000
    elif case == "field_26":
        categorical[26 * 2 + 25, 0] = 26
    elif case == "nan_numeric":
        numeric[1, 3] = np.nan
    return categorical, numeric


BAD_FEEDS = {"categorical_int32": "int64", "numeric_float64": "float32", "one_categorical_row_missing": "26 x 8",
             "bucket_1000": "bucket 1000", "field_26": "field index 26", "nan_numeric": "not a finite number"}


@pytest.mark.parametrize("case", sorted(BAD_FEEDS))
def test_a_bad_feed_is_refused_before_the_engine_runs(active_engine, engine_rows, monkeypatch, case):
    def engine_must_not_run(feeds):
        raise AssertionError("the engine was given a feed that failed validation")

    monkeypatch.setattr(active_engine, "infer_impl", engine_must_not_run)
    with pytest.raises(WidedeepError, match=BAD_FEEDS[case]):
        active_engine.infer(*_broken(engine_rows.head(8), case))


def test_infer_before_activation_is_a_state_error(fresh_runner, engine_rows):
    with pytest.raises(WidedeepError, match="not active: use it as a context manager"):
        fresh_runner.infer(engine_rows.categorical, engine_rows.numeric)


def test_activating_twice_or_deactivating_an_inactive_runner_is_a_state_error(fresh_runner):
    with pytest.raises(WidedeepError, match="not active; nothing to deactivate"):
        fresh_runner.deactivate()
    with fresh_runner:
        with pytest.raises(WidedeepError, match="already active"):
            fresh_runner.activate()
    assert not fresh_runner.is_active


def test_a_runner_can_be_used_again_after_leaving_its_context(fresh_runner, engine_rows):
    rows = engine_rows.head(4)
    with fresh_runner:
        first = fresh_runner.infer(rows.categorical, rows.numeric)
    with pytest.raises(WidedeepError, match="not active"):
        fresh_runner.infer(rows.categorical, rows.numeric)
    with fresh_runner:
        again = fresh_runner.infer(rows.categorical, rows.numeric)
    np.testing.assert_array_equal(first, again)


def test_every_runner_names_itself_and_its_version(fresh_runner):
    assert fresh_runner.name in RUNNERS
    version = fresh_runner.version()
    assert isinstance(version, str) and version[0].isdigit()


def test_the_null_runner_returns_a_constant_after_validating(engine_rows):
    with make_runner("null", None) as runner:
        probabilities = runner.infer(engine_rows.categorical, engine_rows.numeric)
        assert probabilities.shape == (engine_rows.rows, 2) and probabilities.dtype == np.float32
        assert np.all(probabilities == probabilities[0])
        with pytest.raises(WidedeepError, match="bucket 1000"):
            runner.infer(*_broken(engine_rows.head(8), "bucket_1000"))


@pytest.mark.parametrize("case", COMPILED_FP32)
def test_inputs_are_mapped_by_role_whatever_their_names_and_zeros_like_is_fed(case, ixrt_onnx, engine_rows,
                                                                            tf_probabilities):
    name, precision = case
    with make_runner(name, ixrt_onnx, EngineOptions(precision=precision)) as runner:
        assert runner.roles.zeros_like is not None
        assert ":" not in runner.roles.categorical + runner.roles.numeric
        probabilities = runner.infer(engine_rows.categorical, engine_rows.numeric)
    result = compare(probabilities, tf_probabilities, atol=TOLERANCES[precision].atol)
    assert result, str(result)
