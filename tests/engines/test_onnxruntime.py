"""ONNX Runtime specifics: the artifact is the optimized model, threads are explicit, providers are checked."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from widedeep_bench.engines import EngineOptions, make_runner
from widedeep_bench.engines.onnxruntime import OnnxruntimeRunner, check_session_providers
from widedeep_bench.errors import WidedeepError
from widedeep_bench.suite.engines import EnginePool, engine_cases, engine_options


def test_a_second_runner_for_the_same_model_and_options_reuses_the_built_engine(private_cache, converted_onnx):
    with make_runner("onnxruntime", converted_onnx) as first:
        pass
    with make_runner("onnxruntime", converted_onnx) as second:
        pass
    assert (first.build_record.cached, second.build_record.cached) == (False, True)
    assert second.build_record.artifact == first.build_record.artifact
    assert first.build_record.artifact.is_relative_to(private_cache)
    log = [json.loads(line) for line in (private_cache / "builds.log").read_text().splitlines()]
    assert [(line["runner"], line["key"]) for line in log] == [("onnxruntime", first.build_record.key)]


def test_the_artifact_is_the_optimized_model_with_relu_fused_into_the_dense_layers(private_cache, converted_onnx):
    record = make_runner("onnxruntime", converted_onnx).build()
    source_ops = {node.op_type for node in onnx.load(str(converted_onnx)).graph.node}
    artifact_ops = {node.op_type for node in onnx.load(str(record.artifact)).graph.node}
    assert "Relu" in source_ops and "FusedGemm" not in source_ops
    assert "FusedGemm" in artifact_ops and "Relu" not in artifact_ops  # only level ALL makes FusedGemm


def test_the_fp16_artifact_holds_float16_tables_and_keeps_float32_inputs_and_outputs(private_cache, converted_onnx):
    record = make_runner("onnxruntime", converted_onnx, EngineOptions(precision="fp16")).build()
    model = onnx.load(str(record.artifact))
    table_types = {init.data_type for init in model.graph.initializer if len(init.dims) == 3}
    assert table_types == {onnx.TensorProto.FLOAT16}
    io_types = {value.name: value.type.tensor_type.elem_type for value in [*model.graph.input, *model.graph.output]}
    assert sorted(io_types.values()) == sorted([onnx.TensorProto.INT64, onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT])
    assert sorted(p.name for p in record.artifact.parent.iterdir()) == ["manifest.json", "model.optimized.onnx"]


@pytest.mark.parametrize("threads", [1, 2])
def test_the_thread_count_is_set_explicitly(converted_onnx, threads):
    with make_runner("onnxruntime", converted_onnx, EngineOptions(threads=threads)) as runner:
        assert runner.session.get_session_options().intra_op_num_threads == threads


def test_the_default_thread_count_is_the_physical_core_count(converted_onnx):
    import joblib

    with make_runner("onnxruntime", converted_onnx) as runner:
        assert runner.session.get_session_options().intra_op_num_threads == joblib.cpu_count(only_physical_cores=True)


def test_the_cpu_provider_is_used_when_none_is_requested(converted_onnx):
    with make_runner("onnxruntime", converted_onnx) as runner:
        assert runner.session.get_providers() == ["CPUExecutionProvider"]


@pytest.mark.parametrize("provider", ["CUDAExecutionProvider", "TensorrtExecutionProvider"])
def test_a_requested_provider_that_is_not_available_is_a_clear_error(converted_onnx, provider):
    available = ort.get_available_providers()
    if provider in available:
        pytest.skip(f"{provider} is available on this machine")
    expected = f"Requested provider {provider} is not available; available: {available}"
    assert OnnxruntimeRunner.unavailable_reason(EngineOptions(providers=(provider,))) == expected
    with pytest.raises(WidedeepError) as raised:
        make_runner("onnxruntime", converted_onnx, EngineOptions(providers=(provider, "CPUExecutionProvider")))
    assert expected in str(raised.value)


def test_the_providers_are_part_of_the_engine_key(converted_onnx):
    cpu = OnnxruntimeRunner(converted_onnx, EngineOptions()).engine_key()
    cuda = OnnxruntimeRunner(converted_onnx, EngineOptions(providers=("CUDAExecutionProvider",))).engine_key()
    assert cpu.providers == ("CPUExecutionProvider",) and str(cpu) != str(cuda)


def test_an_onnx_file_that_is_not_wide_and_deep_is_refused_before_building(private_cache, tmp_path):
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 4])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    path = tmp_path / "relu.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    with pytest.raises(WidedeepError, match="no input has the categorical role"):
        make_runner("onnxruntime", path).build()
    assert not (private_cache / "builds.log").exists()


def test_output_does_not_change_between_calls(converted_onnx, engine_rows):
    with make_runner("onnxruntime", converted_onnx) as runner:
        first = runner.infer(engine_rows.categorical, engine_rows.numeric).copy()
        runner.infer(engine_rows.head(3).categorical, engine_rows.head(3).numeric)
        np.testing.assert_array_equal(runner.infer(engine_rows.categorical, engine_rows.numeric), first)


@pytest.mark.parametrize("requested, running", [
    (("CPUExecutionProvider",), ["CPUExecutionProvider"]),
    (("CUDAExecutionProvider",), ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    (("TensorrtExecutionProvider", "CUDAExecutionProvider"),
     ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
])
def test_a_session_running_the_requested_providers_first_in_order_is_accepted(requested, running):
    check_session_providers(requested, running)


@pytest.mark.parametrize("requested, running", [
    (("CUDAExecutionProvider",), ["CPUExecutionProvider"]),  # CUDA failed to initialise
    (("TensorrtExecutionProvider", "CUDAExecutionProvider"), ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    (("TensorrtExecutionProvider", "CUDAExecutionProvider"),
     ["CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"]),  # not in the order asked
])
def test_a_session_that_fell_back_or_reordered_the_providers_is_refused(requested, running):
    with pytest.raises(WidedeepError, match=r"onnxruntime did not enable the requested providers \[.*\] \(in that "
                                            r"order\); the session runs on \[.*\]: a provider failed to initialise"):
        check_session_providers(requested, running)


def test_a_provider_that_onnx_runtime_drops_silently_fails_the_build_and_stores_nothing(private_cache, converted_onnx,
                                                                                       monkeypatch):
    """ONNX Runtime only warns when a listed provider cannot be used, then runs on the CPU: here a CPU-only
    build is made to claim CUDA, as a GPU build does whose CUDA libraries are missing."""
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDAExecutionProvider really is available on this machine")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    runner = make_runner("onnxruntime", converted_onnx, EngineOptions(providers=("CUDAExecutionProvider",)))
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"), \
            pytest.raises(WidedeepError, match=r"the session runs on \['CPUExecutionProvider'\]"):
        runner.build()
    assert not (private_cache / "builds.log").exists()


def test_the_suite_passes_ort_providers_to_the_onnxruntime_runner_only():
    options = {name: engine_options(name, "fp32", ort_providers=("CUDAExecutionProvider",))
               for name in ("onnxruntime", "openvino", "tensorrt", "torch")}
    assert options["onnxruntime"].providers == ("CUDAExecutionProvider",)
    assert {name: o.providers for name, o in options.items() if name != "onnxruntime"} == \
        {"openvino": (), "tensorrt": (), "torch": ()}
    assert engine_options("onnxruntime", "fp16").providers == ()  # None: the CPU only


def test_an_unavailable_requested_provider_makes_the_onnxruntime_cases_unavailable_with_the_reason():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDAExecutionProvider is available on this machine")
    cases = engine_cases(("onnxruntime", "null"), ("fp32", "fp16"), ort_providers=("CUDAExecutionProvider",))
    reasons = {case.id: case.unavailable for case in cases}
    expected = f"Requested provider CUDAExecutionProvider is not available; available: {ort.get_available_providers()}"
    assert reasons == {"onnxruntime-fp32": expected, "onnxruntime-fp16": expected,
                       "null-fp32": None, "null-fp16": None}


def test_the_engine_pool_builds_onnxruntime_with_the_runs_providers(private_cache, converted_onnx):
    from widedeep_bench.engines.store import EngineStore

    pool = EnginePool(onnx=converted_onnx, saved_model=None, max_batch=1024, store=EngineStore(),
                      ort_providers=("CPUExecutionProvider",))
    try:
        runner = pool.get("onnxruntime", "fp32")
        assert runner.options.providers == ("CPUExecutionProvider",)
        assert runner.session.get_providers() == ["CPUExecutionProvider"]
    finally:
        pool.close()
