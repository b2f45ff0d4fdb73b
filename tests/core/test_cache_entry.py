"""Verified cache entries: built once then reused, checked against their manifest before use and rebuilt
with one warning when they differ, and a failed build leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from widedeep_bench.cache_entry import MANIFEST, CacheWarning, entry_problem, seal, verified_entry


pytestmark = pytest.mark.usefixtures("private_cache")  # tests/core/conftest.py


class CountingBuild:
    """Writes ``a.bin`` and ``sub/b.bin`` and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, directory: Path) -> dict:
        self.calls += 1
        (directory / "a.bin").write_bytes(b"0123456789" * 10)
        (directory / "sub").mkdir()
        (directory / "sub" / "b.bin").write_bytes(b"columns")
        return {"rows": 10}


@pytest.fixture
def entry(private_cache) -> Path:
    return private_cache / "things" / "key1"


def test_an_entry_is_built_once_then_reused(entry):
    build = CountingBuild()
    first = verified_entry(entry, build, expect={"key": [1, 2]})
    second = verified_entry(entry, build, expect={"key": (1, 2)})  # a tuple reads back from JSON as a list
    assert (first.built, second.built, build.calls) == (True, False, 1)
    assert second.record == {"key": [1, 2], "rows": 10}
    manifest = json.loads((entry / MANIFEST).read_text())
    assert sorted(manifest["files"]) == ["a.bin", "sub/b.bin"]
    assert manifest["files"]["a.bin"]["bytes"] == 100


def swap_bytes(entry):  # same size, other content: what a size check cannot see
    (entry / "a.bin").write_bytes((entry / "a.bin").read_bytes()[::-1])


def truncate(entry):
    (entry / "a.bin").write_bytes((entry / "a.bin").read_bytes()[:60])


def remove_a_file(entry):
    (entry / "sub" / "b.bin").unlink()


def add_a_file(entry):
    (entry / "stray.bin").write_bytes(b"?")


def garbage_manifest(entry):
    (entry / MANIFEST).write_bytes(b"\x00\xffnot json")


def remove_manifest(entry):
    (entry / MANIFEST).unlink()


def edit_manifest_record(entry):
    manifest = json.loads((entry / MANIFEST).read_text())
    manifest["record"]["rows"] = 11
    (entry / MANIFEST).write_text(json.dumps(manifest))


def seal_for_another_key(entry):
    seal(entry, {"key": [9, 9], "rows": 10})


def replace_with_a_file(entry):
    import shutil

    shutil.rmtree(entry)
    entry.write_bytes(b"not a directory")


@pytest.mark.parametrize("corrupt, differed", [
    (swap_bytes, r"a.bin has XXH3-128 [0-9a-f]{32}, manifest.json records [0-9a-f]{32}"),
    (truncate, "a.bin has 60 bytes, manifest.json records 100"),
    (remove_a_file, "sub/b.bin is missing"),
    (add_a_file, "stray.bin is not listed in manifest.json"),
    (garbage_manifest, "manifest.json is unreadable"),
    (remove_manifest, "no manifest.json"),
    (edit_manifest_record, "manifest.json does not match its own digest"),
    (seal_for_another_key, r"manifest.json records key = \[9, 9\], expected \[1, 2\]"),
    (replace_with_a_file, "not a directory"),
])
def test_an_entry_that_differs_from_its_manifest_is_rebuilt_with_one_warning(entry, corrupt, differed):
    build = CountingBuild()
    verified_entry(entry, build, expect={"key": [1, 2]})
    corrupt(entry)
    with pytest.warns(CacheWarning, match=f"^cache entry {entry}: {differed}.*; rebuilding it$") as warned:
        again = verified_entry(entry, build, expect={"key": [1, 2]})
    assert len(warned) == 1
    assert again.built and build.calls == 2
    assert entry_problem(entry, {"key": [1, 2]}) is None
    assert (entry / "a.bin").read_bytes() == b"0123456789" * 10


def test_a_failed_build_leaves_no_entry_and_no_temporary(entry):
    def crashing(directory: Path) -> None:
        (directory / "a.bin").write_bytes(b"half")
        raise RuntimeError("simulated crash mid-build")

    with pytest.raises(RuntimeError, match="simulated crash"):
        verified_entry(entry, crashing)
    assert not entry.exists()
    assert [p.name for p in entry.parent.iterdir() if p.name.endswith(".tmp")] == []
