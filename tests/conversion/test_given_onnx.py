"""An already-converted ONNX given by the user (like the vendor's ``widedeep_dynamicshape_new.onnx``).

It is validated like an export (checker, parity with the TF original), its inputs are mapped by role
whatever their names, and it goes through the remaining stages to a truly dynamic model.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from widedeep_bench import WidedeepError
from widedeep_bench.conversion import convert
from widedeep_bench.conversion.dynamic import strip_colons_from_input_names
from widedeep_bench.onnx_roles import input_roles

pytestmark = pytest.mark.conversion


def _vendor_like(ixrt_conversion, path, edit_kernels=None):
    """The vendor's file as its scripts leave it: 3 inputs, ':' stripped, and each input with its own
    leading symbol from tf2onnx rather than the shared ``batch`` (change2dynamic's edit was lost on reload)."""
    model = strip_colons_from_input_names(onnx.load(str(ixrt_conversion.path("deploy"))))
    for i, value in enumerate(model.graph.input):
        value.type.tensor_type.shape.dim[0].dim_param = f"unk__{12 + i}"
    del model.graph.value_info[:]
    if edit_kernels is not None:
        gemm_weights = {n.input[1] for n in model.graph.node if n.op_type == "Gemm"}
        for init in model.graph.initializer:
            if init.name in gemm_weights:
                init.CopyFrom(numpy_helper.from_array(edit_kernels(numpy_helper.to_array(init)), init.name))
    onnx.save(model, str(path))
    return path


def test_vendor_like_file_is_validated_and_made_dynamic(tiny_saved_model, parity_tensors, ixrt_conversion,
                                                        tmp_path, run_onnx):
    given = _vendor_like(ixrt_conversion, tmp_path / "widedeep_dynamicshape_new.onnx")
    assert input_roles(given).zeros_like == "import/head/predictions/zeros_like0"
    result = convert(tiny_saved_model, tmp_path / "out", parity_rows=parity_tensors, given_onnx=given,
                     cut_zeros_like=True, ixrt_names=True)
    assert [r.stage for r in result.stages] == ["given", "simplify", "deploy", "dynamic"]
    assert all(r.max_abs_error <= 1e-5 for r in result.stages)
    assert result.source["given_onnx"] == str(given)
    final = onnx.load(str(result.final))
    assert [[d.dim_param for d in v.type.tensor_type.shape.dim] for v in final.graph.input] == [
        ["cat_rows", ""], ["batch", ""], ["batch", ""]]
    probabilities = run_onnx(result.final, parity_tensors)
    assert np.abs(probabilities - run_onnx(given, parity_tensors)).max() <= 1e-6


def test_given_file_with_wrong_kernels_names_the_first_diverging_gemm(tiny_saved_model, parity_tensors,
                                                                     ixrt_conversion, tmp_path):
    # Compared with a fresh export of the SavedModel, whose tensors carry the same TF names.
    given = _vendor_like(ixrt_conversion, tmp_path / "bad.onnx", edit_kernels=lambda k: k[::-1].copy())
    with pytest.raises(WidedeepError, match=r"^stage 'given' breaks parity with the TF original: .*first "
                                            r"diverging node: 'import/dnn/hiddenlayer_0/Gemm' \(Gemm\)"):
        convert(tiny_saved_model, tmp_path / "out", parity_rows=parity_tensors.head(32), given_onnx=given)
    assert not (tmp_path / "out").exists()


def test_given_file_with_an_unshaped_input_names_it(tiny_saved_model, ixrt_conversion, tmp_path):
    model = onnx.load(str(_vendor_like(ixrt_conversion, tmp_path / "unshaped.onnx")))
    model.graph.input[2].type.tensor_type.ClearField("shape")
    onnx.save(model, str(tmp_path / "unshaped.onnx"))
    with pytest.raises(WidedeepError, match=r"^stage 'given': graph inputs/outputs "
                                            r"\['import/head/predictions/zeros_like0'\] declare no shape"):
        convert(tiny_saved_model, tmp_path / "out", given_onnx=tmp_path / "unshaped.onnx")
