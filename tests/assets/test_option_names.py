"""Messages name each asset's option as the user typed it: the CLI's ``--eval-csv`` by default, the
suite's ``--wd-eval-csv`` when the pytest plugin resolves (``OptionNames``); an eval.csv that is a
directory, missing or a stream pytest-xdist workers cannot share is one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from widedeep_bench.__main__ import main
from widedeep_bench.assets import OptionNames, resolve_assets
from widedeep_bench.errors import WidedeepError

SUITE = OptionNames(saved_model="--wd-saved-model", eval_csv="--wd-eval-csv", onnx="--wd-onnx")
CLI = OptionNames()


def bad_paths(tmp_path: Path) -> dict:
    """One bad path per asset, with the text its message must hold."""
    return {"saved_model": (tmp_path / "no_model", "expected a SavedModel directory, found no such directory"),
            "eval_csv": (tmp_path, "is a directory, expected a Criteo CSV file"),
            "onnx": (tmp_path / "absent.onnx", "expected an ONNX file, found no such file")}


def test_the_cli_names_are_the_default():
    assert CLI == OptionNames("--saved-model", "--eval-csv", "--onnx")


@pytest.mark.parametrize("asset", ["saved_model", "eval_csv", "onnx"])
@pytest.mark.parametrize("names, other", [(CLI, SUITE), (SUITE, CLI)], ids=["cli", "suite"])
def test_a_bad_option_path_is_named_by_the_option_as_typed(cache, tmp_path, synthetic_default, asset, names, other):
    path, expected = bad_paths(tmp_path)[asset]

    with pytest.raises(WidedeepError) as raised:
        resolve_assets(**{asset: path}, option_names=names)

    message = str(raised.value)
    assert message == f"{getattr(names, asset)}: {path}: {expected}"
    assert getattr(other, asset) + ":" not in message


def test_prepare_names_its_own_option_for_a_directory(cache, tmp_path, capsys, synthetic_default):
    assert main(["prepare", "--eval-csv", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"widedeep-bench prepare: error: --eval-csv: {tmp_path}: is a directory, expected a Criteo CSV file\n"


def test_an_environment_variable_is_named_as_the_variable_whatever_the_option_names(cache, tmp_path, monkeypatch,
                                                                                   synthetic_default):
    monkeypatch.setenv("WIDEDEEP_EVAL_CSV", str(tmp_path / "gone.csv"))
    with pytest.raises(WidedeepError) as raised:
        resolve_assets(option_names=SUITE)
    assert str(raised.value) == (f"WIDEDEEP_EVAL_CSV={tmp_path / 'gone.csv'}: {tmp_path / 'gone.csv'}: no such file, "
                                 "expected a Criteo CSV file")


@pytest.mark.parametrize("make", [lambda tmp: Path("/dev/fd/63"), lambda tmp: os.mkfifo(tmp / "eval.fifo")
                                  or tmp / "eval.fifo"], ids=["process-substitution", "fifo"])
def test_a_stream_in_a_pytest_xdist_worker_is_refused_before_it_is_read(cache, tmp_path, monkeypatch,
                                                                        synthetic_default, make):
    # Each worker is a process of its own: /dev/fd/63 is not the shell's pipe there, and workers reading
    # one FIFO would each get part of it.
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    stream = make(tmp_path)

    with pytest.raises(WidedeepError) as raised:
        resolve_assets(eval_csv=stream, option_names=SUITE)

    assert str(raised.value) == (f"--wd-eval-csv: {stream}: a stream (a FIFO or <(...)) can be read by one process "
                                 "only, and pytest-xdist (-n) runs the session in several; run without -n, or save "
                                 "the stream to a file and pass that")


def test_a_regular_file_in_a_pytest_xdist_worker_resolves(cache, tmp_path, monkeypatch, synthetic_default):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    csv = tmp_path / "eval.csv"
    csv.write_text("1" + ",0" * 39 + "\n")
    assert resolve_assets(eval_csv=csv, option_names=SUITE).eval_csv == csv
