"""The deploy and dynamic stages on their own, on the pipeline's intermediate models."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from widedeep_bench import WidedeepError, layout
from widedeep_bench.conversion.deploy import cut_zeros_like, fuse_dense_layers
from widedeep_bench.conversion.dynamic import DynamicOnnx, strip_colons_from_input_names
from widedeep_bench.conversion.validate import ort_session
from widedeep_bench.onnx_roles import input_roles

pytestmark = pytest.mark.conversion


def _probabilities(model: onnx.ModelProto, rows) -> np.ndarray:
    roles = input_roles(model)
    return ort_session(model).run([roles.output], roles.feeds(rows.categorical, rows.numeric))[0]


@pytest.fixture
def simplified(conversion) -> onnx.ModelProto:
    return onnx.load(str(conversion.path("simplify")))


def _renamed(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every node and every intermediate tensor renamed to a meaningless ``n<i>`` / ``t<i>``."""
    renamed = onnx.ModelProto()
    renamed.CopyFrom(model)
    keep = {v.name for v in [*renamed.graph.input, *renamed.graph.output]} | {
        i.name for i in renamed.graph.initializer}
    tensors = {}
    for i, node in enumerate(renamed.graph.node):
        node.name = f"n{i}"
        for j, name in enumerate(node.output):
            if name not in keep:
                tensors[name] = node.output[j] = f"t{len(tensors)}"
    for node in renamed.graph.node:
        for j, name in enumerate(node.input):
            node.input[j] = tensors.get(name, name)
    del renamed.graph.value_info[:]
    return renamed


def test_zeros_like_is_found_by_structure_not_by_generated_names(simplified, parity_tensors):
    renamed = _renamed(simplified)
    assert not any(n.name.startswith("Shape__") or "zeros_like" in n.name for n in renamed.graph.node)
    cut = cut_zeros_like(renamed)
    onnx.checker.check_model(cut, full_check=True)
    assert [v.name for v in cut.graph.input][-1] == layout.ZEROS_LIKE_KEY
    assert not {"Shape", "ConstantOfShape"} & {n.op_type for n in cut.graph.node}
    np.testing.assert_allclose(_probabilities(cut, parity_tensors), _probabilities(simplified, parity_tensors),
                               rtol=0, atol=1e-7)


def test_cut_refuses_a_head_whose_shape_branch_is_not_zeros(simplified):
    broken = onnx.ModelProto()
    broken.CopyFrom(simplified)
    fill = next(n for n in broken.graph.node if n.op_type == "ConstantOfShape")
    del fill.attribute[:]
    fill.attribute.append(onnx.helper.make_attribute("value", onnx.numpy_helper.from_array(np.ones(1, np.float32))))
    with pytest.raises(WidedeepError, match=r"stage 'deploy' \(--cut-zeros-like\): expected exactly one input of "
                                            r"'import/head/predictions/two_class_logits'.*found 0"):
        cut_zeros_like(broken)


def test_cutting_twice_changes_nothing(simplified):
    once = cut_zeros_like(simplified)
    assert cut_zeros_like(once) == once


def test_fusion_keeps_tensor_names_so_later_nodes_still_find_them(simplified):
    fused = fuse_dense_layers(simplified)
    gemm_outputs = [n.output[0] for n in fused.graph.node if n.op_type == "Gemm"]
    assert gemm_outputs == [f"import/dnn/{layer}/BiasAdd:0"
                            for layer in ("hiddenlayer_0", "hiddenlayer_1", "hiddenlayer_2", "logits")]
    assert [n.name for n in fused.graph.node if n.op_type == "Gemm"][0] == "import/dnn/hiddenlayer_0/Gemm"


def test_unknown_rank_inputs_get_static_trailing_dims_openvino_accepts(conversion, parity_tensors):
    # The real SavedModel's placeholders may carry no shape: tf2onnx then gives inputs of unknown
    # rank, which OpenVINO's CPU plugin refuses; the dynamic stage declares them.
    ov = pytest.importorskip("openvino", reason="openvino not importable")
    unshaped = onnx.load(str(conversion.path("deploy")))
    for value in unshaped.graph.input:
        value.type.tensor_type.ClearField("shape")
    del unshaped.graph.value_info[:]
    core = ov.Core()
    with pytest.raises(RuntimeError, match="dynamic rank"):
        core.compile_model(core.read_model(unshaped.SerializeToString(), b""), "CPU")
    dynamic = DynamicOnnx()(unshaped)
    compiled = core.compile_model(core.read_model(dynamic.SerializeToString(), b""), "CPU",
                                  {"INFERENCE_PRECISION_HINT": "f32"})
    roles = input_roles(dynamic)
    rows = parity_tensors.head(5)
    got = compiled(roles.feeds(rows.categorical, rows.numeric))[compiled.output(roles.output)]
    np.testing.assert_allclose(got, _probabilities(dynamic, rows), rtol=0, atol=1e-6)


def test_ixrt_names_refuse_a_rename_that_would_clash(simplified):
    clashing = onnx.ModelProto()
    clashing.CopyFrom(simplified)
    clashing.graph.node[0].output[0] = "new_numeric_placeholder0"
    clashing.graph.node[2].input[0] = "new_numeric_placeholder0"
    with pytest.raises(WidedeepError, match=r"stripping ':' would give names already used in the graph: "
                                            r"\['new_numeric_placeholder0'\]"):
        strip_colons_from_input_names(clashing)
