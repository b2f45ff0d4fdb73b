"""Fixtures of the conversion tests: the finished conversions' records and a large TF reference."""

from __future__ import annotations

import numpy as np
import pytest

LARGE_ROWS = 16384  # the largest batch the engines' profile allows (SPEC section 3)


@pytest.fixture(scope="session")
def conversion(tiny_saved_model, parity_tensors, converted_onnx):
    """The ``ConversionResult`` behind ``converted_onnx`` (a cache hit)."""
    from widedeep_bench.conversion import cached_conversion

    return cached_conversion(tiny_saved_model, parity_rows=parity_tensors)


@pytest.fixture(scope="session")
def ixrt_conversion(tiny_saved_model, parity_tensors, ixrt_onnx):
    """The ``ConversionResult`` behind ``ixrt_onnx`` (a cache hit)."""
    from widedeep_bench.conversion import cached_conversion

    return cached_conversion(tiny_saved_model, ixrt=True, parity_rows=parity_tensors)


@pytest.fixture(scope="session")
def large_rows():
    """16384 sampled rows, none of them among ``parity_tensors``."""
    from widedeep_bench.conversion.sample_rows import sample_eval_tensors

    return sample_eval_tensors(LARGE_ROWS, seed=11)


@pytest.fixture(scope="session")
def large_reference(tiny_saved_model, large_rows) -> np.ndarray:
    """The TF original's ``[16384, 2]`` probabilities on ``large_rows``."""
    from widedeep_bench.tf_reference import tf_probabilities

    return tf_probabilities(tiny_saved_model, large_rows.categorical, large_rows.numeric)


def _run_onnx(path, rows, zeros_like=None) -> np.ndarray:
    import onnxruntime as ort

    from widedeep_bench.onnx_roles import input_roles

    roles = input_roles(path)
    feeds = roles.feeds(rows.categorical, rows.numeric)
    if zeros_like is not None:
        feeds[roles.zeros_like] = zeros_like
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([roles.output], feeds)[0]


@pytest.fixture(scope="session")
def run_onnx():
    """``run_onnx(path, rows, zeros_like=None) -> [N, 2]``: ONNX Runtime CPU, inputs mapped by role."""
    return _run_onnx
