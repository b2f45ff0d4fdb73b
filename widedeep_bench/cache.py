"""The one cache root shared by the CLI, the tests and every pytest-xdist worker, and how it is written.

Root: ``$WIDEDEEP_CACHE`` (default ``$XDG_CACHE_HOME/widedeep_bench``, i.e. ``~/.cache/widedeep_bench``);
``check_cache_root`` proves it is a writable directory, or raises one ``WidedeepError`` naming it and why.

Writes: every writer of a cache target holds ``lock_for(target)`` (a ``filelock`` lock beside it) and
writes through ``atomic_file`` or ``atomic_directory``: into a temporary beside the target, renamed into
place only on success, so a killed process never leaves a half-written target under its final name.
Taking a lock also removes the temporaries a killed writer left beside that same target. A write the
file system refuses (full, read-only, no permission) is one ``WidedeepError`` naming the target and the
cause, and leaves no temporary. Digests live in ``digests``, verified entries in ``cache_entry``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock

from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

# Errors of a write the file system refused; raised inside an atomic write they become a WidedeepError.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})


# --- the root ---------------------------------------------------------------------------------------

def _configured_root() -> tuple[Path, str]:
    """The cache root and where it came from, in words for error messages."""
    configured = os.environ.get("WIDEDEEP_CACHE")
    if configured:
        return Path(configured).expanduser(), f"WIDEDEEP_CACHE={configured}"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "widedeep_bench", "the default; set WIDEDEEP_CACHE to use another directory"


def _create_root(root: Path, origin: str) -> None:
    for place in (root, *root.parents):
        if place.exists():
            if not place.is_dir():
                where = "" if place == root else f"{place} is "
                raise WidedeepError(f"cache root {root}: {where}not a directory ({origin})")
            break
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WidedeepError(f"cache root {root}: cannot create it ({os_error_cause(exc)}) ({origin})") from exc


def cache_root() -> Path:
    """The cache root: ``$WIDEDEEP_CACHE`` or ``<user cache dir>/widedeep_bench``; created if absent."""
    root, origin = _configured_root()
    if not root.is_dir():
        _create_root(root, origin)
    return root


def check_cache_root() -> Path:
    """The cache root, created if needed and proven writable (a probe file written and removed).

    Call once at start (the pytest plugin's ``pytest_configure``, the CLI): an unusable root is then one
    ``WidedeepError`` ("cache root /x: not writable (Read-only file system [EROFS]) (WIDEDEEP_CACHE=/x)")
    rather than an ``OSError`` from deep inside the first cache write.
    """
    root, origin = _configured_root()
    _create_root(root, origin)
    probe = root / f".write-probe.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        try:
            with probe.open("xb") as handle:
                handle.write(b"widedeep_bench write probe\n")
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise WidedeepError(f"cache root {root}: not writable ({os_error_cause(exc)}) ({origin})") from exc
    return root


def os_error_cause(exc: OSError) -> str:
    """An OSError in words for a message: "Read-only file system [EROFS]"."""
    name = errno.errorcode.get(exc.errno or 0)
    return f"{exc.strerror or exc}{f' [{name}]' if name else ''}"


# --- locks and atomic writes ------------------------------------------------------------------------

def _temporary_name(target: Path) -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"


def _is_temporary_of(path: Path, target: Path) -> bool:
    return re.fullmatch(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.tmp", path.name) is not None


def _remove_orphans(target: Path) -> None:
    """Remove the temporaries of ``target`` left by killed writers; only called under ``target``'s lock,
    and every writer of a cache target holds it, so none of them is live."""
    for path in target.parent.iterdir():
        if _is_temporary_of(path, target):
            say(f"removing {path}, left by a run that was killed while writing {target.name}")
            with contextlib.suppress(OSError):
                remove_path(path)


@contextlib.contextmanager
def lock_for(target: Path) -> Iterator[None]:
    """Hold an inter-process lock guarding ``target`` (a file or directory), kept beside it.

    Every writer of a cache target writes it under this lock, so on taking it the temporaries of
    ``target`` that a killed writer left behind (``.NAME.xxxxxxxx.tmp``) are removed. Re-entrant in a
    thread (one lock object per path), and only the outermost holder removes temporaries, so a nested
    ``lock_for`` never deletes its own caller's temporary.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(target.parent / f".{target.name}.lock"), is_singleton=True)
        lock.acquire()
    except OSError as exc:
        raise WidedeepError(f"{target}: cannot create its lock in {target.parent} "
                            f"({os_error_cause(exc)})") from exc
    try:
        if lock.lock_counter == 1:
            _remove_orphans(target)
        yield
    finally:
        lock.release()


def remove_path(path: Path) -> None:
    """Remove a file, a link or a directory tree; absent is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _refused_writes_named(target: Path, temporary: Path) -> Iterator[None]:
    """Turn a write the file system refuses (full, read-only, no permission) into one WidedeepError naming
    ``target``; other errors of the caller's own (a missing input file, a bad value) pass unchanged."""
    try:
        yield
    except OSError as exc:
        own_file = exc.filename is None or str(exc.filename).startswith((str(temporary), str(target)))
        if exc.errno in WRITE_ERRNOS and own_file:
            raise WidedeepError(f"{target}: cannot write ({os_error_cause(exc)})") from exc
        raise


def _create_temporary(target: Path, make: Callable[[Path], None]) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            temporary = _temporary_name(target)
            try:
                make(temporary)
                return temporary
            except FileExistsError:
                continue
    except OSError as exc:
        raise WidedeepError(f"{target}: cannot write ({os_error_cause(exc)})") from exc


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``, else delete it."""
    target = Path(target)

    def make(temporary: Path) -> None:
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        temporary.chmod(0o644)  # cache files are shared like any other, whatever the umask

    tmp_path = _create_temporary(target, make)
    try:
        with _refused_writes_named(target, tmp_path):
            yield tmp_path
        try:
            os.replace(tmp_path, target)
        except OSError as exc:
            raise WidedeepError(f"{target}: cannot write ({os_error_cause(exc)})") from exc
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``target``; on success it becomes ``target``.

    An existing ``target`` is replaced. On failure the temporary directory is removed, so a
    half-built entry is never visible under the final name.
    """
    target = Path(target)

    def make(temporary: Path) -> None:
        temporary.mkdir()
        temporary.chmod(0o755)

    tmp_path = _create_temporary(target, make)
    try:
        with _refused_writes_named(target, tmp_path):
            yield tmp_path
        try:
            if target.exists() or target.is_symlink():
                remove_path(target)
            os.replace(tmp_path, target)
        except OSError as exc:
            raise WidedeepError(f"{target}: cannot write ({os_error_cause(exc)})") from exc
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def write_json(target: Path, obj: object) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# --- outputs a run writes outside the cache (reports, benchmark JSON) ----------------------------------

def check_output_path(path: Path, label: str) -> None:
    """Before anything is measured: an output path that can never be written is one line. ``label`` names it
    as the user gave it (``--json out.json``, ``--wd-report='r.json'``)."""
    if path.is_dir():
        raise WidedeepError(f"{label}: is a directory; expected the path of a file to write")
    if path.parent.exists() and not path.parent.is_dir():
        raise WidedeepError(f"{label}: {path.parent} is not a directory")


def remove_earlier_output(path: Path, label: str, what: str, is_earlier: Callable[[object], bool]) -> None:
    """Remove what an earlier run left at ``path``, so that a run ending without a result (a bad option, an
    interruption) never leaves another run's figures or ``"passed": true`` where its own would be. Only a
    file ``is_earlier`` accepts (given its JSON, or None for an empty file) is removed; anything else (an
    input given here by mistake) is refused, never replaced."""
    if not path.exists():
        return
    try:
        earlier = json.loads(path.read_bytes()) if path.stat().st_size else None
        ours = is_earlier(earlier)
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise WidedeepError(f"{label}: exists and is not {what}; refusing to replace it")
    try:
        path.unlink()
    except OSError as exc:
        raise WidedeepError(f"{label}: cannot replace it ({os_error_cause(exc)})") from exc
