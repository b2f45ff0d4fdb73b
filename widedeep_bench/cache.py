"""The one cache root shared by the CLI, the tests and every pytest-xdist worker, and the rule every entry obeys.

Root: ``$WIDEDEEP_CACHE`` (default ``$XDG_CACHE_HOME/widedeep_bench``, i.e. ``~/.cache/widedeep_bench``);
``check_cache_root`` proves it is a writable directory, or raises one ``WidedeepError`` naming it and why.

An entry is a directory built whole: under a ``filelock`` lock named after it, in a temporary
directory beside it, sealed with ``manifest.json`` (every file's size and XXH3-128 digest, and what
the entry records about itself), then renamed into place. Before an entry is used it is verified
against its manifest; one that fails is rebuilt, with one ``CacheWarning`` naming it and what
differed (``verified_entry``). So a killed process never leaves an entry a later run trusts, two
processes racing for one entry do the work once, and bytes changed after the write (same size or
not) are never served. Taking a lock also removes the temporaries a killed writer left beside that
same target. A write the file system refuses (full, read-only, no permission) is one ``WidedeepError``
naming the target and the cause, and leaves no temporary.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import xxhash
from filelock import FileLock

from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

HASH_CHUNK = 1 << 20  # read-and-hash block: 1 MiB stays in cache, so XXH3 runs at ~9 GB/s from the page cache
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
# A file whose change time is this recent may still change within the same timestamp tick (up to 2 s on
# coarse file systems), so its digest is not remembered: it is hashed again next time.
SETTLED_NS = 2_000_000_000
# Errors of a write the file system refused; raised inside an atomic write they become a WidedeepError.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})

_verified_digests: dict[tuple, str] = {}  # file stamp -> XXH3-128, for files hashed in this process


class CacheWarning(UserWarning):
    """A cache entry failed verification and is being rebuilt; the message names it and what differed."""


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
        raise WidedeepError(f"cache root {root}: cannot create it ({_cause(exc)}) ({origin})") from exc


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
        raise WidedeepError(f"cache root {root}: not writable ({_cause(exc)}) ({origin})") from exc
    return root


def _cause(exc: OSError) -> str:
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
                _remove(path)


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
        raise WidedeepError(f"{target}: cannot create its lock in {target.parent} ({_cause(exc)})") from exc
    try:
        if lock.lock_counter == 1:
            _remove_orphans(target)
        yield
    finally:
        lock.release()


def _remove(path: Path) -> None:
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
            raise WidedeepError(f"{target}: cannot write ({_cause(exc)})") from exc
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
        raise WidedeepError(f"{target}: cannot write ({_cause(exc)})") from exc


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
            raise WidedeepError(f"{target}: cannot write ({_cause(exc)})") from exc
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
                _remove(target)
            os.replace(tmp_path, target)
        except OSError as exc:
            raise WidedeepError(f"{target}: cannot write ({_cause(exc)})") from exc
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def write_json(target: Path, obj: object) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# --- verified entries -------------------------------------------------------------------------------

def _stamp(path: Path) -> tuple:
    st = path.stat()
    return (str(path.absolute()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _settled(stamp: tuple) -> bool:
    return time.time_ns() - max(stamp[4], stamp[5]) > SETTLED_NS


def file_xxh3(path: Path) -> str:
    """XXH3-128 (hex) of a file's bytes, remembered in this process while its stat (inode, size,
    modification and change times) stays the same. The integrity digest of cache entries: not
    cryptographic, ~9 GB/s."""
    path = Path(path)
    before = _stamp(path)
    if before in _verified_digests:
        return _verified_digests[before]
    digest, buffer = xxhash.xxh3_128(), bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    hexdigest = digest.hexdigest()
    if _stamp(path) == before and _settled(before):
        _verified_digests[before] = hexdigest
    return hexdigest


def _entry_files(directory: Path) -> list[str]:
    return sorted(path.relative_to(directory).as_posix() for path in directory.rglob("*")
                  if path.is_file() and path != directory / MANIFEST)


def _manifest_digest(files: dict, record: dict) -> str:
    return xxhash.xxh3_128(json.dumps({"files": files, "record": record}, sort_keys=True).encode()).hexdigest()


def seal(directory: Path, record: dict) -> None:
    """Write ``directory/manifest.json``: every file's size and XXH3-128 digest, ``record`` (what the entry
    says about itself: its key, row count...) and a digest of both, so the manifest vouches for itself."""
    files = {name: {"bytes": (directory / name).stat().st_size, "xxh3_128": file_xxh3(directory / name)}
             for name in _entry_files(directory)}
    manifest = {"format": MANIFEST_FORMAT, "files": files, "record": record,
                "digest": _manifest_digest(files, record)}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _read_manifest(directory: Path) -> tuple[dict | None, str | None]:
    """The manifest's files and record, or None and why it cannot be used."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return None, f"no {MANIFEST}"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{MANIFEST} is unreadable ({exc})"
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None, f"{MANIFEST} is not a format-{MANIFEST_FORMAT} manifest"
    files, record = manifest.get("files"), manifest.get("record")
    if not isinstance(files, dict) or not isinstance(record, dict) \
            or not all(isinstance(entry, dict) for entry in files.values()):
        return None, f"{MANIFEST} has no files and record"
    if manifest.get("digest") != _manifest_digest(files, record):
        return None, f"{MANIFEST} does not match its own digest (edited or damaged)"
    return manifest, None


def entry_problem(directory: Path, expect: dict | None = None) -> str | None:
    """Why the entry ``directory`` cannot be trusted ("absent", "no manifest.json", "labels.npy has
    XXH3-128 ..., manifest.json records ..."), or None when its manifest vouches for every file and
    records ``expect``. Hashing is remembered per file state, so a second check in a process costs stats."""
    directory = Path(directory)
    if not directory.is_dir():
        return "absent" if not directory.exists() else "not a directory"
    manifest, problem = _read_manifest(directory)
    if manifest is None:
        return problem
    for key, value in _as_json(expect).items():
        if manifest["record"].get(key) != value:
            return f"{MANIFEST} records {key} = {manifest['record'].get(key)!r}, expected {value!r}"
    listed, present = set(manifest["files"]), set(_entry_files(directory))
    if listed - present:
        return f"{min(listed - present)} is missing"
    if present - listed:
        return f"{min(present - listed)} is not listed in {MANIFEST}"
    for name, recorded in sorted(manifest["files"].items()):
        try:
            size, digest = (directory / name).stat().st_size, file_xxh3(directory / name)
        except OSError as exc:
            return f"{name} is unreadable ({_cause(exc)})"
        if size != recorded.get("bytes"):
            return f"{name} has {size} bytes, {MANIFEST} records {recorded.get('bytes')}"
        if digest != recorded.get("xxh3_128"):
            return f"{name} has XXH3-128 {digest}, {MANIFEST} records {recorded.get('xxh3_128')}"
    return None


def verify_entry(directory: Path, expect: dict | None = None) -> dict:
    """The record of the sealed entry ``directory``, after checking it (``entry_problem``); an untrusted
    entry raises ``WidedeepError`` naming it and what differed."""
    problem = entry_problem(directory, expect)
    if problem is not None:
        raise WidedeepError(f"cache entry {directory}: {problem}; run again to rebuild it")
    return _read_manifest(Path(directory))[0]["record"]


def _rebuild_warning(directory: Path, problem: str) -> None:
    warnings.warn(f"cache entry {directory}: {problem}; rebuilding it", CacheWarning, stacklevel=3)


def discard_untrusted(directory: Path, expect: dict | None = None) -> None:
    """Remove the entry ``directory`` if it exists and fails verification, with one ``CacheWarning``
    naming it and what differed, so that the caller builds it again."""
    directory = Path(directory)
    if entry_problem(directory, expect) in (None, "absent"):
        return
    with lock_for(directory):
        problem = entry_problem(directory, expect)  # another process may have rebuilt it meanwhile
        if problem not in (None, "absent"):
            _rebuild_warning(directory, problem)
            _remove(directory)


@dataclass(frozen=True)
class Entry:
    """A verified cache entry: its directory, what its manifest records, and whether this call built it."""

    directory: Path
    record: dict
    built: bool


def verified_entry(target: Path, build: Callable[[Path], dict | None], *, expect: dict | None = None) -> Entry:
    """The cache entry ``target``, verified; built first if it is absent or fails verification.

    ``build(directory)`` writes the entry's files into an empty temporary directory and may return more
    to record (merged over ``expect``); the entry is then sealed and renamed into place under
    ``lock_for(target)``, so racing processes build once. An untrusted entry is rebuilt with one
    ``CacheWarning`` naming it and what differed. ``expect``: what the manifest must record (a key's
    fields, JSON values), checked like the files.
    """
    target = Path(target)
    if entry_problem(target, expect) is None:
        return Entry(target, verify_entry(target, expect), built=False)
    with lock_for(target):
        problem = entry_problem(target, expect)  # another process may have built it while we waited
        if problem is None:
            return Entry(target, verify_entry(target, expect), built=False)
        if problem != "absent":
            _rebuild_warning(target, problem)
        with atomic_directory(target) as tmp:
            record = {**_as_json(expect), **_as_json(build(tmp))}
            seal(tmp, record)
    return Entry(target, record, built=True)


def _as_json(values: dict | None) -> dict:
    """``values`` as they read back from JSON (tuples become lists), so a record compares equal to itself."""
    return json.loads(json.dumps(values or {}))


# --- content digests (cache keys) -------------------------------------------------------------------

def _memo_check(stamp: str, hexdigest: str) -> str:
    return xxhash.xxh3_64(f"{stamp}|{hexdigest}".encode()).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes.

    Hashing 500 MB takes about a second, so the digest is remembered in the cache keyed by the
    file's device, inode, size, modification and change times (nanoseconds). The change time cannot
    be set back by a user (``os.utime`` sets it to now), so an in-place edit always misses the memo;
    a digest is remembered only if the file's stat did not change while it was being read and its
    last change is older than a timestamp tick (``SETTLED_NS``); a memo failing its own check is ignored.
    """
    path = Path(path)
    try:
        before = _stamp(path)
    except OSError as exc:
        raise WidedeepError(f"{path}: cannot read file ({exc.strerror})") from exc
    key = "|".join(str(part) for part in (Path(before[0]).resolve(), *before[1:]))
    memo = cache_root() / "digests" / hashlib.sha256(key.encode()).hexdigest()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        remembered, check = (memo.read_text().split() + ["", ""])[:2]
        if re.fullmatch(r"[0-9a-f]{64}", remembered) and check == _memo_check(key, remembered):
            return remembered
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(8 << 20), b""):
            digest.update(chunk)
    hexdigest = digest.hexdigest()
    if _stamp(path) == before and _settled(before):
        with atomic_file(memo) as tmp:
            tmp.write_text(f"{hexdigest} {_memo_check(key, hexdigest)}\n")
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
