"""Inputs are mapped to roles by dtype and shape (name stems only when shapes say nothing)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from widedeep_bench import WidedeepError, layout
from widedeep_bench.onnx_roles import Roles, input_roles

pytestmark = pytest.mark.conversion


def _model(inputs, outputs=(("import/head/predictions/probabilities:0", TensorProto.FLOAT, ["batch", 2]),)):
    """A model declaring ``inputs`` / ``outputs`` as (name, elem type, dims or None); its body is irrelevant."""
    graph = helper.make_graph(
        [helper.make_node("Identity", [inputs[0][0]], [outputs[0][0]])], "roles",
        [helper.make_tensor_value_info(*i) for i in inputs], [helper.make_tensor_value_info(*o) for o in outputs])
    return helper.make_model(graph)


@pytest.mark.parametrize("suffix", [":0", "0", "_0"])
def test_names_with_any_suffix_map_to_their_roles(suffix):
    model = _model([(f"new_numeric_placeholder{suffix}", TensorProto.FLOAT, ["n", 13]),
                    (f"new_categorical_placeholder{suffix}", TensorProto.INT64, ["r", 2]),
                    (f"import/head/predictions/zeros_like{suffix}", TensorProto.FLOAT, ["n", 1])])
    assert input_roles(model) == Roles(categorical=f"new_categorical_placeholder{suffix}",
                                       numeric=f"new_numeric_placeholder{suffix}",
                                       zeros_like=f"import/head/predictions/zeros_like{suffix}",
                                       output="import/head/predictions/probabilities:0")


def test_roles_follow_dtype_and_shape_whatever_the_names():
    model = _model([("a", TensorProto.FLOAT, [None, 13]), ("b", TensorProto.INT64, [None, 2])],
                   [("out", TensorProto.FLOAT, [None, 2])])
    assert input_roles(model) == Roles(categorical="b", numeric="a", zeros_like=None, output="out")


def test_unknown_rank_inputs_are_matched_by_name_stem():
    model = _model([("new_categorical_placeholder0", TensorProto.INT64, None),
                    ("new_numeric_placeholder0", TensorProto.FLOAT, None),
                    ("import/head/predictions/zeros_like0", TensorProto.FLOAT, None)])
    roles = input_roles(model)
    assert (roles.categorical, roles.numeric, roles.zeros_like) == (
        "new_categorical_placeholder0", "new_numeric_placeholder0", "import/head/predictions/zeros_like0")


def test_missing_role_lists_the_inputs_found():
    model = _model([("x", TensorProto.FLOAT, [None, 13]), ("y", TensorProto.INT32, [None, 2])])
    with pytest.raises(WidedeepError, match=r"no input has the categorical role.*inputs found: "
                                            r"x: float32 \[\?, 13\]; y: int32 \[\?, 2\]"):
        input_roles(model)


def test_two_candidates_for_one_role_are_ambiguous():
    model = _model([("a", TensorProto.INT64, [None, 2]), ("b", TensorProto.INT64, [None, 2]),
                    ("c", TensorProto.FLOAT, [None, 13])])
    with pytest.raises(WidedeepError, match=r"inputs \['a', 'b'\] all look like the categorical input"):
        input_roles(model)


def test_an_input_without_a_role_is_an_error():
    model = _model([("cat", TensorProto.INT64, [None, 2]), ("num", TensorProto.FLOAT, [None, 13]),
                    ("extra", TensorProto.FLOAT, [None, 7])])
    with pytest.raises(WidedeepError, match=r"inputs \['extra: float32 \[\?, 7\]'\] have no role"):
        input_roles(model)


def test_output_must_be_one_float_pair_per_sample():
    model = _model([("cat", TensorProto.INT64, [None, 2]), ("num", TensorProto.FLOAT, [None, 13])],
                   [("logit", TensorProto.FLOAT, [None, 1])])
    with pytest.raises(WidedeepError, match=r"exactly one float32 \[\?, 2\] probabilities output, found 0; "
                                            r"outputs: logit: float32 \[\?, 1\]"):
        input_roles(model)


def test_feeds_give_zeros_like_one_zero_per_sample():
    roles = Roles(categorical="c", numeric="n", zeros_like="z", output="o")
    numeric = np.ones((3, layout.NUM_NUMERIC), np.float32)
    categorical = np.zeros((3 * layout.NUM_FIELDS, 2), np.int64)
    feeds = roles.feeds(categorical, numeric)
    assert feeds["z"].shape == (3, 1) and feeds["z"].dtype == np.float32 and not feeds["z"].any()
    assert feeds["c"] is categorical and feeds["n"] is numeric


def test_roles_of_a_file_on_disk(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_model([("b", TensorProto.INT64, [None, 2]), ("a", TensorProto.FLOAT, [None, 13])]), str(path))
    assert input_roles(path).categorical == "b"
    assert input_roles(str(path)).numeric == "a"


def test_truncated_onnx_file_is_a_clear_error(tmp_path, converted_onnx):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(converted_onnx.read_bytes()[:100_000])
    with pytest.raises(WidedeepError, match=r"truncated\.onnx: not a readable ONNX model, the file is "
                                            r"truncated or corrupt \(100000 bytes"):
        input_roles(truncated)


def test_missing_onnx_file_is_a_clear_error(tmp_path):
    with pytest.raises(WidedeepError, match=r"absent\.onnx: no such ONNX file"):
        input_roles(tmp_path / "absent.onnx")
