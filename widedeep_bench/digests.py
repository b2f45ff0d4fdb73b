"""Digests of files and trees: XXH3-128 for the integrity of cache entries, SHA-256 for cache keys.

``file_xxh3`` remembers each file's digest in this process while its stat stays the same; ``file_sha256``
remembers it under the cache root (``digests/``), so an unchanged file is hashed once per machine. Neither
remembers a file that changed while it was read or whose last change is within a timestamp tick.
``tree_sha256`` and ``source_digest`` build cache keys from directories and source files.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from pathlib import Path

import xxhash

from widedeep_bench.cache import atomic_file, cache_root
from widedeep_bench.errors import WidedeepError

HASH_CHUNK = 1 << 20  # read-and-hash block: 1 MiB stays in cache, so XXH3 runs at ~9 GB/s from the page cache
# A file whose change time is this recent may still change within the same timestamp tick (up to 2 s on
# coarse file systems), so its digest is not remembered: it is hashed again next time.
SETTLED_NS = 2_000_000_000

_verified_digests: dict[tuple, str] = {}  # file stamp -> XXH3-128, for files hashed in this process


def _stamp(path: Path) -> tuple:
    st = path.stat()
    return (str(path.absolute()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _settled(stamp: tuple) -> bool:
    return time.time_ns() - max(stamp[4], stamp[5]) > SETTLED_NS


# --- integrity digests (cache entries) --------------------------------------------------------------

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
