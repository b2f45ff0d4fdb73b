"""ONNX Runtime specifics: the artifact is the optimized model, threads are explicit, providers are checked."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from widedeep_bench.engines import EngineOptions, make_runner
from widedeep_bench.engines.onnxruntime import OnnxruntimeRunner
from widedeep_bench.errors import WidedeepError


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
