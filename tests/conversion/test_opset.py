"""The export's opset: newest supported by both tf2onnx and ONNX Runtime, or the vendor's 11 on request."""

from __future__ import annotations

import pytest

from widedeep_bench import WidedeepError
from widedeep_bench.conversion.opset import VENDOR_OPSET, default_opset, resolve_opset

pytestmark = pytest.mark.conversion


def test_default_opset_is_the_newest_both_tools_support():
    from onnxruntime.capi import _pybind_state
    from tf2onnx import constants

    newest_tf2onnx = max(constants.OPSET_TO_IR_VERSION)
    newest_ort = max(k.version_range[0] for k in _pybind_state.get_all_opkernel_def() if k.domain == "")
    assert default_opset() == min(newest_tf2onnx, newest_ort)
    assert resolve_opset(None) == default_opset() >= VENDOR_OPSET


def test_vendor_opset_is_accepted():
    assert resolve_opset(11) == 11


@pytest.mark.parametrize("opset", [10, 99])
def test_opset_outside_what_both_tools_support_is_refused(opset):
    with pytest.raises(WidedeepError, match=rf"--opset {opset}: expected an opset from 11 \(GatherND\) to "
                                            rf"{default_opset()}"):
        resolve_opset(opset)
