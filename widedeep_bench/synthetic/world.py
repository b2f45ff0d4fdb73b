"""The synthetic "world" fixed by ``world_seed``: vocabularies, Zipf exponents and the planted model.

Training rows and eval rows are drawn from one world with different row seeds, so a model trained on
one set meets the same IDs, with the same frequencies and the same click propensities, on the other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from widedeep_bench.synthetic import marginals
from widedeep_bench.synthetic.planted import PlantedModel

ZIPF_EXPONENTS = (1.0, 1.3)  # range of the per-column exponent s in P(rank k) ~ (k + 1)^-s
CALIBRATION_ROWS = 1 << 17  # rows drawn once per world to tune the planted bias to the positive rate


@dataclass(frozen=True)
class Features:
    """The feature values of N rows, before they become text."""

    ranks: np.ndarray  # [N, 26] int32, C1..C26: Zipf rank of the value in its vocabulary, -1 = empty
    counts: np.ndarray  # [N, 13] int64, I1..I13: the count, 0 where empty
    present: np.ndarray  # [N, 13] bool, I1..I13: False = empty field


@dataclass(frozen=True)
class World:
    seed: int
    vocabularies: tuple  # per C column (C1..C26): [V, 8] uint8, ASCII lowercase hex digits, distinct
    rank_cdfs: tuple  # per C column: [V] float64, cumulative Zipf probabilities of ranks 0..V-1
    planted: PlantedModel


def _hex_vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` distinct random 32-bit IDs as ``[size, 8]`` uint8 ASCII lowercase hex digits."""
    octets = rng.choice(1 << 32, size=size, replace=False).astype(">u4").view(np.uint8)
    nibbles = np.stack([octets >> 4, octets & 15], axis=1).reshape(size, 8)
    return np.frombuffer(b"0123456789abcdef", np.uint8)[nibbles]


def _zipf_cdf(size: int, exponent: float) -> np.ndarray:
    cdf = np.cumsum(np.arange(1, size + 1, dtype=np.float64) ** -exponent)
    return cdf / cdf[-1]


def _value_probabilities(cdf: np.ndarray, missing_rate: float) -> np.ndarray:
    """``[V + 1]``: the probability of each value of a column, then of its empty field."""
    return np.append(np.diff(cdf, prepend=0.0) * (1.0 - missing_rate), missing_rate)


def _draw_counts(rng: np.random.Generator, n: int, marginal: marginals.NumericMarginal) -> np.ndarray:
    """``[n]`` int64 counts following ``marginal`` (missingness is drawn separately)."""
    kind = rng.random(n)
    counts = np.exp(np.log(marginal.median) + marginal.log_sigma * rng.standard_normal(n))
    counts = np.clip(np.floor(counts), 1, marginal.cap).astype(np.int64)
    counts[kind < marginal.zero_rate] = 0
    negative = kind > 1.0 - marginal.negative_rate
    counts[negative] = -rng.choice(3, size=int(negative.sum()), p=[0.9, 0.07, 0.03]) - 1
    return counts


def draw_features(rng: np.random.Generator, n: int, rank_cdfs: tuple) -> Features:
    """Draw ``n`` rows' features: Zipf ranks per C column, log-normal counts per I column, gaps."""
    group_draws = {}
    ranks = np.empty((n, len(rank_cdfs)), np.int32)
    for j, (marginal, cdf) in enumerate(zip(marginals.CATEGORICAL.values(), rank_cdfs)):
        ranks[:, j] = np.searchsorted(cdf, rng.random(n), side="right")
        group = marginal.missing_group or j
        if group not in group_draws:
            group_draws[group] = rng.random(n)
        ranks[group_draws[group] < marginal.missing_rate, j] = -1
    counts = np.empty((n, len(marginals.NUMERIC)), np.int64)
    present = np.empty((n, len(marginals.NUMERIC)), bool)
    for i, marginal in enumerate(marginals.NUMERIC.values()):
        counts[:, i] = _draw_counts(rng, n, marginal)
        present[:, i] = rng.random(n) >= marginal.missing_rate
    counts[~present] = 0
    return Features(ranks=ranks, counts=counts, present=present)


@functools.lru_cache(maxsize=2)
def world(world_seed: int) -> World:
    """The world of ``world_seed`` (memoised: building it takes about a second)."""
    rng = np.random.default_rng([0x5717, world_seed])
    vocabularies, cdfs = [], []
    for marginal in marginals.CATEGORICAL.values():
        vocabularies.append(_hex_vocabulary(rng, marginal.cardinality))
        cdfs.append(_zipf_cdf(marginal.cardinality, rng.uniform(*ZIPF_EXPONENTS)))
    planted = PlantedModel.draw(rng, [_value_probabilities(cdf, m.missing_rate)
                                      for cdf, m in zip(cdfs, marginals.CATEGORICAL.values())])
    calibration = draw_features(rng, CALIBRATION_ROWS, tuple(cdfs))
    return World(seed=world_seed, vocabularies=tuple(vocabularies), rank_cdfs=tuple(cdfs),
                 planted=planted.calibrated(calibration, marginals.POSITIVE_RATE))
