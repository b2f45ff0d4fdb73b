"""Session fixtures shared by every test folder: a SavedModel like the real one, rows, its conversions.

The conversions come from ``cached_conversion`` (keyed by the SavedModel's content, the options and
the rows), so they are built once per machine and shared by pytest-xdist workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_SEED = 1234  # WideDeepWeights.random seed of tiny_saved_model; no other test uses it
PARITY_ROWS = 256
PARITY_SEED = 5


@pytest.fixture(scope="session")
def tiny_weights():
    """``WideDeepWeights.random(1234)``: random weights with the real shapes, never trained."""
    from widedeep_bench.model.weights import WideDeepWeights

    return WideDeepWeights.random(TINY_SEED)


@pytest.fixture(scope="session")
def tiny_saved_model(tmp_path_factory, tiny_weights) -> Path:
    """The TF original for tests: ``tiny_weights`` as a SavedModel laid out like the real one."""
    from widedeep_bench.model.saved_model import write_saved_model

    return write_saved_model(tiny_weights, tmp_path_factory.mktemp("tiny") / "saved_model")


@pytest.fixture(scope="session")
def parity_tensors():
    """``EvalTensors`` of 256 valid sampled rows (fields in order, Zipf-like buckets, numeric in [0, 1])."""
    from widedeep_bench.conversion.sample_rows import sample_eval_tensors

    return sample_eval_tensors(PARITY_ROWS, seed=PARITY_SEED)


@pytest.fixture(scope="session")
def converted_onnx(tiny_saved_model, parity_tensors) -> Path:
    """``tiny_saved_model`` converted with the defaults: 2 inputs, Gemm layers, symbolic batch dims."""
    from widedeep_bench.conversion import cached_conversion

    return cached_conversion(tiny_saved_model, parity_rows=parity_tensors).final


@pytest.fixture(scope="session")
def ixrt_onnx(tiny_saved_model, parity_tensors) -> Path:
    """``tiny_saved_model`` converted with ``--ixrt``: a 3rd input ``zeros_like`` (fed zeros), no ``:`` in names."""
    from widedeep_bench.conversion import cached_conversion

    return cached_conversion(tiny_saved_model, ixrt=True, parity_rows=parity_tensors).final
