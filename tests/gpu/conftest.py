"""Inputs of the GPU tests, as the device has them: a bundle (``widedeep-bench bundle``, version 2) named by
``WIDEDEEP_GPU_BUNDLE``, read with numpy alone (its ONNX, its ``eval-tensors.npz``, its saved TF probabilities).

Nothing here or in these tests imports TensorFlow or pyfarmhash, which the device lacks (``../shared/SPEC.md``
section 11), and the shared fixtures of ``tests/conftest.py`` import them only when used, which these tests do
not. Each test skips with the reason when an input is missing: no CUDA device, the variable not set, a bundle
written before version 2 (no ``eval-tensors.npz``). A bundle that is there but damaged is an error, not a skip.

    WIDEDEEP_GPU_BUNDLE=DIR python -m pytest -m gpu tests/gpu
"""

from __future__ import annotations

import os

import numpy as np
import pytest

GPU_BUNDLE = "WIDEDEEP_GPU_BUNDLE"
ROWS = 1024  # rows the tests run, at most: one accuracy batch, which the saved reference covers


@pytest.fixture(scope="session")
def cuda():
    """torch, on a machine with a CUDA device."""
    torch = pytest.importorskip("torch", reason="torch is not importable")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


@pytest.fixture(scope="session")
def gpu_bundle(cuda):
    """The bundle ``WIDEDEEP_GPU_BUNDLE`` names, verified against its manifest (``load_bundle``)."""
    from widedeep_bench.bundle import EVAL_TENSORS, load_bundle

    directory = os.environ.get(GPU_BUNDLE)
    if not directory:
        pytest.skip(f"{GPU_BUNDLE} not set: give it a bundle directory written by `widedeep-bench bundle` "
                    f"(version 2, with {EVAL_TENSORS})")
    bundle = load_bundle(directory, GPU_BUNDLE)
    if EVAL_TENSORS not in bundle.manifest["files"]:
        pytest.skip(f"bundle {bundle.directory} has no {EVAL_TENSORS} (written before bundle version 2)")
    return bundle


@pytest.fixture(scope="session")
def gpu_rows(gpu_bundle):
    """The bundle's first ``ROWS`` eval rows (``EvalTensors``), as its eval-tensors.npz carries them."""
    rows = gpu_bundle.tensors()
    return rows.head(min(ROWS, rows.rows, gpu_bundle.reference_rows or rows.rows))


@pytest.fixture(scope="session")
def tf_probabilities(gpu_bundle, gpu_rows) -> np.ndarray:
    """The TF original's saved ``[rows, 2]`` probabilities on ``gpu_rows``: what every engine must match."""
    from widedeep_bench.bench.inputs import saved_tf_probabilities

    return saved_tf_probabilities(gpu_bundle.reference, gpu_rows.sha256, rows=gpu_rows.rows)
