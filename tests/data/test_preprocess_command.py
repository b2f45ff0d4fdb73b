"""``python -m widedeep_bench preprocess EVAL_CSV --out FILE.npz [--no-cache]``."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


def run_in_bash(command: str, cache: Path) -> subprocess.CompletedProcess:
    """``command`` run by bash (so ``<(...)`` is a real process substitution), ``python`` being this venv's."""
    env = {**os.environ, "WIDEDEEP_CACHE": str(cache), "WIDEDEEP_QUIET": "1", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(["bash", "-c", f"python() {{ {shlex.quote(sys.executable)} \"$@\"; }}; {command}"],
                          capture_output=True, text=True, check=False, env=env, timeout=120)


@pytest.mark.parametrize("no_cache", ["", " --no-cache"])
def test_a_process_substitution_is_read_once(fixtures_csv, tmp_path, cache, no_cache):
    source, out = fixtures_csv / "labelled.csv", tmp_path / "eval.npz"
    done = run_in_bash(f"python -m widedeep_bench preprocess <(cat {shlex.quote(str(source))}) "
                       f"--out {shlex.quote(str(out))}{no_cache}", cache)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = read_eval_csv(source)
    assert result["source"].startswith("/dev/fd/") and result["rows"] == 8 and result["sha256"] == expected.sha256
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["categorical"], expected.categorical)
    assert (cache / "streams" / f"{expected.sha256}.csv").is_file() is not bool(no_cache)


def test_a_process_substitution_cut_short_is_one_line_and_exit_2(fixtures_csv, tmp_path, cache):
    done = run_in_bash(f"python -m widedeep_bench preprocess <(head -c 1000 {fixtures_csv / 'labelled.csv'}) "
                       f"--out {tmp_path / 'eval.npz'}", cache)

    assert done.returncode == 2
    assert re.fullmatch(r"widedeep-bench preprocess: error: /dev/fd/\d+: the stream ended inside line 5, after 1000 "
                        r"bytes and no line end: did its writer stop midway\? A stream's last line must end in \\n\n",
                        done.stderr), done.stderr
    assert not (tmp_path / "eval.npz").exists()


def test_paths_with_spaces_work_as_files_and_as_streams(fixtures_csv, tmp_path, cache):
    folder = tmp_path / "my data"
    folder.mkdir()
    csv = folder / "eval 1.csv"
    csv.write_bytes((fixtures_csv / "labelled.csv").read_bytes())
    for argument in (shlex.quote(str(csv)), f"<(cat {shlex.quote(str(csv))})"):
        out = folder / "eval 1.npz"
        done = run_in_bash(f"python -m widedeep_bench preprocess {argument} --out {shlex.quote(str(out))}", cache)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1])["out"] == str(out) and out.is_file()
        out.unlink()


@pytest.mark.parametrize("make", [
    lambda tmp, path: str(path),
    lambda tmp, path: f"{tmp}/./sub/../{path.name}",
    lambda tmp, path: (tmp / "link.csv").symlink_to(path) or str(tmp / "link.csv"),
    lambda tmp, path: os.link(path, tmp / "hard.csv") or str(tmp / "hard.csv"),
], ids=["same-path", "other-spelling", "symlink", "hard-link"])
def test_out_equal_to_the_input_is_refused_before_anything_is_written(fixtures_csv, tmp_path, capsys, cache, make):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "eval.csv"
    path.write_bytes((fixtures_csv / "labelled.csv").read_bytes())
    before = path.read_bytes()
    out = make(tmp_path, path)

    assert main(["preprocess", str(path), "--out", out]) == 2

    assert capsys.readouterr().err == (f"widedeep-bench preprocess: error: --out {Path(out)} is the input {path}: "
                                       "writing the tensors would replace it; choose another --out\n")
    assert path.read_bytes() == before
    assert not any(cache.rglob("*.npy"))  # refused before the input was even read


@pytest.mark.parametrize("make, expected", [
    (lambda tmp: tmp / "missing" / "eval.npz", "--out {out}: directory {tmp}/missing does not exist; create it first"),
    (lambda tmp: tmp / "eval.csv" / "eval.npz", "--out {out}: {tmp}/eval.csv is not a directory"),
    (lambda tmp: tmp, "--out {out}: is a directory; expected the .npz file to write, e.g. {tmp}/eval.npz"),
], ids=["missing-directory", "directory-is-a-file", "out-is-a-directory"])
def test_an_out_that_cannot_be_written_is_refused_before_reading(fixtures_csv, tmp_path, capsys, cache, make,
                                                                 expected):
    (tmp_path / "eval.csv").write_bytes((fixtures_csv / "labelled.csv").read_bytes())
    out = make(tmp_path)

    assert main(["preprocess", str(tmp_path / "eval.csv"), "--out", str(out)]) == 2

    assert capsys.readouterr().err == f"widedeep-bench preprocess: error: {expected.format(out=out, tmp=tmp_path)}\n"
    assert not (tmp_path / "missing").exists() and not any(cache.rglob("*.npy"))


@pytest.mark.parametrize("make, expected", [
    (lambda tmp: tmp, "is a directory, expected a Criteo CSV file"),
    (lambda tmp: tmp / "absent.csv", "no such file, expected a Criteo CSV file"),
], ids=["directory", "missing"])
def test_a_bad_input_path_is_one_line_and_exit_2(tmp_path, capsys, cache, make, expected):
    bad = make(tmp_path)
    assert main(["preprocess", str(bad), "--out", str(tmp_path / "eval.npz")]) == 2
    assert capsys.readouterr().err == f"widedeep-bench preprocess: error: {bad}: {expected}\n"


def test_a_file_replaced_between_runs_with_the_same_size_and_times_is_read_again(write_csv, random_lines, tmp_path,
                                                                                 capsys, cache):
    lines = random_lines(50, seed=31)
    path = write_csv("eval.csv", lines)
    assert main(["preprocess", str(path), "--out", str(tmp_path / "a.npz")]) == 0
    stat = path.stat()

    flipped = [("1" if line[0] == "0" else "0") + line[1:] for line in lines]  # every label flipped
    replacement = write_csv("new.csv", flipped)
    os.replace(replacement, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert main(["preprocess", str(path), "--out", str(tmp_path / "b.npz")]) == 0

    with np.load(tmp_path / "a.npz") as first, np.load(tmp_path / "b.npz") as second:
        np.testing.assert_array_equal(second["labels"], 1 - first["labels"])


def test_a_file_deleted_between_runs_is_named(fixtures_csv, tmp_path, capsys, cache):
    path = tmp_path / "eval.csv"
    path.write_bytes((fixtures_csv / "labelled.csv").read_bytes())
    assert main(["preprocess", str(path), "--out", str(tmp_path / "a.npz")]) == 0
    path.unlink()

    assert main(["preprocess", str(path), "--out", str(tmp_path / "b.npz")]) == 2
    assert capsys.readouterr().err.endswith(f"error: {path}: no such file, expected a Criteo CSV file\n")


def test_an_out_directory_without_write_permission_is_refused_before_reading(fixtures_csv, tmp_path, capsys, cache,
                                                                              monkeypatch):
    from widedeep_bench.commands import preprocess

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(preprocess.os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))

    assert main(["preprocess", str(fixtures_csv / "labelled.csv"), "--out", str(locked / "eval.npz")]) == 2
    assert capsys.readouterr().err == (f"widedeep-bench preprocess: error: --out {locked / 'eval.npz'}: cannot create "
                                       f"files in {locked} (permission denied)\n")
    assert not any(cache.rglob("*.npy"))


def test_a_write_the_disk_refuses_is_one_line(fixtures_csv, tmp_path, capsys, cache, monkeypatch):
    from widedeep_bench.data.eval_tensors import EvalTensors

    def full_disk(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(EvalTensors, "save_npz", full_disk)
    out = tmp_path / "eval.npz"
    assert main(["preprocess", str(fixtures_csv / "labelled.csv"), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"widedeep-bench preprocess: error: --out {out}: cannot write the tensors "
                                       "(No space left on device)\n")
