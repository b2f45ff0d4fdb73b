"""``[[scenario]]`` tables of a profile and the gate rules that judge MLPerf LoadGen scenario runs.

A table that would do nothing (a key its scenario ignores, a case the profile never runs) is refused when the
profile loads, in one line naming the file, ``[[scenario]] #N`` and the key; an INVALID LoadGen run never passes.
"""

import math
from dataclasses import fields

import pytest

from widedeep_bench import gates
from widedeep_bench.profiles import ScenarioGate

from .test_profiles import VALID, load_text, refused

OFFLINE = '[[scenario]]\nscenario = "Offline"\nbackend = "onnxruntime"\nprecision = "fp32"\nmin_samples_per_s = 50000\n'
SERVER = '[[scenario]]\nscenario = "Server"\nbackend = "onnxruntime"\nprecision = "fp32"\nmin_qps = 20000\n'
ACCURACY = '[[scenario]]\nscenario = "SingleStream"\nbackend = "onnxruntime"\nprecision = "fp16"\n' \
           'accuracy_tier = 99.9\n'


def test_offline_server_and_accuracy_tables_load_with_the_defaults(tmp_path):
    offline, server, accuracy = load_text(tmp_path, VALID + OFFLINE + SERVER + ACCURACY).scenarios
    assert offline == ScenarioGate("Offline", "onnxruntime", "fp32", min_samples_per_s=50000.0)
    assert (server.scenario, server.min_qps, server.latency_ms, server.min_samples_per_s) == \
        ("Server", 20000.0, 30.0, None)
    assert (accuracy.accuracy_tier, accuracy.min_samples_per_s, accuracy.min_qps) == (99.9, None, None)
    assert all((g.duration_s, g.instances, g.max_batch, g.max_wait_ms) == (10.0, None, None, None)
               for g in (offline, server, accuracy))


def test_a_profile_without_scenario_tables_has_none(tmp_path):
    assert load_text(tmp_path, VALID).scenarios == ()


def test_every_optional_key_is_read(tmp_path):
    table = SERVER + "latency_ms = 15\naccuracy_tier = 99\nduration_s = 60\ninstances = 4\nmax_batch = 512\n" \
                     "max_wait_ms = 0\ninstance_kind = \"processes\"\n"
    (gate,) = load_text(tmp_path, VALID + table).scenarios
    assert (gate.latency_ms, gate.accuracy_tier, gate.duration_s, gate.instances, gate.max_batch,
            gate.max_wait_ms, gate.instance_kind, gate.devices) == (15.0, 99.0, 60.0, 4, 512, 0.0, "processes", None)


@pytest.mark.parametrize("devices", ["all", "0,1", "3"])
def test_devices_are_all_or_their_indices(tmp_path, devices):
    (gate,) = load_text(tmp_path, VALID + SERVER + f'devices = "{devices}"\n').scenarios
    assert gate.devices == devices and gate.instances is None


def test_an_unknown_key_is_refused_with_the_schemas_keys(tmp_path):
    keys = sorted(f.name for f in fields(ScenarioGate))
    message = refused(tmp_path, VALID + OFFLINE + "min_sample_per_s = 5.0\n")
    assert f": [[scenario]] #1 min_sample_per_s: unknown key; allowed: {keys}" in message


@pytest.mark.parametrize("table, expected", [
    (OFFLINE.replace('"Offline"', '"offline"'),
     "scenario = 'offline': expected a LoadGen scenario, one of ['Offline', 'Server', 'SingleStream']"),
    (SERVER.replace("min_qps = 20000\n", "accuracy_tier = 99\n"),
     "missing min_qps: a Server table needs the target QPS LoadGen runs it at"),
    (OFFLINE + "min_qps = 100\n", "min_qps: only Server has a target QPS; Offline is judged by min_samples_per_s"),
    (SERVER + "min_samples_per_s = 100\n", "min_samples_per_s: Server is judged by min_qps at its latency bound"),
    (OFFLINE + "latency_ms = 30\n", "latency_ms: only Server has a latency bound; Offline has none"),
    (OFFLINE + "accuracy_tier = 98\n", "accuracy_tier = 98: expected 99 or 99.9 (MLPerf's accuracy tiers)"),
    (OFFLINE + "duration_s = 0\n", "duration_s = 0: expected a finite number > 0"),
    (SERVER + "latency_ms = nan\n", "latency_ms = nan: expected a finite number > 0"),
    (OFFLINE + "instances = 0\n", "instances = 0: expected a positive integer"),
    (OFFLINE + "max_batch = 1.5\n", "max_batch = 1.5: expected a positive integer"),
    (OFFLINE + "max_wait_ms = -1\n", "max_wait_ms = -1: expected a finite number >= 0"),
    (OFFLINE + 'instance_kind = "fibers"\n',
     "instance_kind = 'fibers': expected an instance kind, one of ['threads', 'processes']"),
    (OFFLINE + 'devices = "0,0"\n', "devices = '0,0': expected 'all' or distinct device indices such as 0,1"),
    (OFFLINE + 'devices = "gpu1"\n', "devices = 'gpu1': expected 'all' or distinct device indices such as 0,1"),
    (OFFLINE + 'devices = "all"\ninstances = 2\n', "devices: one worker process per device: give neither an "
                                                     "instance count nor thread instances with devices"),
    (OFFLINE + 'devices = "all"\ninstance_kind = "threads"\n', "devices: one worker process per device"),
    (OFFLINE.replace("min_samples_per_s = 50000\n", ""), "needs min_samples_per_s or accuracy_tier (or both)"),
    (OFFLINE.replace('backend = "onnxruntime"\n', ""), "missing ['backend']"),
    (OFFLINE + OFFLINE.replace("50000", "60000"),
     "a second table for Offline, backend onnxruntime, fp32; merge them into one"),
    (OFFLINE.replace('"onnxruntime"', '"openvino"'),
     "backend 'openvino' is not one of the profile's backends ['onnxruntime'], so the gate would never apply"),
])
def test_a_scenario_table_that_would_do_nothing_or_nonsense_is_refused(tmp_path, table, expected):
    number = table.count("[[scenario]]")  # the offending table is the last one
    assert f": [[scenario]] #{number} {expected}" in refused(tmp_path, VALID + table)


def test_a_scenario_table_for_a_precision_the_profile_does_not_run_is_refused(tmp_path):
    text = VALID.replace('precisions = ["fp32", "fp16"]', 'precisions = ["fp32"]') + OFFLINE + ACCURACY
    assert ": [[scenario]] #2 precision 'fp16' is not one of the profile's precisions ['fp32']" in \
        refused(tmp_path, text)


def test_the_same_backend_and_precision_in_two_scenarios_are_two_tables(tmp_path):
    profile = load_text(tmp_path, VALID + OFFLINE + OFFLINE.replace('"Offline"', '"SingleStream"'))
    assert [g.scenario for g in profile.scenarios] == ["Offline", "SingleStream"]


# --- the rules ----------------------------------------------------------------------------------

OFFLINE_GATE = ScenarioGate("Offline", "onnxruntime", "fp32", min_samples_per_s=50_000.0, accuracy_tier=99.0)
SERVER_GATE = ScenarioGate("Server", "onnxruntime", "fp16", min_qps=20_000.0, latency_ms=15.0)


def performance(gate, *, valid=True, samples_per_s=None, p99_ms=None):
    return gates.scenario_performance_gates(gates.scenario_case(gate), gate, valid=valid,
                                            validity="VALID" if valid else "INVALID", samples_per_s=samples_per_s,
                                            p99_ms=p99_ms, method="m")


def test_the_case_and_the_names_say_scenario_runner_and_bounds():
    assert gates.scenario_case(OFFLINE_GATE) == "Offline onnxruntime-fp32"
    assert gates.scenario_gate_names(SERVER_GATE) == ["scenario Server onnxruntime-fp16: LoadGen VALID",
                                                      "scenario Server onnxruntime-fp16 at 20000 QPS: p99 <= 15 ms"]
    assert gates.scenario_accuracy_name("Offline onnxruntime-fp32", 99.9) == \
        "scenario Offline onnxruntime-fp32: AUC >= 99.9% of TF original"


def test_an_invalid_run_fails_its_valid_gate_while_its_throughput_passes():
    valid, throughput = performance(OFFLINE_GATE, valid=False, samples_per_s=90_000.0)
    assert throughput.passed and throughput.unit == "samples/s"
    assert not valid.passed and valid.unit == "VALID" and "LoadGen said INVALID" in valid.method
    assert all(g.passed for g in performance(OFFLINE_GATE, samples_per_s=90_000.0))


def test_server_is_judged_by_its_p99_latency_at_the_target_qps():
    valid, latency = performance(SERVER_GATE, p99_ms=14.9)
    assert valid.passed and latency.passed and (latency.op, latency.threshold, latency.unit) == ("<=", 15.0, "ms")
    assert not performance(SERVER_GATE, p99_ms=15.1)[1].passed


@pytest.mark.parametrize("figure", [None, math.nan])
def test_a_figure_loadgen_did_not_report_fails(figure):
    assert not performance(OFFLINE_GATE, samples_per_s=figure)[1].passed
    assert not performance(SERVER_GATE, p99_ms=figure)[1].passed
    assert not gates.scenario_accuracy_gate("c", 99, auc=figure, tf_auc=0.8, method="m").passed


def test_the_accuracy_gate_passes_at_the_tier_and_fails_just_below():
    at_tier = gates.scenario_accuracy_gate("c", 99, auc=0.792, tf_auc=0.8, method="m")
    assert at_tier.passed and at_tier.threshold == pytest.approx(0.792) and "0.80000" in at_tier.method
    assert not gates.scenario_accuracy_gate("c", 99, auc=math.nextafter(0.792, 0), tf_auc=0.8, method="m").passed
    assert not gates.scenario_accuracy_gate("c", 99.9, auc=0.7990, tf_auc=0.8, method="m").passed


@pytest.mark.parametrize("gate", [OFFLINE_GATE, SERVER_GATE,
                                  ScenarioGate("SingleStream", "torch", "fp16", accuracy_tier=99.9)])
def test_the_planned_names_are_the_names_the_rules_evaluate(gate):
    case = gates.scenario_case(gate)
    evaluated = performance(gate, samples_per_s=1.0, p99_ms=1.0)
    if gate.accuracy_tier is not None:
        evaluated.append(gates.scenario_accuracy_gate(case, gate.accuracy_tier, auc=0.8, tf_auc=0.8, method="m"))
    assert [g.name for g in evaluated] == gates.scenario_gate_names(gate) and evaluated


@pytest.mark.parametrize("extra, expected", [
    ("max_wait_ms = 1e12\n", "max wait 1000000000000.0 ms: expected a number in [0, 1000]"),
    ("duration_s = 1e300\n", "duration 1e+300 s: expected a number in (0, 86400]"),
])
def test_a_value_loadgens_settings_cannot_hold_is_refused_naming_the_table(tmp_path, extra, expected):
    message = refused(tmp_path, VALID + OFFLINE + extra)
    assert ": [[scenario]] #1 LoadGen settings: " in message and expected in message
