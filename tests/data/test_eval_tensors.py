"""``EvalTensors``: shapes checked on construction, batches and head are views, npz output, constant columns."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench.data.criteo_csv import read_eval_csv
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.errors import WidedeepError


@pytest.fixture
def tensors(write_csv, random_lines):
    return read_eval_csv(write_csv("eval.csv", random_lines(250, seed=31)))


def test_batches_are_views_and_drop_the_partial_batch(tensors):
    batches = list(tensors.batches(100))
    assert [b.rows for b in batches] == [100, 100]
    second = batches[1]
    assert np.shares_memory(second.categorical, tensors.categorical)
    np.testing.assert_array_equal(second.categorical, tensors.categorical[26 * 100:26 * 200])
    np.testing.assert_array_equal(second.numeric, tensors.numeric[100:200])
    np.testing.assert_array_equal(second.labels, tensors.labels[100:200])
    assert second.source == tensors.source and second.sha256 == tensors.sha256


def test_batches_keep_the_partial_batch_when_asked(tensors):
    assert [b.rows for b in tensors.batches(100, drop_last=False)] == [100, 100, 50]


def test_batches_of_a_file_shorter_than_a_batch_are_none(tensors):
    assert list(tensors.batches(1024)) == []


def test_batch_size_must_be_positive(tensors):
    with pytest.raises(WidedeepError, match="batch size must be at least 1, got 0"):
        list(tensors.batches(0))


def test_head_is_the_first_rows(tensors):
    head = tensors.head(7)
    assert head.rows == 7 and head.categorical.shape == (26 * 7, 2)
    assert np.shares_memory(head.numeric, tensors.numeric)
    with pytest.raises(WidedeepError, match="asked for the first 251 rows, it has 250"):
        tensors.head(251)


def test_field_index_column_counts_0_to_25_per_row(tensors):
    np.testing.assert_array_equal(tensors.categorical[:, 0], np.tile(np.arange(26), 250))
    assert tensors.categorical[:, 1].min() >= 0 and tensors.categorical[:, 1].max() < 1000


def test_save_npz_writes_exactly_the_named_arrays(tensors, tmp_path):
    path = tensors.save_npz(tmp_path / "out" / "eval.npz")
    with np.load(path) as saved:
        assert sorted(saved.files) == ["categorical", "labels", "numeric"]
        np.testing.assert_array_equal(saved["categorical"], tensors.categorical)
        np.testing.assert_array_equal(saved["numeric"], tensors.numeric)
        np.testing.assert_array_equal(saved["labels"], tensors.labels)
    assert [p.name for p in path.parent.iterdir()] == ["eval.npz"]  # no temporary left beside it


def test_wrong_shapes_or_dtypes_are_rejected(tensors):
    with pytest.raises(WidedeepError, match=r"tensor numeric must be \[250, 13\] float32, got \[250, 13\] float64"):
        EvalTensors(tensors.categorical, tensors.numeric.astype(np.float64), tensors.labels, "x.csv", "0" * 64)
    with pytest.raises(WidedeepError, match=r"tensor categorical must be \[6500, 2\] int64, got \[6474, 2\]"):
        EvalTensors(tensors.categorical[:-26], tensors.numeric, tensors.labels, "x.csv", "0" * 64)
    with pytest.raises(WidedeepError, match=r"tensor labels must be \[250\] int64"):
        EvalTensors(tensors.categorical, tensors.numeric, tensors.labels[:-1], "x.csv", "0" * 64)


def test_constant_numeric_column_becomes_zero_with_a_warning_not_nan(write_csv, random_lines):
    lines = [line.split(",") for line in random_lines(40, seed=32)]
    for fields in lines:
        fields[4] = "17"  # I4: the same value on every row
    path = write_csv("eval.csv", [",".join(fields) for fields in lines])
    with pytest.warns(UserWarning, match=r"column\(s\) I4 hold the same value on every row"):
        tensors = read_eval_csv(path)
    assert tensors.constant_columns == ("I4",)
    column = tensors.numeric[:, 7]  # I4 in SPEC order I1, I10..I13, I2, I3, I4
    np.testing.assert_array_equal(column, np.zeros(40, np.float32))
    assert np.isfinite(tensors.numeric).all()
