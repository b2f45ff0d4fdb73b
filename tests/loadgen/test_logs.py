"""LoadGen's logs read back: good logs give their values exactly; each kind of bad log is one WidedeepError
naming the file and the entry (or line) at fault."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen import logs

ROWS = 4


def hex_float(value: float) -> str:
    return struct.pack("<f", value).hex().upper()  # as LoadGen writes a response


def entry(seq_id: int, qsl_idx: int, value: float = 0.25) -> dict:
    return {"seq_id": seq_id, "qsl_idx": qsl_idx, "data": hex_float(value)}


def accuracy_log(directory, content) -> str:
    path = directory / logs.ACCURACY_LOG
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_an_accuracy_log_gives_each_rows_float32(tmp_path):
    accuracy_log(tmp_path, [entry(0, 2, 0.75), entry(1, 0, 0.125), entry(2, 1, 0.1), entry(3, 3, 1.0),
                            entry(4, 2, 0.75)])  # a row answered twice alike, as a performance log may
    assert logs.accuracy_responses(tmp_path, ROWS) == {2: 0.75, 0: 0.125, 1: float(np.float32(0.1)), 3: 1.0}
    clicks = logs.click_probabilities(tmp_path, ROWS)
    assert clicks.dtype == np.float32 and clicks.tolist() == [0.125, float(np.float32(0.1)), 0.75, 1.0]


BAD_ACCURACY_LOGS = {
    "not JSON": ('[{"seq_id": 0, "qsl_idx": 0,', ["not valid JSON"]),
    "not a list": ({"seq_id": 0, "qsl_idx": 0, "data": hex_float(0.5)}, ["expected a JSON list", "got dict"]),
    "no qsl_idx": ([entry(0, 0), {"seq_id": 1, "data": hex_float(0.5)}], ["entry 1:", "qsl_idx"]),
    "data not hex": ([entry(0, 0), {"seq_id": 1, "qsl_idx": 1, "data": "3F80ZZ00"}],
                     ["entry 1 (qsl_idx 1)", "hex data"]),
    "qsl_idx not an integer": ([entry(0, 0), {"seq_id": 1, "qsl_idx": 1.5, "data": hex_float(0.5)}],
                               ["entry 1:", "integer qsl_idx", "1.5"]),
    "qsl_idx a boolean": ([entry(0, 0), {"seq_id": 1, "qsl_idx": True, "data": hex_float(0.5)}],
                          ["entry 1:", "integer qsl_idx", "True"]),
    "8 bytes": ([entry(0, 0), {"seq_id": 1, "qsl_idx": 1, "data": hex_float(0.5) * 2}],
                ["entry 1 (qsl_idx 1)", "got 8"]),
    "qsl_idx past the rows": ([entry(0, 0), entry(1, ROWS)], [f"entry 1: qsl_idx {ROWS} is not a row", f"[0, {ROWS})"]),
    "negative qsl_idx": ([entry(0, 0), entry(1, -1)], ["entry 1: qsl_idx -1 is not a row", f"[0, {ROWS})"]),
    "one row, two answers": ([entry(0, 3, 0.5), entry(1, 3, 0.25)],
                             ["entry 1: qsl_idx 3 answered twice with different values", "0.5", "0.25"]),
}


@pytest.mark.parametrize("content, fragments", BAD_ACCURACY_LOGS.values(), ids=BAD_ACCURACY_LOGS.keys())
def test_a_bad_accuracy_log_is_one_error_naming_the_file_and_the_entry(tmp_path, content, fragments):
    path = accuracy_log(tmp_path, content)
    with pytest.raises(WidedeepError) as error:
        logs.accuracy_responses(tmp_path, ROWS)
    message = str(error.value)
    assert message.startswith(path + ": ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_an_accuracy_log_missing_a_row_cannot_give_click_probabilities(tmp_path):
    path = accuracy_log(tmp_path, [entry(0, 0), entry(1, 1), entry(2, 3)])
    assert sorted(logs.accuracy_responses(tmp_path, ROWS)) == [0, 1, 3]  # a performance log may miss rows
    with pytest.raises(WidedeepError, match=r"1 of 4 rows have no response \(first: qsl_idx 2\)") as error:
        logs.click_probabilities(tmp_path, ROWS)
    assert str(error.value).startswith(path + ": ")


def test_a_missing_accuracy_log_is_named(tmp_path):
    with pytest.raises(WidedeepError, match="cannot read LoadGen's accuracy log") as error:
        logs.accuracy_responses(tmp_path, ROWS)
    assert str(tmp_path / logs.ACCURACY_LOG) in str(error.value)


# --- the detail log --------------------------------------------------------------------------------

def event(key: str, value, *, is_error: bool = False) -> str:
    return logs.MLLOG_PREFIX + json.dumps({"key": key, "value": value, "metadata": {"is_error": is_error}})


def detail_log(directory, *lines: str) -> str:
    path = directory / logs.DETAIL_LOG
    path.write_text("\n".join(["a line LoadGen did not prefix", *lines]) + "\n")
    return str(path)


def test_a_detail_log_gives_the_last_value_of_each_key_and_the_errors(tmp_path):
    detail_log(tmp_path, event("result_validity", "INVALID"), event("result_validity", "VALID"),
               event("error_invalid_config", "bad setting", is_error=True), event("result_query_count", 3))
    entries = logs.detail_entries(tmp_path)
    assert (entries["result_validity"], entries["result_query_count"]) == ("VALID", 3)
    assert entries["errors"] == ["bad setting"]


def test_a_performance_detail_log_without_a_verdict_is_an_error_an_accuracy_one_is_not(tmp_path):
    path = detail_log(tmp_path, event("result_query_count", 3))
    with pytest.raises(WidedeepError) as error:
        logs.detail_entries(tmp_path)
    assert str(error.value) == f"{path}: no result_validity event: LoadGen did not finish this run"
    assert logs.detail_entries(tmp_path, accuracy_mode=True)["result_validity"] == logs.ACCURACY_VALIDITY


def test_a_detail_log_line_that_is_no_event_is_named_by_its_line(tmp_path):
    path = detail_log(tmp_path, event("result_validity", "VALID"), logs.MLLOG_PREFIX + "{not json")
    with pytest.raises(WidedeepError, match="not a LoadGen event") as error:
        logs.detail_entries(tmp_path)
    assert str(error.value).startswith(f"{path}:3: ")


def test_percentile_latencies_are_read_from_ns_into_ms():
    entries = {f"result_{p}_percentile_latency_ns": ns for p, ns in
               [("50.00", 1_500_000), ("90.00", 2_000_000), ("95.00", 2_500_000), ("97.00", 3_000_000),
                ("99.00", 12_345_678)]}
    assert logs.latencies_ms(entries) == {"p50": 1.5, "p90": 2.0, "p95": 2.5, "p97": 3.0, "p99": 12.345678,
                                          "p999": None}
