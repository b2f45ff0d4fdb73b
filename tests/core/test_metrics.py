"""Top-1 exactly as ByteMLPerf computes it; labels of the wrong shape or values are refused, not broadcast."""

import numpy as np
import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.metrics import accuracy, top1


def probabilities(p1):
    p1 = np.asarray(p1, np.float64)
    return np.stack([1 - p1, p1], axis=1)


def test_top1_is_p1_above_one_half_and_a_tie_is_class_zero():
    assert top1(probabilities([0.9, 0.2, 0.5, 0.51]), np.array([1, 0, 0, 1])) == 1.0
    assert top1(probabilities([0.5]), np.array([1])) == 0.0


def test_the_all_negative_baseline_sits_beside_top1():
    labels = np.array([0, 0, 0, 1])
    metrics = accuracy(probabilities([0.1, 0.2, 0.3, 0.4]), labels)
    assert metrics.top1 == metrics.all_negative_top1 == 0.75 and metrics.auc == 1.0


@pytest.mark.parametrize("labels, message", [
    (np.array([[0], [1], [0], [1]]), r"labels must be \[N\], got shape \[4, 1\]"),
    (np.array([0, 2, 0, 2]), r"labels must be 0 or 1, got \[2\]"),
])
def test_labels_that_would_broadcast_or_are_not_binary_are_refused(labels, message):
    p = probabilities([0.9, 0.2, 0.7, 0.6])
    with pytest.raises(WidedeepError, match=message):
        top1(p, labels)
    with pytest.raises(WidedeepError, match=message):
        accuracy(p, labels)
