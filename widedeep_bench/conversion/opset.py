"""Which ONNX opsets the export may target.

The default is the newest opset that both tf2onnx can write and ONNX Runtime can run, computed from
the installed packages rather than guessed; ``--opset 11`` reproduces the vendor's export exactly.
"""

from __future__ import annotations

from widedeep_bench.errors import WidedeepError

VENDOR_OPSET = 11  # also the oldest possible: the tables are read with GatherND, new in opset 11


def tf2onnx_max_opset() -> int:
    """The newest default-domain opset tf2onnx has an IR version for (18 for tf2onnx 1.17)."""
    from tf2onnx import constants

    return max(constants.OPSET_TO_IR_VERSION)


def onnxruntime_max_opset() -> int:
    """The newest default-domain opset ONNX Runtime registers a CPU kernel for."""
    from onnxruntime.capi import _pybind_state

    return max(kernel.version_range[0] for kernel in _pybind_state.get_all_opkernel_def()
               if kernel.domain in ("", "ai.onnx"))


def default_opset() -> int:
    """min(tf2onnx's newest, ONNX Runtime's newest)."""
    return min(tf2onnx_max_opset(), onnxruntime_max_opset())


def resolve_opset(opset: int | None) -> int:
    """``opset`` checked against what both tools support, or the default when None."""
    newest = default_opset()
    if opset is None:
        return newest
    if not VENDOR_OPSET <= opset <= newest:
        raise WidedeepError(f"--opset {opset}: expected an opset from {VENDOR_OPSET} (GatherND) to {newest} "
                            f"(the newest both tf2onnx ({tf2onnx_max_opset()}) and ONNX Runtime "
                            f"({onnxruntime_max_opset()}) support)")
    return opset
