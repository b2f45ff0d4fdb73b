"""tf_probabilities: the TF original's outputs for a whole set of rows, in batches."""

import numpy as np
import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.tf_reference import tf_probabilities


def test_batched_outputs_equal_the_numpy_forward_pass(tiny_saved_model, tiny_weights, parity_tensors):
    rows = parity_tensors
    probabilities = tf_probabilities(tiny_saved_model, rows.categorical, rows.numeric, batch_size=100)
    assert probabilities.dtype == np.float32 and probabilities.shape == (rows.rows, 2)
    expected = tiny_weights.probabilities(rows.categorical, rows.numeric)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)


def test_the_batch_size_does_not_change_the_outputs(tiny_saved_model, parity_tensors):
    rows = parity_tensors
    whole = tf_probabilities(tiny_saved_model, rows.categorical, rows.numeric)
    in_sevens = tf_probabilities(tiny_saved_model, rows.categorical, rows.numeric, batch_size=7)
    np.testing.assert_allclose(in_sevens, whole, atol=1e-6)


def test_categorical_rows_left_over_after_the_last_sample_are_refused(tiny_saved_model, parity_tensors):
    rows = parity_tensors
    extra = np.concatenate([rows.categorical, rows.categorical[:26]])
    with pytest.raises(WidedeepError, match="expected 26 per sample"):
        tf_probabilities(tiny_saved_model, extra, rows.numeric)


def test_a_directory_without_a_saved_model_is_refused(tmp_path, parity_tensors):
    with pytest.raises(WidedeepError, match="not a SavedModel directory"):
        tf_probabilities(tmp_path, parity_tensors.categorical, parity_tensors.numeric)
