"""``read_eval_csv`` equals an independent, per-row implementation of SPEC section 4 on files it has
never seen: categorical and labels exactly, numeric within 1e-6.

The reference below is written from the SPEC text alone (Python ``csv``, ``farmhash``, plain Python
min-max, the orders spelled out); it does not call widedeep_bench.
"""

from __future__ import annotations

import csv

import farmhash
import numpy as np
import pytest

from widedeep_bench.data import criteo_csv
from widedeep_bench.data.criteo_csv import load_eval_tensors, read_eval_csv

# SPEC 4: numeric columns sorted by name; fields sorted by "C<k>_embedding" ('0' < '_').
SPEC_NUMERIC_ORDER = ["I1", "I10", "I11", "I12", "I13", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9"]
SPEC_FIELD_ORDER = ["C10", "C11", "C12", "C13", "C14", "C15", "C16", "C17", "C18", "C19", "C1",
                    "C20", "C21", "C22", "C23", "C24", "C25", "C26", "C2", "C3", "C4", "C5", "C6",
                    "C7", "C8", "C9"]


def reference_tensors(path):
    """(categorical [26N, 2], numeric [N, 13], labels [N] or None), one row at a time."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    labelled = len(rows[0]) == 40
    names = (["label"] if labelled else []) + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    records = [dict(zip(names, row, strict=True)) for row in rows]
    categorical = [[j, farmhash.fingerprint64(record[name]) % 1000]
                   for record in records for j, name in enumerate(SPEC_FIELD_ORDER)]
    raw = [[int(record[name]) if record[name] else 0 for name in SPEC_NUMERIC_ORDER] for record in records]
    low = [min(row[k] for row in raw) for k in range(13)]
    high = [max(row[k] for row in raw) for k in range(13)]
    numeric = [[(row[k] - low[k]) / (high[k] - low[k]) for k in range(13)] for row in raw]
    labels = [int(record["label"]) for record in records] if labelled else None
    return np.array(categorical, np.int64), np.array(numeric), labels


def assert_matches_reference(tensors, path):
    categorical, numeric, labels = reference_tensors(path)
    np.testing.assert_array_equal(tensors.categorical, categorical)
    np.testing.assert_allclose(tensors.numeric, numeric, rtol=0, atol=1e-6)
    if labels is None:
        assert tensors.labels is None
    else:
        np.testing.assert_array_equal(tensors.labels, labels)
    assert tensors.categorical.dtype == np.int64 and tensors.numeric.dtype == np.float32


def test_spec_orders_are_the_sorted_names():
    assert SPEC_NUMERIC_ORDER == sorted(SPEC_NUMERIC_ORDER)
    assert SPEC_FIELD_ORDER == sorted(SPEC_FIELD_ORDER, key=lambda name: f"{name}_embedding")


@pytest.mark.parametrize("labelled, line_end, seed", [
    (True, "\n", 1),
    (True, "\r\n", 2),
    (False, "\n", 3),
    (False, "\r\n", 4),
])
def test_generated_file_matches_reference(write_csv, random_lines, monkeypatch, labelled, line_end, seed):
    # Small parse blocks and interleave blocks, so the per-chunk dictionaries and block seams are exercised.
    monkeypatch.setattr(criteo_csv, "PARSE_BLOCK_BYTES", 32 << 10)
    monkeypatch.setattr(criteo_csv, "INTERLEAVE_BLOCK_ROWS", 333)
    path = write_csv("eval.csv", random_lines(1500, seed, labelled), line_end)
    tensors = read_eval_csv(path)
    assert tensors.rows == 1500
    assert_matches_reference(tensors, path)


def test_multi_block_file_through_the_cache_matches_reference(write_csv, random_lines, monkeypatch):
    monkeypatch.setattr(criteo_csv, "PARSE_BLOCK_BYTES", 256 << 10)
    path = write_csv("eval.csv", random_lines(6000, seed=5))
    assert path.stat().st_size > 4 * criteo_csv.PARSE_BLOCK_BYTES
    load_eval_tensors(path)
    assert_matches_reference(load_eval_tensors(path), path)  # from the cache


def test_committed_fixtures_match_reference(fixtures_csv):
    for name in ("labelled.csv", "labelled_crlf.csv", "unlabelled.csv"):
        assert_matches_reference(read_eval_csv(fixtures_csv / name), fixtures_csv / name)


def test_crlf_line_endings_give_the_same_tensors(fixtures_csv):
    lf, crlf = read_eval_csv(fixtures_csv / "labelled.csv"), read_eval_csv(fixtures_csv / "labelled_crlf.csv")
    assert b"\r\n" in (fixtures_csv / "labelled_crlf.csv").read_bytes()
    assert lf.sha256 != crlf.sha256
    for name in ("categorical", "numeric", "labels"):
        np.testing.assert_array_equal(getattr(lf, name), getattr(crlf, name))


def test_mixed_line_ends_and_no_final_newline_are_accepted(write_csv, random_lines):
    lines = random_lines(50, seed=6)
    path = write_csv("mixed.csv", [line + ("\r" if i % 2 == 0 else "") for i, line in enumerate(lines)],
                     final_line_end=False)
    assert_matches_reference(read_eval_csv(path), path)


def test_unlabelled_fixture_has_no_labels(fixtures_csv):
    tensors = read_eval_csv(fixtures_csv / "unlabelled.csv")
    assert tensors.labels is None and tensors.rows == 6


ONE_VALUE_COLUMNS = pytest.mark.filterwarnings("ignore:.*same value on every row:UserWarning")


@ONE_VALUE_COLUMNS
def test_digits_only_categorical_is_hashed_as_text_not_as_a_number(write_csv, good_line):
    fields = good_line.split(",")
    fields[14] = "00012345"  # C1, field j = 10 in SPEC order
    tensors = read_eval_csv(write_csv("digits.csv", [",".join(fields)] * 2))
    j = SPEC_FIELD_ORDER.index("C1")
    assert tensors.categorical[j].tolist() == [j, farmhash.fingerprint64("00012345") % 1000]
    assert farmhash.fingerprint64("00012345") % 1000 != farmhash.fingerprint64("12345") % 1000


@ONE_VALUE_COLUMNS
def test_a_double_quote_is_part_of_the_text(write_csv, good_line):
    # Criteo text is never quoted; a '"' is hashed like any other character, not parsed as CSV quoting.
    fields = good_line.split(",")
    fields[14] = '"ab"'
    tensors = read_eval_csv(write_csv("quote.csv", [",".join(fields)] * 2))
    j = SPEC_FIELD_ORDER.index("C1")
    assert tensors.categorical[j, 1] == farmhash.fingerprint64('"ab"') % 1000


@ONE_VALUE_COLUMNS
def test_empty_numeric_counts_as_zero_for_the_statistics_too(write_csv, good_line):
    fields = good_line.split(",")
    rows = []
    for i1 in ("4", "", "8"):
        fields[1] = i1
        rows.append(",".join(fields))
    tensors = read_eval_csv(write_csv("empty_numeric.csv", rows))
    # min 0 (the empty field), max 8: 4 -> 0.5, empty -> 0.0, 8 -> 1.0
    np.testing.assert_array_equal(tensors.numeric[:, SPEC_NUMERIC_ORDER.index("I1")], [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(tensors.numeric_range[:, 0], [0.0, 8.0])
