"""Fixtures for the engine tests, on top of the shared ones in ``tests/conftest.py``.

The models are the suite's shared test models: ``tiny_saved_model`` (the TF original: random weights
with the real shapes, laid out like ``open_wide_deep_saved_model``), its default conversion
``converted_onnx`` (2 inputs, Gemm layers, symbolic batch) and the vendor-style ``ixrt_onnx`` (a 3rd
``zeros_like`` input, no ``:`` in names). Conversions are cached by content, so pytest-xdist workers
share them and the engines built from them (the engine cache is keyed by the ONNX's bytes). The rows
are real-format rows: synthetic Criteo CSV lines read by the real preprocessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from widedeep_bench.data.eval_tensors import EvalTensors

ROWS = 1024  # one batch at the accuracy run's batch size


@pytest.fixture(scope="session")
def engine_rows(tmp_path_factory) -> EvalTensors:
    """``ROWS`` rows in Criteo's format (synthetic, with Criteo's marginals), preprocessed like eval.csv."""
    from widedeep_bench.data.criteo_csv import read_eval_csv
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    return read_eval_csv(write_criteo_csv(tmp_path_factory.mktemp("rows") / "eval.csv", ROWS))


@pytest.fixture(scope="session")
def tf_probabilities(tiny_saved_model, engine_rows) -> np.ndarray:
    """The TF original's ``[ROWS, 2]`` probabilities for ``engine_rows``: what every engine must match."""
    from widedeep_bench.engines import make_runner

    with make_runner("tensorflow", tiny_saved_model) as runner:
        return runner.infer(engine_rows.categorical, engine_rows.numeric)


@pytest.fixture
def private_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty ``WIDEDEEP_CACHE`` for tests that count builds."""
    root = tmp_path / "cache"
    monkeypatch.setenv("WIDEDEEP_CACHE", str(root))
    return root


def pytest_terminal_summary(terminalreporter):
    """Print the error each engine achieved against the TF original (recorded by the parity tests)."""
    lines = [f"{report.nodeid.split('::')[-1]}: {value}"
             for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
             if report.when == "call"
             for name, value in report.user_properties if name == "achieved_error"]
    if lines:
        terminalreporter.section("engine parity against the TF original (achieved error)")
        for line in sorted(lines):
            terminalreporter.write_line(line)
