"""The synthetic generator writes Criteo's format, deterministically, and atomically."""

import re

import numpy as np
import pytest

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError
from widedeep_bench.synthetic import criteo_rows
from widedeep_bench.synthetic.criteo_rows import CHUNK_ROWS, write_criteo_csv

ROWS = 3000
HEX = re.compile(r"[0-9a-f]{8}")
INTEGER = re.compile(r"-?[0-9]+")


def lines_of(path):
    return path.read_bytes().decode("ascii").split("\n")


def fields_of(path):
    lines = lines_of(path)
    assert lines[-1] == "", "the file ends with a newline"
    return [line.split(",") for line in lines[:-1]]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    return write_criteo_csv(tmp_path_factory.mktemp("rows") / "eval.csv", ROWS)


def test_same_seeds_give_identical_bytes(tmp_path, labelled):
    again = write_criteo_csv(tmp_path / "again.csv", ROWS)
    assert again.read_bytes() == labelled.read_bytes()


def test_a_different_row_seed_draws_other_rows_from_the_same_world(tmp_path, labelled):
    other = fields_of(write_criteo_csv(tmp_path / "other.csv", ROWS, row_seed=2))
    rows = fields_of(labelled)
    assert sum(a == b for a, b in zip(rows, other)) == 0
    for column in ("C1", "C5", "C14", "C26"):  # same vocabulary: the frequent values recur
        index = layout.CSV_COLUMNS.index(column)
        seen = {row[index] for row in rows} - {""}
        shared = np.mean([row[index] in seen for row in other if row[index]])
        assert shared > 0.5, f"{column}: only {shared:.0%} of the values of row seed 2 occur with row seed 1"


def test_a_different_world_seed_has_a_different_vocabulary(tmp_path, labelled):
    other = fields_of(write_criteo_csv(tmp_path / "world1.csv", ROWS, world_seed=1))
    index = layout.CSV_COLUMNS.index("C1")
    assert not {row[index] for row in fields_of(labelled)} & {row[index] for row in other}


def test_first_rows_of_a_longer_file_are_the_shorter_file(tmp_path, labelled):
    longer = write_criteo_csv(tmp_path / "longer.csv", CHUNK_ROWS + 10)
    assert lines_of(longer)[:ROWS] == lines_of(labelled)[:ROWS]
    assert len(lines_of(longer)) == CHUNK_ROWS + 11


def test_every_line_has_40_fields_and_there_is_no_header(labelled):
    rows = fields_of(labelled)
    assert len(rows) == ROWS
    assert {len(row) for row in rows} == {40}
    assert {row[0] for row in rows} == {"0", "1"}


def test_unlabelled_file_is_the_labelled_file_without_its_first_field(tmp_path, labelled):
    unlabelled = fields_of(write_criteo_csv(tmp_path / "test.csv", ROWS, labelled=False))
    assert {len(row) for row in unlabelled} == {39}
    assert unlabelled == [row[1:] for row in fields_of(labelled)]


def test_categoricals_are_eight_lowercase_hex_digits_or_empty(labelled):
    values = [value for row in fields_of(labelled) for value in row[14:]]
    assert all(HEX.fullmatch(value) for value in values if value)
    assert "" in values
    assert any(re.search(r"[a-f]", value) for value in values) and any(value.isdigit() for value in values)


def test_counts_are_integers_or_empty_and_i2_goes_negative(labelled):
    rows = fields_of(labelled)
    counts = [value for row in rows for value in row[1:14]]
    assert all(INTEGER.fullmatch(value) for value in counts if value)
    assert "" in counts
    i2 = {int(row[layout.CSV_COLUMNS.index("I2")]) for row in rows}
    assert {-1, -2} <= i2 and min(i2) >= -3
    others = [row[i] for row in rows for i in range(1, 14) if i != layout.CSV_COLUMNS.index("I2")]
    assert not [value for value in others if value.startswith("-")]


def test_read_eval_csv_turns_the_file_into_tensors_with_its_labels(labelled):
    from widedeep_bench.data.criteo_csv import read_eval_csv

    tensors = read_eval_csv(labelled)
    assert tensors.rows == ROWS
    assert tensors.labels.tolist() == [int(row[0]) for row in fields_of(labelled)]
    assert 0.0 == tensors.numeric.min() and tensors.numeric.max() == 1.0


@pytest.mark.parametrize("rows", [0, -5])
def test_a_row_count_below_one_is_refused(tmp_path, rows):
    with pytest.raises(WidedeepError, match=f"expected a positive row count, got {rows}"):
        write_criteo_csv(tmp_path / "none.csv", rows)
    assert not (tmp_path / "none.csv").exists()


def test_a_failure_while_writing_leaves_no_file_under_the_final_name(tmp_path, monkeypatch):
    draw_rows = criteo_rows.draw_rows

    def fail_on_second_chunk(world, row_seed, chunk, n):
        if chunk == 1:
            raise WidedeepError("interrupted")
        return draw_rows(world, row_seed, chunk, n)

    monkeypatch.setattr(criteo_rows, "draw_rows", fail_on_second_chunk)
    with pytest.raises(WidedeepError, match="interrupted"):
        write_criteo_csv(tmp_path / "eval.csv", CHUNK_ROWS + 1)
    assert list(tmp_path.iterdir()) == []
