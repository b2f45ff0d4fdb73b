"""An eval.csv stream through resolution, ``prepare`` and the pytest suite: read once, at resolution, into
the cache; everything after (the TF metrics, the ``eval_tensors`` fixture) reads the copy, as often as it
likes; errors under pytest name the suite's options."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from widedeep_bench import tf_reference
from widedeep_bench.__main__ import main
from widedeep_bench.assets import resolve_assets
from widedeep_bench.data.criteo_csv import load_eval_tensors, read_eval_csv

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE_TEST = '''
import json, os

def test_eval_set(wd_assets, eval_tensors):
    with open(os.environ["PROBE_OUT"], "w") as out:
        json.dump({"rows": eval_tensors.rows, "sha256": eval_tensors.sha256,
                   "eval_csv": str(wd_assets.eval_csv), "origin": wd_assets.origins["eval_csv"]}, out)
'''


@pytest.fixture(autouse=True)
def no_user_assets(monkeypatch):
    for name in ("WIDEDEEP_SAVED_MODEL", "WIDEDEEP_EVAL_CSV", "WIDEDEEP_ONNX", "PYTEST_XDIST_WORKER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def saved_model(tmp_path) -> Path:
    """A directory that passes resolution's check (it holds saved_model.pb): no default is built."""
    directory = tmp_path / "saved_model"
    directory.mkdir()
    (directory / "saved_model.pb").write_bytes(b"graph")
    return directory


def test_resolution_reads_a_fifo_once_and_hands_on_its_copy(fifo, fixtures_csv, saved_model, cache):
    text = (fixtures_csv / "labelled.csv").read_bytes()
    pipe = fifo()
    pipe.feed(text)

    assets = pipe.call(resolve_assets, saved_model, pipe.path)

    assert pipe.writers_done()
    expected = read_eval_csv(fixtures_csv / "labelled.csv")
    assert assets.eval_csv == cache / "streams" / f"{expected.sha256}.csv"
    assert assets.origins["eval_csv"] == "option" and assets.eval_csv.read_bytes() == text
    assert load_eval_tensors(assets.eval_csv).sha256 == load_eval_tensors(assets.eval_csv).sha256 == expected.sha256


def test_prepare_evaluates_a_fifo_read_once(fifo, fixtures_csv, saved_model, cache, capsys, monkeypatch):
    evaluated = []

    def fake_metrics(model, eval_csv):  # the real reader, twice: the resolved path can be read again
        rows = [load_eval_tensors(eval_csv).rows for _ in range(2)]
        evaluated.append((Path(model), Path(eval_csv), rows))
        return {"rows": rows[0], "top1": 0.75, "auc": 0.7, "positive_rate": 0.25, "all_negative_top1": 0.75}

    monkeypatch.setattr(tf_reference, "tf_original_metrics", fake_metrics)
    pipe = fifo()
    pipe.feed((fixtures_csv / "labelled.csv").read_bytes())

    code = pipe.call(main, ["prepare", "--saved-model", str(saved_model), "--eval-csv", str(pipe.path)])

    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    spool = cache / "streams" / f"{read_eval_csv(fixtures_csv / 'labelled.csv').sha256}.csv"
    assert result["eval_csv"] == str(spool) and result["origins"]["eval_csv"] == "option"
    assert evaluated == [(saved_model, spool, [8, 8])]


def run_pytest_in_bash(tmp_path: Path, cache: Path, eval_csv_argument: str, saved_model: Path):
    """pytest (the plugin from the entry point, active: suite options are given) on ``PROBE_TEST``, started by bash so that ``<(...)`` means what it does there."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_probe.py").write_text(PROBE_TEST)
    command = (f"{shlex.quote(sys.executable)} -m pytest -p no:cacheprovider -q "
               f"test_probe.py --wd-saved-model {shlex.quote(str(saved_model))} --wd-eval-csv {eval_csv_argument}")
    env = {**os.environ, "WIDEDEEP_CACHE": str(cache), "WIDEDEEP_QUIET": "1", "PROBE_OUT": str(tmp_path / "probe.json"),
           "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # a pytest session in a subprocess: ~10 s
def test_the_suite_reads_a_process_substitution_once(tmp_path, fixtures_csv, saved_model, cache):
    source = fixtures_csv / "labelled.csv"
    done = run_pytest_in_bash(tmp_path, cache, f"<(cat {shlex.quote(str(source))})", saved_model)

    assert "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    probe = json.loads((tmp_path / "probe.json").read_text())
    expected = read_eval_csv(source)
    assert probe == {"rows": 8, "sha256": expected.sha256, "origin": "option",
                     "eval_csv": str(cache / "streams" / f"{expected.sha256}.csv")}


@pytest.mark.slow
def test_an_error_under_pytest_names_the_suites_option(tmp_path, saved_model, cache):
    done = run_pytest_in_bash(tmp_path, cache, shlex.quote(str(tmp_path)), saved_model)

    assert "1 error" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"--wd-eval-csv: {tmp_path}: is a directory, expected a Criteo CSV file" in done.stdout
    assert "--eval-csv:" not in done.stdout
    assert not (tmp_path / "probe.json").exists()
