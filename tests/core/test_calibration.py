"""Calibration rows for INT8: where they come from, and never a row that is scored."""

from types import SimpleNamespace

import numpy as np
import pytest

from widedeep_bench.calibration import (CALIBRATION_ROWS, CalibrationSet, calibration_set, check_disjoint,
                                        held_out_rows, rows_from_csv, scored_rows)
from widedeep_bench.data.criteo_csv import read_eval_csv
from widedeep_bench.errors import WidedeepError
from widedeep_bench.metrics import whole_batches
from widedeep_bench.synthetic.criteo_rows import write_criteo_csv
from widedeep_bench.synthetic.default import EVAL_ROW_SEED, TRAINING_ROW_SEED


@pytest.fixture(scope="module")
def eval_file(tmp_path_factory):
    return write_criteo_csv(tmp_path_factory.mktemp("eval") / "eval.csv", 18432, row_seed=EVAL_ROW_SEED)


@pytest.fixture(scope="module")
def eval_rows(eval_file):
    return read_eval_csv(eval_file)


def user_assets():
    return SimpleNamespace(synthetic=None, origins={"eval_csv": "option"})


def test_the_embedded_default_calibrates_on_its_training_rows_which_no_scored_row_equals(eval_rows):
    from widedeep_bench.synthetic.default import SyntheticDefault

    default = SyntheticDefault(saved_model=None, eval_csv=None, directory=None, metrics={}, world_seed=0)
    assets = SimpleNamespace(synthetic=default, origins={"eval_csv": "synthetic"})
    rows = calibration_set(assets, eval_rows)
    assert rows.rows == CALIBRATION_ROWS and rows.held_out is None
    assert "training rows" in rows.source and f"row seed {TRAINING_ROW_SEED}" in rows.source
    assert scored_rows(eval_rows, rows) is eval_rows  # nothing held out: every eval row is scored
    check_disjoint(rows, whole_batches(eval_rows))
    assert rows.as_dict()["sha256"] == rows.digest and len(rows.digest) == 64


def test_a_users_eval_set_holds_out_its_last_rows_and_scores_only_those_before(eval_rows):
    rows = calibration_set(user_assets(), eval_rows)
    start = eval_rows.rows - CALIBRATION_ROWS
    assert rows.held_out == (start, eval_rows.rows) and f"rows {start}..{eval_rows.rows - 1}" in rows.source
    scored = whole_batches(scored_rows(eval_rows, rows))
    assert scored.rows == 2048 and np.array_equal(scored.numeric, eval_rows.numeric[:2048])
    check_disjoint(rows, scored)


def test_an_eval_set_too_short_to_hold_rows_out_asks_for_a_calibration_file(eval_rows):
    with pytest.raises(WidedeepError, match=r"holding out the last 16384 .* fewer than one batch of 1024 .*"
                                            r"--wd-calibration-csv"):
        held_out_rows(eval_rows.head(17000))


def test_calibration_rows_that_are_scored_rows_are_refused_naming_how_many_and_which(eval_file, eval_rows, tmp_path):
    """A calibration file cut from the eval set itself: its numerics are normalised over its own range, so
    only the buckets can recognise the rows, and they do."""
    copied = tmp_path / "calibration.csv"
    lines = eval_file.read_text().splitlines(keepends=True)
    copied.write_text("".join(lines[100:400]))
    rows = rows_from_csv(copied, option="--wd-calibration-csv")
    assert not np.array_equal(rows.tensors.numeric, eval_rows.numeric[100:400])  # normalised differently
    with pytest.raises(WidedeepError, match=r"overlap the scored rows .*: 300 scored rows equal a calibration row "
                                            r"\(rows 100, 101, 102, 103, 104, \.\.\.\)"):
        check_disjoint(rows, whole_batches(eval_rows))


def test_a_calibration_file_is_used_as_given_and_named(tmp_path, eval_rows):
    path = write_criteo_csv(tmp_path / "held.csv", 512, row_seed=99)
    rows = calibration_set(user_assets(), eval_rows, path, option="--wd-calibration-csv")
    assert rows.rows == 512 and rows.held_out is None and str(path) in rows.source
    assert scored_rows(eval_rows, rows) is eval_rows
    check_disjoint(rows, whole_batches(eval_rows))


def test_a_bad_calibration_file_is_one_line_naming_the_option_and_file(tmp_path, eval_rows):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(WidedeepError, match=r"--wd-calibration-csv|bad\.csv"):
        calibration_set(user_assets(), eval_rows, bad, option="--wd-calibration-csv")


def test_calibration_sets_are_equal_by_their_rows_digest(eval_rows):
    first, again = (CalibrationSet(eval_rows.head(512), source) for source in ("a", "b"))
    other = CalibrationSet(eval_rows.slice(512, 1024), "a")
    assert first == again and hash(first) == hash(again) and first != other and first.digest != other.digest
    assert [batch.rows for batch in CalibrationSet(eval_rows.head(1100), "c").batches()] == [512, 512, 76]
