"""Feed validation: every malformed feed is refused with a message naming the tensor, row and value."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.layout import check_feed


def valid_feed(samples: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    fields = np.tile(np.arange(26), samples)
    categorical = np.stack([fields, rng.integers(0, 1000, 26 * samples)], axis=1).astype(np.int64)
    return categorical, rng.random((samples, 13), dtype=np.float32)


def with_value(array: np.ndarray, index, value) -> np.ndarray:
    changed = array.copy()
    changed[index] = value
    return changed


def test_a_valid_feed_gives_its_sample_count():
    assert check_feed(*valid_feed(samples=5)) == 5


def test_edge_buckets_0_and_999_are_valid():
    categorical, numeric = valid_feed(samples=2)
    categorical[:26, 1], categorical[26:, 1] = 0, 999
    assert check_feed(categorical, numeric) == 2


# (case id, how to break a 3-sample feed, words the error must contain)
BAD_FEEDS = [
    ("categorical_int32", lambda c, n: (c.astype(np.int32), n), ["categorical", "int64", "int32"]),
    ("numeric_float64", lambda c, n: (c, n.astype(np.float64)), ["numeric", "float32", "float64"]),
    ("categorical_as_list", lambda c, n: (c.tolist(), n), ["categorical", "numpy array", "list"]),
    ("categorical_three_columns", lambda c, n: (np.zeros((78, 3), np.int64), n),
     ["categorical", "[rows, 2]", "[78, 3]"]),
    ("numeric_12_columns", lambda c, n: (c, n[:, :12]), ["numeric", "[rows, 13]", "[3, 12]"]),
    ("categorical_one_row_short", lambda c, n: (c[:-1], n), ["77 rows", "26 x 3 = 78"]),
    ("categorical_for_another_batch", lambda c, n: (c[:52], n), ["52 rows", "26 x 3 = 78"]),
    ("empty_batch", lambda c, n: (c[:0], n[:0]), ["empty", "0 samples"]),
    ("bucket_1000", lambda c, n: (with_value(c, (30, 1), 1000), n), ["row 30", "sample 1", "bucket 1000", "0..999"]),
    ("bucket_negative", lambda c, n: (with_value(c, (5, 1), -1), n), ["row 5", "bucket -1", "0..999"]),
    ("field_26", lambda c, n: (with_value(c, (51, 0), 26), n), ["row 51", "field index 26", "expected 25"]),
    ("field_negative", lambda c, n: (with_value(c, (0, 0), -1), n), ["row 0", "field index -1", "expected 0"]),
    ("fields_out_of_order", lambda c, n: (with_value(c, (27, 0), 2), n), ["row 27", "field index 2", "expected 1"]),
    ("numeric_nan", lambda c, n: (c, with_value(n, (2, 4), np.nan)), ["numeric", "row 2, column 4", "I13", "nan"]),
    ("numeric_inf", lambda c, n: (c, with_value(n, (0, 0), np.inf)), ["numeric", "row 0, column 0", "I1", "inf"]),
]


@pytest.mark.parametrize("make_bad, words", [pytest.param(make, words, id=case) for case, make, words in BAD_FEEDS])
def test_a_bad_feed_is_refused_with_a_message_that_names_it(make_bad, words):
    with pytest.raises(WidedeepError) as raised:
        check_feed(*make_bad(*valid_feed(samples=3)))
    for word in words:
        assert word in str(raised.value)
