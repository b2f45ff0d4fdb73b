"""Every kind of bad input is a ``WidedeepError`` naming the file, the first bad line and its field,
and leaves nothing in the cache."""

from __future__ import annotations

import gzip

import pytest

from widedeep_bench.data import criteo_csv
from widedeep_bench.data.criteo_csv import load_eval_tensors, read_eval_csv
from widedeep_bench.errors import WidedeepError

# Field positions in a labelled line: 0 label, 1..13 I1..I13, 14..39 C1..C26.
I5, C3 = 5, 16


def replace_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def assert_rejected(path, cache, *expected_parts):
    """Both entry points raise with every expected part in the message; nothing is cached."""
    for read in (read_eval_csv, load_eval_tensors):
        with pytest.raises(WidedeepError) as raised:
            read(path)
        message = str(raised.value)
        assert str(path) in message
        for part in expected_parts:
            assert part in message, f"{part!r} missing from: {message}"
        assert "bug" not in message  # the fast reader and the line checker agree
    # Only the entry's lock file may remain: no entry, and no half-written temporary directory.
    assert not [entry for entry in (cache / "tensors").glob("*") if entry.is_dir()], "a bad file left a cache entry"
    return message


@pytest.fixture
def lines(random_lines):
    return random_lines(5, seed=11)


@pytest.mark.parametrize("value", ["3.5", "1e3", " 7", "7 ", "+7", "0x1F", "NA", "nan", "٣", "1_000"])
def test_non_integer_numeric_field_names_line_and_field(write_csv, cache, lines, value):
    lines[1] = replace_field(lines[1], I5, value)
    path = write_csv("eval.csv", lines)
    message = assert_rejected(path, cache, "line 2, field I5", "expected an integer", repr(value))
    assert message.startswith(f"{path} line 2, field I5:")


def test_integer_beyond_int64_names_line_and_field(write_csv, cache, lines):
    lines[3] = replace_field(lines[3], I5, "9223372036854775808")
    assert_rejected(write_csv("eval.csv", lines), cache, "line 4, field I5", "within int64")


@pytest.mark.parametrize("value", ["2", "-1", "", "0.0", "00", "1 ", "true"])
def test_label_other_than_0_or_1_names_line_and_field(write_csv, cache, lines, value):
    lines[2] = replace_field(lines[2], 0, value)
    assert_rejected(write_csv("eval.csv", lines), cache, "line 3, field label", "expected 0 or 1", repr(value))


def test_short_line_names_line_and_counts(write_csv, cache, lines):
    lines[2] = lines[2].rsplit(",", 1)[0]
    assert_rejected(write_csv("eval.csv", lines), cache, "line 3", "expected 40 comma-separated fields", "got 39")


def test_long_line_names_line_and_counts(write_csv, cache, lines):
    lines[4] += ",extra"
    assert_rejected(write_csv("eval.csv", lines), cache, "line 5", "got 41")


def test_first_line_field_count_must_be_40_or_39(write_csv, cache, lines):
    lines = [line + ",x,y" for line in lines]
    assert_rejected(write_csv("eval.csv", lines), cache, "line 1", "40 (labelled) or 39 (unlabelled)", "got 42")


def test_unlabelled_file_requires_39_fields_on_every_line(write_csv, cache, random_lines):
    lines = random_lines(4, seed=12, labelled=False)
    lines[3] = "1," + lines[3]
    assert_rejected(write_csv("test.csv", lines), cache, "line 4", "expected 39", "got 40")


def test_empty_file_is_rejected(write_csv, cache):
    path = write_csv("eval.csv", [], final_line_end=False)
    assert path.stat().st_size == 0
    assert_rejected(path, cache, "empty file")


def test_header_line_is_recognised(write_csv, cache, lines):
    header = ",".join(["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)])
    assert_rejected(write_csv("eval.csv", [header] + lines), cache, "line 1, field label", "header")


@pytest.mark.parametrize("labelled", [True, False])
def test_empty_line_names_its_line(write_csv, cache, random_lines, labelled):
    # Unlabelled matters: a reader that turned an empty line into a row of empty fields would accept it.
    lines = random_lines(5, seed=14, labelled=labelled)
    assert_rejected(write_csv("eval.csv", lines[:2] + [""] + lines[2:]), cache, "line 3", "empty line")


def test_trailing_empty_line_is_an_empty_line(write_csv, cache, lines):
    assert_rejected(write_csv("eval.csv", lines + [""]), cache, "line 6", "empty line")


def test_binary_garbage_names_line_and_field(tmp_path, cache, lines):
    path = tmp_path / "eval.csv"
    path.write_bytes(("\n".join(lines[:3]) + "\n").encode() + bytes(range(256)) * 4 + b"\n")
    assert_rejected(path, cache, "line 4, field label", "binary")


def test_gzipped_file_is_binary(tmp_path, cache, lines):
    path = tmp_path / "eval.csv"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    assert_rejected(path, cache, "line 1, field", "not UTF-8")


def test_invalid_utf8_in_a_categorical_names_its_field(tmp_path, cache, lines):
    path = tmp_path / "eval.csv"
    lines[1] = replace_field(lines[1], C3, "ab\udcffcd")
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    assert_rejected(path, cache, "line 2, field C3", "byte 0xff is not UTF-8")


@pytest.mark.parametrize("control, name", [("\x00", "U+0000"), ("\x1b", "U+001B"), ("\x7f", "U+007F"),
                                           ("\t", "U+0009")])
def test_control_character_in_a_categorical_names_its_field(write_csv, cache, lines, control, name):
    lines[1] = replace_field(lines[1], C3, f"ab{control}cd")
    assert_rejected(write_csv("eval.csv", lines), cache, "line 2, field C3", f"control character {name}")


def test_carriage_return_inside_a_line_is_rejected(write_csv, cache, lines):
    lines[1] = lines[1] + "\r" + lines[2]
    assert_rejected(write_csv("eval.csv", lines), cache, "line 2, field C26", "U+000D")


def test_carriage_return_inside_a_line_is_caught_even_when_an_empty_line_evens_the_row_count(
        write_csv, cache, lines):
    # pyarrow splits the line at the '\r' (one row too many) and skips the empty line (one too few).
    joined = [lines[0], lines[1] + "\r" + lines[2], lines[3], "", lines[4]]
    assert_rejected(write_csv("eval.csv", joined), cache, "line 2, field C26", "U+000D")


def test_tab_separated_file_gets_a_hint(write_csv, cache, lines):
    assert_rejected(write_csv("train.txt", [line.replace(",", "\t") for line in lines]), cache,
                    "line 1", "tab-separated")


def test_the_first_of_several_bad_lines_is_named(write_csv, cache, lines):
    lines[3] = replace_field(lines[3], 0, "7")
    lines[1] = replace_field(lines[1], I5, "x")
    assert_rejected(write_csv("eval.csv", lines), cache, "line 2, field I5")


def test_bad_line_deep_in_a_multi_block_file_is_named_exactly(write_csv, cache, random_lines, monkeypatch):
    monkeypatch.setattr(criteo_csv, "PARSE_BLOCK_BYTES", 16 << 10)
    lines = random_lines(3000, seed=13)
    lines[2716] = replace_field(lines[2716], C3 + 10, "bad\x01")
    assert_rejected(write_csv("eval.csv", lines), cache, "line 2717, field C13")


def test_missing_file_is_named(tmp_path, cache):
    message = assert_rejected(tmp_path / "absent.csv", cache, "no such file, expected a Criteo CSV file")
    assert message == f"{tmp_path / 'absent.csv'}: no such file, expected a Criteo CSV file"


def test_a_huge_valid_field_before_the_bad_line_does_not_derail_the_search(write_csv, cache, lines):
    lines[1] = replace_field(lines[1], C3, "x" * 300_000)  # valid: any text; the csv module would refuse it
    lines[3] = replace_field(lines[3], 0, "5")
    assert_rejected(write_csv("eval.csv", lines), cache, "line 4, field label")
