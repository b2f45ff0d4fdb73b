"""The cache's content digests: remembered for speed, never trusted after the file changed."""

import os

from widedeep_bench.cache import file_sha256


def test_an_in_place_edit_with_its_mtime_restored_is_hashed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDEDEEP_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "eval.csv"
    path.write_bytes(b"0,1,2\n")
    before = path.stat()
    first = file_sha256(path)
    with path.open("r+b") as handle:  # same inode, same size
        handle.write(b"1")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size
    assert file_sha256(path) != first


def test_an_unchanged_file_is_hashed_once(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDEDEEP_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "eval.csv"
    path.write_bytes(b"0,1,2\n")
    first = file_sha256(path)
    opened = []
    real_open = type(path).open
    monkeypatch.setattr(type(path), "open", lambda self, *a, **k: opened.append(self) or real_open(self, *a, **k))
    assert file_sha256(path) == first and path not in opened
