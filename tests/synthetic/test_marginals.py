"""100,000 synthetic rows look like Criteo Kaggle's: click rate, gaps, tails, Zipf-like vocabularies."""

import numpy as np
import pytest

from widedeep_bench import layout
from widedeep_bench.synthetic import marginals
from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

ROWS = 100_000


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The generated file, every field as text ("" = empty), read by pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    path = write_criteo_csv(tmp_path_factory.mktemp("marginals") / "eval.csv", ROWS)
    return pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(column_names=list(layout.CSV_COLUMNS)),
                           convert_options=pa_csv.ConvertOptions(
                               column_types={name: pa.string() for name in layout.CSV_COLUMNS},
                               strings_can_be_null=False))


def texts(table, column) -> np.ndarray:
    return table.column(column).to_numpy(zero_copy_only=False).astype(str)


def counts(table, column) -> np.ndarray:
    values = texts(table, column)
    return values[values != ""].astype(np.int64)


def test_positive_rate_is_criteo_like(table):
    assert 0.22 <= texts(table, "label").astype(int).mean() <= 0.30


@pytest.mark.parametrize("column", layout.NUMERIC_COLUMNS + layout.CATEGORICAL_COLUMNS)
def test_missing_rate_is_near_criteo(table, column):
    target = {**marginals.NUMERIC, **marginals.CATEGORICAL}[column].missing_rate
    assert abs(np.mean(texts(table, column) == "") - target) < 0.01


def test_columns_that_go_missing_together_in_criteo_do_so_here(table):
    for group in ("C19 C20 C25 C26", "C3 C12 C16 C21 C24"):
        gaps = [texts(table, column) == "" for column in group.split()]
        assert all(np.array_equal(gaps[0], other) for other in gaps[1:]), group


def test_only_i2_has_negative_counts_and_only_down_to_minus_3(table):
    i2 = counts(table, "I2")
    assert 0.06 < np.mean(i2 < 0) < 0.10 and i2.min() == -3
    assert all(counts(table, column).min() >= 0 for column in layout.NUMERIC_COLUMNS if column != "I2")


@pytest.mark.parametrize("column", [name for name, m in marginals.NUMERIC.items() if m.cap >= 1000])
def test_counts_are_heavy_tailed(table, column):
    values = counts(table, column)
    median = max(np.median(values), 1.0)
    assert values.max() >= 50 * median, f"{column}: max {values.max()} vs median {median}"
    assert values.max() <= marginals.NUMERIC[column].cap


def test_small_count_columns_stay_small(table):
    assert counts(table, "I10").max() <= 11
    assert np.mean(counts(table, "I10") == 0) > 0.3


@pytest.mark.parametrize("column", [name for name, m in marginals.CATEGORICAL.items() if m.cardinality >= 100])
def test_categorical_frequencies_are_zipf_like(table, column):
    values = texts(table, column)
    _, frequency = np.unique(values[values != ""], return_counts=True)
    assert frequency.max() >= 20 * np.median(frequency), f"{column}: top {frequency.max()}, " \
                                                         f"median {np.median(frequency)}"
    assert frequency.max() <= 0.5 * frequency.sum()


@pytest.mark.parametrize("column", layout.CATEGORICAL_COLUMNS)
def test_cardinalities_are_criteo_like(table, column):
    values = texts(table, column)
    distinct = len(np.unique(values[values != ""]))
    cardinality = marginals.CATEGORICAL[column].cardinality
    assert distinct <= cardinality
    if cardinality <= 30:  # C9 (3 values), C20 (4), C6, C14, C17, C22, C23: every value shows up
        assert distinct == cardinality
    if cardinality >= 40_000:  # the scaled-down million-value columns: thousands of values in 100k rows
        assert distinct >= 2000
