"""Digests: remembered while a file stays the same, never trusted after a change (even an in-place edit
with its modification time restored), a damaged memo ignored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from widedeep_bench import digests
from widedeep_bench.digests import file_sha256, file_xxh3


pytestmark = pytest.mark.usefixtures("private_cache")  # tests/core/conftest.py


@pytest.fixture
def settled_at_once(monkeypatch):
    """Files count as settled (past their timestamp tick) as soon as they are written."""
    monkeypatch.setattr(digests, "SETTLED_NS", -1)


def opened_paths(monkeypatch) -> list:
    opened = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self) or real_open(self, *a, **k))
    return opened


def test_an_in_place_edit_with_its_mtime_restored_is_hashed_again(tmp_path, settled_at_once):
    path = tmp_path / "eval.csv"
    path.write_bytes(b"0,1,2\n")
    before = path.stat()
    first = file_sha256(path)
    with path.open("r+b") as handle:  # same inode, same size
        handle.write(b"1")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size
    assert file_sha256(path) != first


def test_an_unchanged_file_is_hashed_once(tmp_path, settled_at_once, monkeypatch):
    path = tmp_path / "eval.csv"
    path.write_bytes(b"0,1,2\n")
    first = file_sha256(path)
    opened = opened_paths(monkeypatch)
    assert file_sha256(path) == first and path not in opened


def test_a_file_changed_within_its_timestamp_tick_is_not_remembered(tmp_path, monkeypatch):
    path = tmp_path / "eval.csv"
    path.write_bytes(b"0,1,2\n")  # just written: a same-size edit now could keep its mtime and ctime
    file_sha256(path)
    opened = opened_paths(monkeypatch)
    file_sha256(path)
    assert path in opened


def test_a_damaged_digest_memo_is_ignored(tmp_path, settled_at_once, private_cache):
    import hashlib

    path = tmp_path / "eval.csv"
    path.write_bytes(b"0,1,2\n")
    true = hashlib.sha256(b"0,1,2\n").hexdigest()
    assert file_sha256(path) == true
    (memo,) = (private_cache / "digests").iterdir()
    for damage in ("garbage\n", "", ("0" * 64) + " " + memo.read_text().split()[1]):
        memo.write_text(damage)
        assert file_sha256(path) == true


def test_xxh3_digest_is_remembered_in_the_process_until_the_file_changes(tmp_path, settled_at_once, monkeypatch):
    path = tmp_path / "labels.npy"
    path.write_bytes(b"\x00\x01" * 1000)
    first = file_xxh3(path)
    opened = opened_paths(monkeypatch)
    assert file_xxh3(path) == first and path not in opened
    with path.open("r+b") as handle:  # same size, other bytes
        handle.write(b"\x01\x00")
    assert file_xxh3(path) != first and path in opened
