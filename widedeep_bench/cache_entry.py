"""Verified cache entries: a directory sealed with ``manifest.json`` and checked against it before use.

An entry is a directory built whole: under ``lock_for(target)``, in a temporary directory beside it
(``atomic_directory``), sealed with ``manifest.json`` (every file's size and XXH3-128 digest, and what
the entry records about itself), then renamed into place. Before an entry is used it is verified
against its manifest; one that fails is rebuilt, with one ``CacheWarning`` naming it and what
differed (``verified_entry``). So a killed process never leaves an entry a later run trusts, two
processes racing for one entry do the work once, and bytes changed after the write (same size or
not) are never served.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import xxhash

from widedeep_bench.cache import atomic_directory, lock_for, os_error_cause, remove_path
from widedeep_bench.digests import file_xxh3
from widedeep_bench.errors import WidedeepError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


class CacheWarning(UserWarning):
    """A cache entry failed verification and is being rebuilt; the message names it and what differed."""


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
            return f"{name} is unreadable ({os_error_cause(exc)})"
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
            remove_path(directory)


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
