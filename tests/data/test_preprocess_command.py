"""``python -m widedeep_bench preprocess EVAL_CSV --out FILE.npz [--no-cache]``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from widedeep_bench.__main__ import main
from widedeep_bench.data.criteo_csv import read_eval_csv

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_writes_an_npz_with_exactly_categorical_numeric_labels(fixtures_csv, tmp_path, capsys, cache):
    out = tmp_path / "eval.npz"
    assert main(["preprocess", str(fixtures_csv / "labelled.csv"), "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = read_eval_csv(fixtures_csv / "labelled.csv")
    assert result["rows"] == 8 and result["labelled"] is True and result["cached"] is True
    assert result["sha256"] == expected.sha256 and result["out"] == str(out)
    with np.load(out) as saved:
        assert sorted(saved.files) == ["categorical", "labels", "numeric"]
        for name in saved.files:
            np.testing.assert_array_equal(saved[name], getattr(expected, name))
    assert any((cache / "tensors").glob("*-v*"))


def test_unlabelled_file_writes_no_labels(fixtures_csv, tmp_path, capsys):
    out = tmp_path / "test.npz"
    assert main(["preprocess", str(fixtures_csv / "unlabelled.csv"), "--out", str(out)]) == 0
    with np.load(out) as saved:
        assert sorted(saved.files) == ["categorical", "numeric"]


def test_no_cache_leaves_the_cache_empty(fixtures_csv, tmp_path, capsys, cache):
    assert main(["preprocess", str(fixtures_csv / "labelled.csv"), "--out", str(tmp_path / "e.npz"),
                 "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["cached"] is False
    assert not list((cache / "tensors").glob("*-v*"))


def test_bad_file_exits_2_naming_line_and_field(write_csv, random_lines, tmp_path, capsys):
    lines = random_lines(3, seed=41)
    lines[1] = "7" + lines[1][1:]
    path = write_csv("eval.csv", lines)
    out = tmp_path / "eval.npz"
    assert main(["preprocess", str(path), "--out", str(out)]) == 2
    assert f"{path} line 2, field label: expected 0 or 1, got '7'" in capsys.readouterr().err
    assert not out.exists()


def test_runs_as_a_module(fixtures_csv, tmp_path, cache):
    out = tmp_path / "eval.npz"
    done = subprocess.run([sys.executable, "-m", "widedeep_bench", "-q", "preprocess",
                           str(fixtures_csv / "labelled_crlf.csv"), "--out", str(out)],
                          capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["rows"] == 8
    assert out.is_file()
