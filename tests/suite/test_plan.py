"""The run's plan: which gates each conformance test evaluates, and profile gates a run can never evaluate."""

import pytest

from widedeep_bench import gates
from widedeep_bench.profiles import load_profile
from widedeep_bench.suite.engines import EngineCase
from widedeep_bench.suite.plan import CONVERSION_STAGES, gates_of_test, unmeasurable_perf_gates


@pytest.fixture
def config():
    """The fields of ``SuiteConfig`` the plan reads, for the cpu-default profile."""
    from types import SimpleNamespace

    return SimpleNamespace(profile=load_profile("cpu-default"), must_run=lambda backend: False, onnx=None,
                           batch_sizes=(1024, 4096), precisions=("fp32", "fp16"))


ORT32 = EngineCase("onnxruntime", "fp32", None)
IXRT16 = EngineCase("ixrt", "fp16", "ixrt not importable: No module named 'ixrt'")


def test_engine_accuracy_plans_floor_auc_drop_and_the_mlperf_tier(config):
    planned = gates_of_test("test_engine_accuracy", {"engine_case": ORT32}, config)
    assert planned.engine and planned.names == gates.accuracy_gate_names("onnxruntime-fp32", with_drop=True,
                                                                         tier=99.9)
    assert gates.accuracy_tier_name("onnxruntime-fp32", 99.9) in planned.names  # cpu-default's auc_tier


def test_only_reduced_precisions_plan_precision_proof_gates(config):
    for case, planned in ((EngineCase("onnxruntime", "int8", None), 2), (EngineCase("openvino", "bf16", None), 2),
                          (ORT32, 0)):
        names = gates_of_test("test_engine_runs_its_precision", {"engine_case": case}, config).names
        assert len(names) == planned and all(case.id in name for name in names)


def test_parity_against_itself_plans_nothing(config):
    assert gates_of_test("test_engine_matches_reference", {"engine_case": ORT32, "batch_size": 1024,
                                                           "reference": "onnxruntime-fp32"}, config).names == []
    assert gates_of_test("test_engine_matches_reference", {"engine_case": ORT32, "batch_size": 1024,
                                                           "reference": "tensorflow"}, config).names == [
        gates.parity_gate_name("onnxruntime-fp32", 1024, "tensorflow")]


def test_perf_plans_the_profiles_gates_for_the_case_only(config):
    at_1024 = gates_of_test("test_throughput", {"perf_case": ORT32, "batch_size": 1024}, config)
    assert at_1024.engine and at_1024.names == [gates.perf_ratio_name("onnxruntime-fp32", 1024, "onnxruntime")]
    assert gates_of_test("test_throughput", {"perf_case": ORT32, "batch_size": 4096}, config).names == []
    tf = gates_of_test("test_throughput", {"perf_case": EngineCase("tensorflow", "fp32", None), "batch_size": 1024},
                       config)
    assert tf.names == [] and not tf.engine


def test_an_absent_runtime_is_out_of_the_default_plan_and_in_one_that_names_it(config):
    params = {"engine_case": IXRT16}
    assert gates_of_test("test_engine_accuracy", params, config).names == []
    named = gates_of_test("test_engine_accuracy", params, replace_config(config, must_run=lambda b: b == "ixrt"))
    assert named.engine and len(named.names) == 4  # floor, AUC margin, drop, MLPerf tier


def test_conversion_gates_are_planned_unless_a_converted_onnx_is_given(config):
    names = gates_of_test("test_every_conversion_stage_keeps_parity_with_tf_original", {}, config).names
    assert names == [gates.conversion_gate_name(stage) for stage in CONVERSION_STAGES]
    given = replace_config(config, onnx="model.onnx")
    assert gates_of_test("test_every_conversion_stage_keeps_parity_with_tf_original", {}, given).names == []


def test_a_perf_gate_at_a_batch_the_run_does_not_measure_is_named(config):
    problems = unmeasurable_perf_gates(replace_config(config, batch_sizes=(4096,)), ["onnxruntime"])
    assert len(problems) == 1 and "[[perf]] #1" in problems[0] and "batch 1024" in problems[0]


def test_a_perf_gate_for_a_backend_or_precision_the_run_lacks_is_named(config):
    seed = replace_config(config, profile=load_profile("mr-v100-ixrt-fp16"), batch_sizes=(1024,))
    (problem,) = unmeasurable_perf_gates(replace_config(seed, precisions=("fp32",)), ["onnxruntime"])
    assert "backend ixrt" in problem and "precision fp16" in problem
    assert unmeasurable_perf_gates(replace_config(seed, precisions=("fp16",)), ["ixrt"]) == []


def replace_config(config, **changes):
    from types import SimpleNamespace

    return SimpleNamespace(**{**vars(config), **changes})



def test_a_case_that_cannot_run_here_is_out_of_the_plan_but_counts_as_an_engine_test_that_judges(config):
    """So that a run whose selected engine tests all skip (a precision no runner has here) fails, while a
    test that judges nothing even where it runs (a perf case no profile gate applies to) does not count."""
    bf16 = EngineCase("openvino", "bf16", "the CPU has no BF16 inference")
    accuracy = gates_of_test("test_engine_accuracy", {"engine_case": bf16}, config)
    assert accuracy.names == [] and accuracy.judges
    perf = gates_of_test("test_throughput", {"perf_case": bf16, "batch_size": 1024}, config)
    assert perf.names == [] and not perf.judges  # cpu-default has no perf gate for openvino-bf16
