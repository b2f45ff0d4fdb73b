"""The one cache root shared by the CLI, the tests and every pytest-xdist worker.

Layout: ``$WIDEDEEP_CACHE`` (default ``$XDG_CACHE_HOME/widedeep_bench``, i.e. ``~/.cache/widedeep_bench``).
Every write goes to a temporary name beside its target and is renamed into place, under a
``filelock`` lock named after the target, so a killed process never leaves a file that a later run
trusts and two processes racing for the same entry do the work once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from filelock import FileLock

from widedeep_bench.errors import WidedeepError

HASH_CHUNK = 8 << 20


def cache_root() -> Path:
    """The cache root: ``$WIDEDEEP_CACHE`` or ``<user cache dir>/widedeep_bench``; created if absent."""
    configured = os.environ.get("WIDEDEEP_CACHE")
    if configured:
        root = Path(configured).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "widedeep_bench"
    root.mkdir(parents=True, exist_ok=True)
    return root


def lock_for(target: Path) -> FileLock:
    """An inter-process lock guarding ``target`` (a file or directory), kept beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(target.parent / f".{target.name}.lock"))


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``, else delete it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)  # mkstemp makes it private; cache files are shared like any other
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``target``; on success it becomes ``target``.

    An existing ``target`` is replaced. On failure the temporary directory is removed, so a
    half-built entry is never visible under the final name.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp_path.chmod(0o755)  # mkdtemp makes it private; the entry is shared like any cache file
    try:
        yield tmp_path
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp_path, target)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def write_json(target: Path, obj: object) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes.

    Hashing 500 MB takes about a second, so the digest is remembered in the cache keyed by the
    file's device, inode, size, modification and change times (nanoseconds). The change time cannot
    be set back by a user (``os.utime`` sets it to now), so an in-place edit always misses the memo;
    and a digest is remembered only if the file's stat did not change while it was being read.
    """
    path = Path(path)

    def stamp() -> str:
        try:
            st = path.stat()
        except OSError as exc:
            raise WidedeepError(f"{path}: cannot read file ({exc.strerror})") from exc
        return f"{path.resolve()}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}"

    before = stamp()
    memo = cache_root() / "digests" / hashlib.sha256(before.encode()).hexdigest()
    if memo.is_file():
        return memo.read_text().strip()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    hexdigest = digest.hexdigest()
    if stamp() == before:
        with atomic_file(memo) as tmp:
            tmp.write_text(hexdigest + "\n")
    return hexdigest


def tree_sha256(root: Path) -> str:
    """SHA-256 over a directory tree: relative paths and file contents, in sorted order."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file_sha256(path).encode() + b"\0")
    return digest.hexdigest()


def source_digest(*paths: Path) -> str:
    """SHA-256 (hex) over source files' names and bytes, in the order given.

    What a cache key records of the code that makes an entry (a conversion stage, an engine build),
    so an edited module never reuses an entry the old code made.
    """
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
