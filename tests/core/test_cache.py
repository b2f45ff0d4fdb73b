"""The cache root and its writes: temporaries of killed writers removed by the next lock holder, nested
locks safe, an unusable root or a refused write named in one error."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from widedeep_bench import cache
from widedeep_bench.cache import atomic_directory, atomic_file, check_cache_root, lock_for
from widedeep_bench.errors import WidedeepError

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("private_cache")  # tests/core/conftest.py


# --- temporaries of killed writers ------------------------------------------------------------------

HANGING_WRITER = """
import sys, time
from pathlib import Path
from widedeep_bench.cache import atomic_directory, atomic_file, lock_for
target, kind = Path(sys.argv[1]), sys.argv[2]
with lock_for(target), (atomic_directory if kind == "directory" else atomic_file)(target) as tmp:
    (tmp / "part.npy" if kind == "directory" else tmp).write_bytes(b"x" * 1000)
    print("inside", flush=True)
    time.sleep(600)
"""


def kill_writer_inside(target: Path, kind: str) -> None:
    """Run a writer of ``target`` in a subprocess and SIGKILL it while it is inside the atomic write."""
    writer = subprocess.Popen([sys.executable, "-c", HANGING_WRITER, str(target), kind], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "inside"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_the_next_lock_holder_removes_what_a_killed_writer_left(private_cache, kind):
    target = private_cache / "tensors" / "abc-v1"
    neighbour = private_cache / "tensors" / ".abc-v1.part.0123abcd.tmp"  # a temporary of target "abc-v1.part"
    target.parent.mkdir(parents=True)
    neighbour.write_bytes(b"")
    kill_writer_inside(target, kind)
    (orphan,) = [name for name in temporaries(target.parent) if name != neighbour.name]
    assert orphan.startswith(".abc-v1.") and not target.exists()
    with lock_for(target):
        assert temporaries(target.parent) == [neighbour.name]


def test_a_nested_lock_on_the_same_target_neither_waits_nor_removes_its_callers_temporary(private_cache):
    target = private_cache / "onnx" / "key"
    with lock_for(target), atomic_directory(target) as tmp:
        (tmp / "model.onnx").write_bytes(b"onnx")
        with lock_for(target):  # e.g. a check inside the build that locks the entry again
            assert (tmp / "model.onnx").is_file()
    assert (target / "model.onnx").read_bytes() == b"onnx"


def test_a_lock_that_cannot_be_created_is_one_error_naming_the_target(tmp_path):
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "entry"
    with pytest.raises(WidedeepError, match=rf"^{target}: cannot create its lock in {target.parent} \(.*\)$"):
        with lock_for(target):
            pass


# --- refused writes and an unusable root ------------------------------------------------------------

def failing(error_number: int):
    def fail(*args, **kwargs):
        raise OSError(error_number, os.strerror(error_number))
    return fail


def test_a_full_disk_while_writing_is_one_error_naming_the_target(private_cache):
    target = private_cache / "probabilities" / "k"
    with pytest.raises(WidedeepError, match=rf"^{target}: cannot write \(No space left on device \[ENOSPC\]\)$"):
        with atomic_directory(target) as tmp:
            (tmp / "probabilities.npy").write_bytes(b"x")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not target.exists() and temporaries(target.parent) == []


def test_a_read_only_file_system_at_rename_is_one_error_naming_the_target(private_cache, monkeypatch):
    target = private_cache / "report.json"
    monkeypatch.setattr(os, "replace", failing(errno.EROFS))
    with pytest.raises(WidedeepError, match=rf"^{target}: cannot write \(Read-only file system \[EROFS\]\)$"):
        with atomic_file(target) as tmp:
            tmp.write_text("{}")
    assert not target.exists() and temporaries(private_cache) == []


def test_no_permission_to_create_the_temporary_is_one_error_naming_the_target(private_cache, monkeypatch):
    target = private_cache / "engines" / "e"
    target.parent.mkdir(parents=True)
    monkeypatch.setattr(Path, "mkdir", failing(errno.EACCES))
    with pytest.raises(WidedeepError, match=rf"^{target}: cannot write \(Permission denied \[EACCES\]\)$"):
        with atomic_directory(target):
            pass


def test_an_error_that_is_not_a_refused_write_passes_unchanged(private_cache):
    with pytest.raises(FileNotFoundError):
        with atomic_file(private_cache / "x") as tmp:
            tmp.write_bytes((private_cache / "no such input").read_bytes())
    assert temporaries(private_cache) == []


def test_a_usable_root_is_created_and_left_without_a_probe(private_cache):
    assert check_cache_root() == private_cache
    assert private_cache.is_dir() and list(private_cache.iterdir()) == []


def test_a_root_that_is_a_file_is_one_error(tmp_path, monkeypatch):
    root = tmp_path / "cache-file"
    root.write_text("")
    monkeypatch.setenv("WIDEDEEP_CACHE", str(root))
    message = rf"^cache root {root}: not a directory \(WIDEDEEP_CACHE={root}\)$"
    with pytest.raises(WidedeepError, match=message):
        check_cache_root()
    with pytest.raises(WidedeepError, match=message):
        cache.cache_root()


def test_a_root_under_a_file_is_one_error_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    root = tmp_path / "file" / "cache"
    monkeypatch.setenv("WIDEDEEP_CACHE", str(root))
    with pytest.raises(WidedeepError, match=rf"^cache root {root}: {tmp_path / 'file'} is not a directory "
                                            rf"\(WIDEDEEP_CACHE={root}\)$"):
        check_cache_root()


@pytest.mark.parametrize("error_number, cause", [(errno.EROFS, r"Read-only file system \[EROFS\]"),
                                                 (errno.ENOSPC, r"No space left on device \[ENOSPC\]")])
def test_a_root_that_refuses_the_probe_is_one_error(private_cache, monkeypatch, error_number, cause):
    private_cache.mkdir()
    monkeypatch.setattr(Path, "open", failing(error_number))
    with pytest.raises(WidedeepError, match=rf"^cache root {private_cache}: not writable \({cause}\) "
                                            rf"\(WIDEDEEP_CACHE={private_cache}\)$"):
        check_cache_root()


def _probe_as_nobody(root: str, results) -> None:
    if os.geteuid() == 0:  # root writes through any mode bits: probe as an unprivileged user instead
        os.setegid(65534)
        os.seteuid(65534)
    os.environ["WIDEDEEP_CACHE"] = root
    try:
        check_cache_root()
        results.put("no error")
    except WidedeepError as exc:
        results.put(str(exc))


def test_a_read_only_root_is_one_error(tmp_path):
    root = Path(tempfile.mkdtemp(prefix="widedeep-read-only-"))  # outside tmp_path, whose parents are private
    try:
        root.chmod(0o555)
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        child = context.Process(target=_probe_as_nobody, args=(str(root), results))
        child.start()
        child.join(timeout=60)
        assert results.get(timeout=5) == (f"cache root {root}: not writable (Permission denied [EACCES]) "
                                          f"(WIDEDEEP_CACHE={root})")
    finally:
        root.chmod(0o755)
        root.rmdir()
