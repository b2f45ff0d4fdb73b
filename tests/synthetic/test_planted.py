"""The planted click model: calibrated to Criteo's click rate, learnable, with interactions."""

import numpy as np
import pytest

from widedeep_bench.metrics import accuracy
from widedeep_bench.synthetic import marginals, planted
from widedeep_bench.synthetic.criteo_rows import CHUNK_ROWS, draw_rows
from widedeep_bench.synthetic.world import world


@pytest.fixture(scope="module")
def rows():
    """Two chunks of world 0, row seed 5: the planted click probabilities and the labels drawn from them."""
    drawn = [draw_rows(world(0), 5, chunk, CHUNK_ROWS) for chunk in range(2)]
    probabilities = np.concatenate([world(0).planted.click_probabilities(features) for features, _ in drawn])
    return probabilities, np.concatenate([labels for _, labels in drawn])


def test_bias_is_tuned_to_the_criteo_click_rate(rows):
    p1, labels = rows
    assert abs(p1.mean() - marginals.POSITIVE_RATE) < 0.005
    assert abs(labels.mean() - marginals.POSITIVE_RATE) < 0.01


def test_labels_follow_the_planted_probabilities(rows):
    p1, labels = rows
    best = accuracy(np.stack([1 - p1, p1], axis=1), labels)
    # The Bayes-optimal model: room above what a trained Wide & Deep must reach (AUC 0.75, baseline + 2).
    assert best.auc > 0.82
    assert best.top1 > 1 - labels.mean() + 0.05


def test_interactions_join_distinct_pairs_of_small_columns():
    pairs = [(p, q) for p, q, _, _ in world(0).planted.pairs]
    cardinalities = [m.cardinality for m in marginals.CATEGORICAL.values()]
    assert len(set(pairs)) == len(pairs) == planted.INTERACTION_PAIRS
    assert all(p != q and max(cardinalities[p], cardinalities[q]) <= planted.INTERACTION_MAX_CARDINALITY
               for p, q in pairs)


def test_world_seed_changes_the_planted_model():
    assert world(0).planted.bias != world(1).planted.bias
    assert not np.array_equal(world(0).planted.effects[0], world(1).planted.effects[0])
