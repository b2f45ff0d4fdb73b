"""The final ONNX of a SavedModel laid out like the real one (random weights, seed 1234, never seen before).

It passes the full checker, its batch dims are symbolic after a reload and resolve every
intermediate, its four dense layers are Gemm with TF's weights, and ONNX Runtime reproduces the TF
original at batch 1, 7, 1024 and 16384.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from widedeep_bench import layout

pytestmark = pytest.mark.conversion


def _dims(value: onnx.ValueInfoProto) -> list:
    return [d.dim_param if d.dim_param else d.dim_value for d in value.type.tensor_type.shape.dim]


def test_final_model_passes_the_full_checker(converted_onnx):
    onnx.checker.check_model(onnx.load(str(converted_onnx)), full_check=True)


def test_dynamic_batch_survives_reload(converted_onnx, tmp_path):
    resaved = tmp_path / "resaved.onnx"
    onnx.save(onnx.load(str(converted_onnx)), str(resaved))
    model = onnx.load(str(resaved))
    assert {v.name: _dims(v) for v in model.graph.input} == {
        layout.CATEGORICAL_KEY: ["cat_rows", 2], layout.NUMERIC_KEY: ["batch", 13]}
    assert {v.name: _dims(v) for v in model.graph.output} == {layout.OUTPUT_KEY: ["batch", 2]}


def test_every_intermediate_shape_is_declared_and_matches_what_runs(converted_onnx, parity_tensors):
    from widedeep_bench.conversion.divergence import all_tensors

    model = onnx.load(str(converted_onnx))
    declared = {v.name: _dims(v) for v in [*model.graph.value_info, *model.graph.output]}
    rows = parity_tensors.head(7)
    actual = all_tensors(model, rows)
    sizes = {"batch": 7, "cat_rows": 7 * layout.NUM_FIELDS}
    node_outputs = [name for node in model.graph.node for name in node.output]
    assert set(node_outputs) <= set(declared)
    for name in node_outputs:
        expected = [sizes.get(d, d) for d in declared[name]]
        assert list(actual[name].shape) == expected, name
    assert declared["import/dnn/input_from_feature_columns/input_layer/concat:0"] == ["batch", 845]


def test_all_four_dense_layers_are_gemm(converted_onnx):
    ops = [node.op_type for node in onnx.load(str(converted_onnx)).graph.node]
    assert ops.count("Gemm") == 4
    assert "MatMul" not in ops


def test_gemm_weight_layout_matches_tf(converted_onnx, tiny_weights):
    model = onnx.load(str(converted_onnx))
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    gemms = [node for node in model.graph.node if node.op_type == "Gemm"]
    for gemm, kernel, bias in zip(gemms, tiny_weights.kernels, tiny_weights.biases):
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute}
        weight = constants[gemm.input[1]]
        as_multiplied = weight.T if attributes.get("transB", 0) else weight  # the [in, out] matrix Gemm applies
        np.testing.assert_array_equal(as_multiplied, kernel)
        np.testing.assert_array_equal(constants[gemm.input[2]].reshape(-1), bias)
        assert attributes.get("transA", 0) == 0 and attributes.get("alpha", 1.0) == 1.0


@pytest.mark.parametrize("batch", [1, 7, 1024, 16384])
def test_onnx_runtime_reproduces_tf_original(converted_onnx, large_rows, large_reference, run_onnx, batch):
    probabilities = run_onnx(converted_onnx, large_rows.head(batch))
    assert probabilities.shape == (batch, 2) and probabilities.dtype == np.float32
    assert np.abs(probabilities - large_reference[:batch]).max() <= 1e-5


def test_tf_original_is_not_trivially_constant(large_reference):
    # Parity with a model that answers the same for every row would prove nothing.
    assert large_reference[:, 1].std() > 0.05


def test_every_stage_is_recorded_within_tolerance(conversion):
    assert [r.stage for r in conversion.stages] == ["export", "simplify", "deploy", "dynamic"]
    for record in conversion.stages:
        assert (conversion.directory / record.file).is_file()
        assert record.rows == 256 and 0 <= record.mean_abs_error <= record.max_abs_error <= 1e-5
    assert conversion.opset == conversion.stages[0].opset
    assert conversion.final.read_bytes() == conversion.path("dynamic").read_bytes()


def test_openvino_accepts_the_final_model(converted_onnx, large_rows, large_reference):
    ov = pytest.importorskip("openvino", reason="openvino not importable")
    from widedeep_bench.onnx_roles import input_roles

    # f32 explicitly: on CPUs with bf16 units OpenVINO would otherwise compute in bf16.
    compiled = ov.Core().compile_model(str(converted_onnx), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    roles = input_roles(converted_onnx)
    rows = large_rows.head(64)
    result = compiled(roles.feeds(rows.categorical, rows.numeric))
    probabilities = result[compiled.output(roles.output)]
    assert np.abs(probabilities - large_reference[:64]).max() <= 1e-5
