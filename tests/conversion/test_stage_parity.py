"""A stage that breaks parity names itself and the first node that diverges; nothing is written.

The broken stages here reproduce the vendor's deploy defect (SPEC section 3): a Gemm with
``transB=1`` over TF's untransposed ``[in, out]`` kernel.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from widedeep_bench import WidedeepError
from widedeep_bench.conversion import convert
from widedeep_bench.conversion.deploy import fuse_dense_layers
from widedeep_bench.conversion.dynamic import DynamicOnnx
from widedeep_bench.conversion.simplify import SimplifiedOnnx

pytestmark = pytest.mark.conversion


def _set_trans_b(model: onnx.ModelProto) -> None:
    for node in model.graph.node:
        if node.op_type == "Gemm":
            for attribute in node.attribute:
                if attribute.name == "transB":
                    attribute.i = 1


class VendorGemmDeploy:
    """The vendor's FuseGemmPass: ``transB=1`` set, the ``[in, out]`` kernel left as it is."""

    name = "deploy"

    def __call__(self, model):
        fused = fuse_dense_layers(model)
        _set_trans_b(fused)
        return fused


class ReinterpretedKernelDeploy:
    """``transB=1`` with each kernel's dims swapped but its bytes untouched: shapes fit, products do not."""

    name = "deploy"

    def __call__(self, model):
        fused = fuse_dense_layers(model)
        kernels = {n.input[1] for n in fused.graph.node if n.op_type == "Gemm"}
        for init in fused.graph.initializer:
            if init.name in kernels:
                kernel = numpy_helper.to_array(init)
                init.CopyFrom(numpy_helper.from_array(kernel.reshape(kernel.shape[::-1]), init.name))
        _set_trans_b(fused)
        return fused


def _convert_with(deploy, saved_model, out_dir, rows):
    return convert(saved_model, out_dir, parity_rows=rows, stages=[SimplifiedOnnx(rows), deploy, DynamicOnnx()])


def test_wrong_gemm_layout_names_the_deploy_stage_and_the_first_gemm(tiny_saved_model, parity_tensors, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(WidedeepError) as caught:
        _convert_with(ReinterpretedKernelDeploy(), tiny_saved_model, out, parity_tensors)
    message = str(caught.value)
    assert message.startswith("stage 'deploy' breaks parity with the TF original: max |onnx - tf| = ")
    assert "first diverging node: 'import/dnn/hiddenlayer_0/Gemm' (Gemm), whose output " \
           "import/dnn/hiddenlayer_0/BiasAdd:0 differs from the previous stage's by up to" in message
    assert not out.exists() and not list(tmp_path.iterdir())


def test_vendor_transb_without_transpose_is_rejected_at_deploy(tiny_saved_model, parity_tensors, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(WidedeepError, match=r"^stage 'deploy': onnx.checker \(full check\) rejects the model: "
                                            r"(?s:.*)Gemm(?s:.*)import/dnn/hiddenlayer_0/Gemm"):
        _convert_with(VendorGemmDeploy(), tiny_saved_model, out, parity_tensors)
    assert not out.exists()


def test_divergence_search_finds_nothing_between_equal_models(conversion, parity_tensors):
    from widedeep_bench.conversion.divergence import first_divergence

    simplified = onnx.load(str(conversion.path("simplify")))
    deployed = onnx.load(str(conversion.path("deploy")))
    assert first_divergence(simplified, deployed, parity_tensors) is None


def test_failing_stage_keeps_an_earlier_conversion_in_place(tiny_saved_model, parity_tensors, tmp_path, conversion):
    out = tmp_path / "out"
    good = convert(tiny_saved_model, out, parity_rows=parity_tensors.head(8))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(WidedeepError, match="stage 'deploy' breaks parity"):
        _convert_with(ReinterpretedKernelDeploy(), tiny_saved_model, out, parity_tensors.head(8))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert good.final.read_bytes() == before["widedeep.onnx"]


def test_parity_is_measured_against_tf_not_against_itself(conversion, tiny_saved_model, parity_tensors,
                                                         tiny_weights):
    # The recorded errors are small but not zero: ORT and TF round differently in float32.
    assert 0 < conversion.stage("dynamic").max_abs_error <= 1e-5
    # TF itself agrees with an independent float64 NumPy forward pass, so TF is a fair reference.
    from widedeep_bench.tf_reference import tf_probabilities

    tf = tf_probabilities(tiny_saved_model, parity_tensors.categorical, parity_tensors.numeric)
    numpy_forward = tiny_weights.probabilities(parity_tensors.categorical, parity_tensors.numeric)
    assert np.abs(tf - numpy_forward).max() <= 1e-5


class NanBiasDeploy:
    """A deploy whose wide bias became NaN: every probability is NaN, so every error is NaN."""

    name = "deploy"

    def __call__(self, model):
        fused = fuse_dense_layers(model)
        for init in fused.graph.initializer:
            value = numpy_helper.to_array(init)
            if value.dtype == np.float32 and value.size == 1:
                init.CopyFrom(numpy_helper.from_array(np.full_like(value, np.nan), init.name))
        return fused


def test_a_stage_that_outputs_nan_breaks_parity_and_writes_nothing(tiny_saved_model, parity_tensors, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(WidedeepError, match=r"stage 'deploy' breaks parity with the TF original: max \|onnx - tf\| = "
                                            r"inf over \d+ rows \((\d+) of \1 probabilities outside atol 1e-05 "
                                            r"\+ rtol 0 \* \|tf\|; its probabilities hold NaN or infinity\)"):
        _convert_with(NanBiasDeploy(), tiny_saved_model, out, parity_tensors)
    assert not out.exists()
