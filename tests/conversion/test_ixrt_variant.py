"""The ``--ixrt`` variant: zeros_like cut out into a third input, and no ``:`` in any input name."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from widedeep_bench import layout
from widedeep_bench.onnx_roles import input_roles

pytestmark = pytest.mark.conversion


def test_ixrt_variant_has_three_inputs_without_colons(ixrt_onnx):
    model = onnx.load(str(ixrt_onnx))
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input}
    assert shapes == {"new_categorical_placeholder0": ["cat_rows", 2], "new_numeric_placeholder0": ["batch", 13],
                      "import/head/predictions/zeros_like0": ["batch", 1]}
    zeros = next(v for v in model.graph.input if v.name == "import/head/predictions/zeros_like0")
    assert zeros.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_ixrt_variant_has_no_shape_subgraph_left(ixrt_onnx):
    ops = [node.op_type for node in onnx.load(str(ixrt_onnx)).graph.node]
    assert "Shape" not in ops and "ConstantOfShape" not in ops
    assert ops.count("Gemm") == 4


def test_ixrt_variant_reproduces_tf_when_fed_zeros(ixrt_onnx, large_rows, large_reference, run_onnx):
    rows = large_rows.head(1024)
    probabilities = run_onnx(ixrt_onnx, rows, zeros_like=np.zeros((1024, 1), np.float32))
    assert np.abs(probabilities - large_reference[:1024]).max() <= 1e-5


def test_zeros_like_input_really_feeds_the_head(ixrt_onnx, large_rows, run_onnx):
    # softmax([z, logit]): raising z by 1 lowers p1, so the input is wired, not dangling.
    rows = large_rows.head(16)
    fed_zeros = run_onnx(ixrt_onnx, rows, zeros_like=np.zeros((16, 1), np.float32))
    fed_ones = run_onnx(ixrt_onnx, rows, zeros_like=np.ones((16, 1), np.float32))
    assert np.all(fed_ones[:, 1] < fed_zeros[:, 1])


def test_ixrt_stages_record_the_cut_and_the_rename(ixrt_conversion):
    deploy, dynamic = ixrt_conversion.stage("deploy"), ixrt_conversion.stage("dynamic")
    assert any(i.startswith(f"{layout.ZEROS_LIKE_KEY}: float32") for i in deploy.inputs)
    assert all(":" not in i.split(": ")[0] for i in dynamic.inputs)
    assert dynamic.max_abs_error <= 1e-5
    assert input_roles(ixrt_conversion.final).zeros_like == "import/head/predictions/zeros_like0"
