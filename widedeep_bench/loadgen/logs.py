"""LoadGen's logs, read back: the detail log's results and the accuracy log's responses.

``mlperf_log_detail.txt`` holds one ``:::MLLOG {json}`` line per event; the results are its ``result_*``
keys (``result_validity`` is LoadGen's verdict, VALID or INVALID). ``mlperf_log_accuracy.json`` is a JSON
list of ``{"seq_id", "qsl_idx", "data"}``, ``data`` being the response bytes in hex: here 4 bytes of
little-endian float32 click probability per sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from widedeep_bench.errors import WidedeepError

DETAIL_LOG, SUMMARY_LOG, ACCURACY_LOG = "mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json"
MLLOG_PREFIX = ":::MLLOG "
PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")


ACCURACY_VALIDITY = "N/A (accuracy mode)"  # LoadGen judges no performance in AccuracyOnly runs


def detail_entries(directory: Path, *, accuracy_mode: bool = False) -> dict[str, object]:
    """``{key: value}`` of every event in ``directory/mlperf_log_detail.txt`` (the last value of a repeated key),
    plus ``errors``: the messages of events LoadGen marked as errors. A performance run's log must hold
    LoadGen's verdict (``result_validity``); an accuracy run's has none (its test is the accuracy log)."""
    path = Path(directory) / DETAIL_LOG
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise WidedeepError(f"{path}: cannot read LoadGen's detail log: {exc.strerror or exc}") from exc
    entries: dict[str, object] = {}
    errors = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(MLLOG_PREFIX):
            continue
        try:
            event = json.loads(line[len(MLLOG_PREFIX):])
            entries[event["key"]] = event["value"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise WidedeepError(f"{path}:{number}: not a LoadGen event (expected JSON with key and value: "
                                f"{exc!r})") from exc
        if event.get("metadata", {}).get("is_error"):
            errors.append(str(event["value"]))
    if accuracy_mode:
        entries.setdefault("result_validity", ACCURACY_VALIDITY)
    elif "result_validity" not in entries:
        raise WidedeepError(f"{path}: no result_validity event: LoadGen did not finish this run")
    entries["errors"] = errors
    return entries


def latencies_ms(entries: dict) -> dict[str, float | None]:
    """``{"p50": ms, "p90": ms, "p99": ms, ...}`` from the detail log's ``result_*_percentile_latency_ns``."""
    shown = {}
    for percentile in PERCENTILES:
        value = entries.get(f"result_{percentile}_percentile_latency_ns")
        name = "p" + percentile.rstrip("0").rstrip(".").replace(".", "")
        shown[name] = None if value is None else float(value) / 1e6
    return shown


def logged_responses(directory: Path, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Every response in ``directory/mlperf_log_accuracy.json`` in log order, repeats kept: ``(qsl_idx [K]
    int64, click probability [K] float32)``. A performance run that logs a sample of its responses (compliance)
    may draw one row several times. An entry that is not an integer row index in ``[0, rows)`` with 4 bytes
    of hex data (one float32) is an error naming the entry."""
    path = Path(directory) / ACCURACY_LOG
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WidedeepError(f"{path}: cannot read LoadGen's accuracy log: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise WidedeepError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(entries, list):
        raise WidedeepError(f"{path}: expected a JSON list of responses, got {type(entries).__name__}")
    indices, values = np.empty(len(entries), dtype=np.int64), np.empty(len(entries), dtype=np.float32)
    for number, entry in enumerate(entries):
        index = entry.get("qsl_idx") if isinstance(entry, dict) else None
        if isinstance(index, bool) or not isinstance(index, int):
            raise WidedeepError(f"{path}: entry {number}: expected an integer qsl_idx, got {index!r}")
        if not 0 <= index < rows:
            raise WidedeepError(f"{path}: entry {number}: qsl_idx {index} is not a row of the sample library "
                                f"[0, {rows})")
        try:
            data = bytes.fromhex(entry["data"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WidedeepError(f"{path}: entry {number} (qsl_idx {index}): expected hex data ({exc!r})") from exc
        if len(data) != 4:
            raise WidedeepError(f"{path}: entry {number} (qsl_idx {index}): expected 4 bytes (one float32), got "
                                f"{len(data)}")
        indices[number], values[number] = index, np.frombuffer(data, dtype="<f4")[0]
    return indices, values


def accuracy_responses(directory: Path, rows: int) -> dict[int, float]:
    """``{qsl_idx: click probability}`` of an accuracy-mode log (``logged_responses``), where a row answered
    twice must have been answered the same: different answers are an error naming the entry."""
    indices, values = logged_responses(directory, rows)
    responses: dict[int, float] = {}
    for number, (index, value) in enumerate(zip(indices.tolist(), values.tolist())):
        if index in responses and responses[index] != value:
            raise WidedeepError(f"{Path(directory) / ACCURACY_LOG}: entry {number}: qsl_idx {index} answered twice "
                                f"with different values ({responses[index]!r}, {value!r})")
        responses[index] = value
    return responses


def click_probabilities(directory: Path, rows: int) -> np.ndarray:
    """``[rows] float32``: the accuracy log's answer for every row; an accuracy-mode log must answer each."""
    responses = accuracy_responses(directory, rows)
    missing = sorted(set(range(rows)) - responses.keys())
    if missing:
        raise WidedeepError(f"{Path(directory) / ACCURACY_LOG}: {len(missing)} of {rows} rows have no response "
                            f"(first: qsl_idx {missing[0]}); an accuracy run answers every row")
    clicks = np.empty(rows, dtype=np.float32)
    clicks[list(responses)] = list(responses.values())
    return clicks
