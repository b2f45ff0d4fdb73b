"""Cached reference probabilities: computed once per identity, verified before every use, recomputed when
their bytes changed (even at the same size), so a damaged entry can never move a gate."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench.cache_entry import CacheWarning
from widedeep_bench.metrics import top1
from widedeep_bench.probabilities import cached_probabilities

IDENTITY = {"reference": "tensorflow", "model": "ab" * 32, "eval": "cd" * 32, "preprocess_version": 1,
            "rows": 2048, "runner_version": "2.21.0"}


pytestmark = pytest.mark.usefixtures("private_cache")  # tests/core/conftest.py


class Computation:
    """A TF original whose positive-class probability is right on about 64% of the rows."""

    def __init__(self):
        rng = np.random.default_rng(7)
        self.labels = rng.integers(0, 2, IDENTITY["rows"])
        right = rng.random(IDENTITY["rows"]) < 0.64
        positive = np.where(right == (self.labels == 1), 0.8, 0.2).astype(np.float32)
        self.probabilities = np.stack([1 - positive, positive], axis=1)
        self.calls = 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.probabilities


def the_entry(cache):
    (entry,) = [path for path in (cache / "probabilities").iterdir() if path.is_dir()]
    return entry


def test_computed_once_then_served_from_the_cache():
    compute = Computation()
    first = cached_probabilities(IDENTITY, compute)
    second = cached_probabilities(IDENTITY, compute)
    assert compute.calls == 1
    np.testing.assert_array_equal(second, first)
    assert second.dtype == np.float32 and second.shape == (IDENTITY["rows"], 2)


def test_another_identity_is_computed_again():
    compute = Computation()
    cached_probabilities(IDENTITY, compute)
    cached_probabilities({**IDENTITY, "runner_version": "2.22.0"}, compute)
    assert compute.calls == 2


def test_swapped_columns_are_detected_and_recomputed(private_cache):
    compute = Computation()
    true_top1 = top1(cached_probabilities(IDENTITY, compute), compute.labels)
    path = the_entry(private_cache) / "probabilities.npy"
    np.save(path, np.load(path)[:, ::-1])  # same size, same dtype, other bytes
    with pytest.warns(CacheWarning, match=f"cache entry {the_entry(private_cache)}: probabilities.npy has XXH3-128"):
        again = cached_probabilities(IDENTITY, compute)
    assert compute.calls == 2
    assert top1(again, compute.labels) == true_top1
    assert 0.6 < true_top1 < 0.7  # the swapped file would have read as 1 - true_top1


def test_a_truncated_entry_is_recomputed(private_cache):
    compute = Computation()
    cached_probabilities(IDENTITY, compute)
    path = the_entry(private_cache) / "probabilities.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.warns(CacheWarning, match="probabilities.npy has .* bytes"):
        np.testing.assert_array_equal(cached_probabilities(IDENTITY, compute), compute.probabilities)
    assert compute.calls == 2
