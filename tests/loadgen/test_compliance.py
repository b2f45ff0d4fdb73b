"""MLPerf TEST01 in spirit: the responses a performance run logs must equal the accuracy run's for those rows.
A runner that answers the same whether timed or checked passes; one that answers differently only when timed
fails, and the worst rows it reports are real rows with the values each run gave them."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench.loadgen.scenarios import ScenarioSettings, compliance, run_scenario

from .runners import local

ATOL = 1e-6
LOG_PROBABILITY = 0.25  # of a Server run's ~2000 responses: a few hundred rows checked

SERVER = ScenarioSettings("Server", duration_s=0.5, target_qps=4000, max_batch=64)  # accuracy run: 0.5 s


def run_with(runner, tensors, *, wrong_when_timed: bool):
    def run(settings, directory):
        runner.wrong = wrong_when_timed and settings.mode == "performance"
        return run_scenario(local(runner), tensors, settings, directory, label=runner.name)
    return run


def test_a_runner_answering_the_same_when_timed_passes(runner, tensors, tmp_path):
    result = compliance(run_with(runner, tensors, wrong_when_timed=False), SERVER, tmp_path, rows=tensors.rows,
                        atol=ATOL, log_probability=LOG_PROBABILITY)
    assert result.passed, result.as_dict()
    assert result.checked > 100 and result.mismatched == 0 and result.max_abs_error == 0.0
    assert (result.accuracy_run.mode, result.performance_run.mode) == ("accuracy", "performance")
    assert result.performance_run.settings["log_probability"] == LOG_PROBABILITY


def test_a_runner_answering_differently_only_when_timed_fails_on_real_rows(runner, tensors, expected_clicks,
                                                                          tmp_path):
    result = compliance(run_with(runner, tensors, wrong_when_timed=True), SERVER, tmp_path, rows=tensors.rows,
                        atol=ATOL, log_probability=LOG_PROBABILITY)
    assert not result.passed
    assert result.checked > 100 and result.mismatched > result.checked // 2
    assert result.as_dict()["passed"] is False
    assert len(result.worst) == 5
    for qsl_idx, timed, checked in result.worst:
        assert 0 <= qsl_idx < tensors.rows
        assert checked == expected_clicks[qsl_idx]  # the accuracy run's answer for that very row
        assert timed == np.float32(1) - expected_clicks[qsl_idx]  # the wrong answer the runner gave it
    errors = [abs(timed - checked) for _, timed, checked in result.worst]
    assert errors == sorted(errors, reverse=True) and errors[0] == pytest.approx(result.max_abs_error)


def test_a_runner_whose_last_bit_depends_on_the_batch_passes_within_atol(make_runners, tensors, tmp_path):
    (runner,) = make_runners(ulp_on_odd_batches=True)
    # Server at 4000 QPS: an accuracy run of 0.5 s, batches of varying size, rows drawn again and logged twice
    settings = ScenarioSettings("Server", duration_s=0.5, target_qps=4000, max_batch=64)
    result = compliance(run_with(runner, tensors, wrong_when_timed=False), settings, tmp_path, rows=tensors.rows,
                        atol=ATOL, log_probability=1.0)
    assert result.passed and 0 < result.max_abs_error <= ATOL
