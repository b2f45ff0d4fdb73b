"""LoadGen's verdict is the gate's: a run LoadGen calls INVALID fails its VALID gate whatever its figures, and
the result says INVALID as LoadGen wrote it."""

from __future__ import annotations

import pytest

from widedeep_bench.gates import scenario_case, scenario_gate_names, scenario_performance_gates
from widedeep_bench.loadgen.scenarios import settings_of_gate, ScenarioSettings, run_scenario
from widedeep_bench.profiles import ScenarioGate

from .runners import local


def judge(gate, result):
    return scenario_performance_gates(scenario_case(gate), gate, valid=result.valid, validity=result.validity,
                                      samples_per_s=result.samples_per_s, p99_ms=result.latency_ms["p99"],
                                      method="LoadGen test run")


def test_an_offline_run_shorter_than_its_minimum_duration_is_invalid_and_fails_the_valid_gate(runner, tensors,
                                                                                             tmp_path):
    # Expecting 200 samples/s: LoadGen sends ~110 samples, answered in milliseconds, far short of 0.5 s.
    settings = ScenarioSettings("Offline", duration_s=0.5, target_qps=200)
    result = run_scenario(local(runner), tensors, settings, tmp_path, label=runner.name)
    assert (result.valid, result.validity) == (False, "INVALID")
    assert result.constraints["min_duration_met"] is False
    assert result.samples_per_s > 1000  # the figure itself is high: it was measured over too short a run

    gate = ScenarioGate("Offline", "null", "fp32", min_samples_per_s=1000.0)
    valid, throughput = judge(gate, result)
    assert [valid.name, throughput.name] == scenario_gate_names(gate)
    assert throughput.passed and throughput.measured == result.samples_per_s
    assert not valid.passed and "INVALID" in valid.method


def test_a_server_run_whose_p99_cannot_meet_its_bound_is_invalid_and_fails_both_gates(runner, tensors, tmp_path):
    gate = ScenarioGate("Server", "null", "fp32", min_qps=1000.0, latency_ms=0.001, duration_s=0.5, max_batch=16)
    settings = settings_of_gate(gate)
    assert (settings.target_qps, settings.latency_ms) == (1000.0, 0.001)
    result = run_scenario(local(runner), tensors, settings, tmp_path, label=runner.name)
    assert (result.valid, result.validity) == (False, "INVALID")
    assert result.constraints["perf_constraints_met"] is False
    assert result.completed_qps == pytest.approx(1000, rel=0.25)  # the load itself was served

    valid, latency = judge(gate, result)
    assert [valid.name, latency.name] == scenario_gate_names(gate)
    assert not valid.passed and not latency.passed
    assert latency.measured == result.latency_ms["p99"] > 0.001


def test_a_valid_offline_run_passes_the_valid_gate(runner, tensors, tmp_path):
    result = run_scenario(local(runner), tensors, ScenarioSettings("Offline", duration_s=0.5), tmp_path,
                          label=runner.name)
    assert (result.valid, result.validity) == (True, "VALID")
    gate = ScenarioGate("Offline", "null", "fp32", min_samples_per_s=1000.0)
    assert [g.passed for g in judge(gate, result)] == [True, True]
