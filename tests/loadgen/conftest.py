"""Fixtures of the LoadGen tests: a few thousand synthetic rows whose labels follow ``runners.click_probability``
(so an AUC is well away from 0.5), and activated ``SigmoidRunner`` instances. No model, no TensorFlow."""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import pytest

from widedeep_bench import layout
from widedeep_bench.data.eval_tensors import EvalTensors

from .runners import SigmoidRunner, click_probability

ROWS = 2000
SEED = 61


@pytest.fixture(scope="session")
def tensors() -> EvalTensors:
    """``ROWS`` labelled rows: buckets uniform in 0..999, numeric uniform in [0, 1), label ~ Bernoulli(p)."""
    rng = np.random.default_rng(SEED)
    fields = np.tile(np.arange(layout.NUM_FIELDS), ROWS)
    categorical = np.stack([fields, rng.integers(0, layout.BUCKETS, fields.size)], axis=1).astype(np.int64)
    numeric = rng.random((ROWS, layout.NUM_NUMERIC), dtype=np.float32)
    labels = (rng.random(ROWS) < click_probability(numeric)).astype(np.int64)
    return EvalTensors(categorical, numeric, labels, source="synthetic rows (tests/loadgen)", sha256="0" * 64)


@pytest.fixture
def make_runners():
    """``make_runners(count, **options)``: ``count`` activated ``SigmoidRunner``s, deactivated after the test."""
    with ExitStack() as stack:
        yield lambda count=1, **options: [stack.enter_context(SigmoidRunner(**options)) for _ in range(count)]


@pytest.fixture
def runner(make_runners) -> SigmoidRunner:
    return make_runners()[0]


@pytest.fixture
def expected_clicks(tensors) -> np.ndarray:
    """``[ROWS] float32``: a ``SigmoidRunner``'s p(click) for every row, by one direct ``infer`` (no LoadGen)."""
    with SigmoidRunner() as direct:
        return direct.infer(tensors.categorical, tensors.numeric)[:, 1]
