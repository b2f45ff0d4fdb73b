"""Training Wide & Deep with TensorFlow: deterministic, really learning, and strict about its input."""

import numpy as np
import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.synthetic.criteo_rows import write_criteo_csv
from widedeep_bench.synthetic.train import TrainingPlan, train_weights

SHORT = TrainingPlan(steps=20, batch_size=256, learning_rate=3e-3, seed=4)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    from widedeep_bench.data.criteo_csv import read_eval_csv

    return read_eval_csv(write_criteo_csv(tmp_path_factory.mktemp("train") / "train.csv", 4096, row_seed=9))


@pytest.fixture(scope="module")
def trained(rows):
    return train_weights(rows.categorical, rows.numeric, rows.labels, SHORT)


def test_same_rows_and_seed_give_the_same_weights_bit_for_bit(rows, trained):
    weights, losses = trained
    again, again_losses = train_weights(rows.categorical, rows.numeric, rows.labels, SHORT)
    assert losses == again_losses
    for name, array in weights.arrays().items():
        assert np.array_equal(array, again.arrays()[name]), name


def test_training_lowers_the_loss_and_moves_every_table(trained):
    weights, losses = trained
    assert len(losses) == 10
    assert losses[-1] < losses[0] - 0.05
    assert np.abs(weights.wide).max() > 0  # starts at zero
    assert np.abs(weights.wide_bias).max() > 0


def test_op_determinism_is_switched_off_again_after_training(trained):
    from tensorflow.python.framework import config

    assert not config.is_op_determinism_enabled()


def test_categorical_rows_must_be_26_per_sample(rows):
    with pytest.raises(WidedeepError, match="expected 26 per sample"):
        train_weights(rows.categorical[:-26], rows.numeric, rows.labels, SHORT)


def test_labels_must_be_one_0_or_1_per_sample(rows):
    with pytest.raises(WidedeepError, match=r"expected 4096 labels .* got shape \[4095\]"):
        train_weights(rows.categorical, rows.numeric, rows.labels[1:], SHORT)
    clicks_counted = rows.labels.copy()
    clicks_counted[7] = 2
    with pytest.raises(WidedeepError, match=r"each 0 or 1; got shape \[4096\] with values \[0, 1, 2\]"):
        train_weights(rows.categorical, rows.numeric, clicks_counted, SHORT)


@pytest.mark.parametrize("change", [dict(steps=9), dict(batch_size=0), dict(learning_rate=0.0)])
def test_a_plan_without_steps_to_report_or_learning_is_refused(change):
    with pytest.raises(WidedeepError, match="expected steps >= 10"):
        TrainingPlan(**{**SHORT.as_dict(), **change})


def test_fewer_rows_than_one_batch_are_refused(rows):
    small = rows.head(100)
    with pytest.raises(WidedeepError, match="need at least one batch of 256, got 100"):
        train_weights(small.categorical, small.numeric, small.labels, SHORT)
