"""The planted click model that labels synthetic rows: ``label ~ Bernoulli(sigmoid(logit))``.

``logit = bias + sum_j a_j * e_j[value_j] + sum_i b_i * z_i + sum_(p,q) g * u_p[value_p] * u_q[value_q]``:

- per-value effects ``e_j`` (normal, the empty field has one too, standardised to mean 0 and
  variance 1 over the column's rows) scaled per column by ``a_j``: learnable through 1000 hash
  buckets where a value is frequent, noise where it is rare;
- numeric effects on ``z_i = log1p(max(count, 0)) / log1p(cap)``, the count as the model sees it
  (empty counts as 0);
- a few pairwise interactions between low-cardinality columns (``u`` standardised likewise), which a wide (linear) part cannot
  represent and the deep tower can;
- a bias found by root-finding so that the mean click probability equals the target rate.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from widedeep_bench.synthetic import marginals

CATEGORICAL_STRENGTH = (0.2, 0.4)  # range of a_j, drawn per column: the std of its share of the logit
NUMERIC_STRENGTH = 0.6  # standard deviation of b_i
INTERACTION_PAIRS = 4  # pairs of columns with cardinality <= INTERACTION_MAX_CARDINALITY
INTERACTION_MAX_CARDINALITY = 1000
INTERACTION_STRENGTH = 0.4  # g


def _standardised(values: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``values`` shifted and scaled to mean 0 and variance 1 under ``probabilities``."""
    mean = probabilities @ values
    return (values - mean) / np.sqrt(probabilities @ (values - mean) ** 2)


@dataclass(frozen=True)
class PlantedModel:
    effects: tuple  # per C column: [V + 1] float64, a_j * e_j; index V is the empty field
    numeric_weights: np.ndarray  # [13] float64, b_i for I1..I13
    pairs: tuple  # ((p, q, u_p [V_p + 1], u_q [V_q + 1]), ...); p, q index C1..C26
    numeric_caps: np.ndarray  # [13] float64, the cap of each I column (scales z_i to 0..1)
    bias: float = 0.0

    @classmethod
    def draw(cls, rng: np.random.Generator, value_probabilities: list[np.ndarray]) -> "PlantedModel":
        """A random planted model for C columns whose values (the empty field last) have
        ``value_probabilities`` (``[V + 1]`` each); bias 0 until calibrated.

        Each effect vector is standardised under its column's value distribution, so that a column's
        share of the logit has standard deviation exactly ``a_j`` whichever values the draw made
        strong: without that, one lucky draw for a column's top value changes how learnable a world is.
        """
        def unit_effects(probabilities: np.ndarray) -> np.ndarray:
            return _standardised(rng.standard_normal(probabilities.size), probabilities)

        effects = tuple(rng.uniform(*CATEGORICAL_STRENGTH) * unit_effects(p) for p in value_probabilities)
        small = [j for j, p in enumerate(value_probabilities) if p.size - 1 <= INTERACTION_MAX_CARDINALITY]
        candidates = list(itertools.combinations(small, 2))
        chosen = [candidates[k] for k in rng.choice(len(candidates), INTERACTION_PAIRS, replace=False)]
        pairs = tuple((a, b, unit_effects(value_probabilities[a]), unit_effects(value_probabilities[b]))
                      for a, b in chosen)
        caps = np.array([m.cap for m in marginals.NUMERIC.values()], np.float64)
        return cls(effects=effects, numeric_weights=NUMERIC_STRENGTH * rng.standard_normal(len(caps)),
                   pairs=pairs, numeric_caps=caps)

    def logits(self, features) -> np.ndarray:
        """``[N]`` float64 logits of rows ``features`` (a ``world.Features``)."""
        ranks = features.ranks
        logit = np.full(ranks.shape[0], self.bias)
        for j, effect in enumerate(self.effects):
            logit += effect[ranks[:, j]]  # rank -1 (empty) picks the last entry
        for p, q, u_p, u_q in self.pairs:
            logit += INTERACTION_STRENGTH * u_p[ranks[:, p]] * u_q[ranks[:, q]]
        z = np.log1p(np.maximum(features.counts, 0)) / np.log1p(self.numeric_caps)
        return logit + z @ self.numeric_weights

    def click_probabilities(self, features) -> np.ndarray:
        """``[N]`` float64 ``sigmoid(logit)``: each row's chance of a click (label 1)."""
        from scipy.special import expit

        return expit(self.logits(features))

    def calibrated(self, features, positive_rate: float) -> "PlantedModel":
        """This model with the bias that makes the mean click probability on ``features`` equal
        ``positive_rate``."""
        from scipy.optimize import brentq
        from scipy.special import expit

        unbiased = replace(self, bias=0.0).logits(features)
        bias = brentq(lambda b: expit(unbiased + b).mean() - positive_rate, -30.0, 30.0, xtol=1e-9)
        return replace(self, bias=float(bias))
