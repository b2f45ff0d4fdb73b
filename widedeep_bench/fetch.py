"""Download the real assets into the cache: from the first mirror that serves them, resumable, retried,
pinned by SHA-256, unpacked safely.

``fetch_assets()`` is what ``widedeep-bench fetch`` runs. Each asset has mirrors (``SeedAsset.urls``),
tried in order: one that cannot be reached, answers an HTTP error, keeps cutting the body short or
serves bytes other than the pinned ones is left, with one line saying why, for the next. Each file is
downloaded to ``<name>.part`` (resumed with an HTTP Range request after a dropped connection or an
earlier run), checked against its pin in ``assets.lock.json``, then renamed into place.

A resume is conditional: the validator the server gave when the download started (strong ``ETag``,
else ``Last-Modified``) is kept in ``<name>.part.validator``, with the URL it came from, and sent as
``If-Range``, so a file that changed upstream comes back whole (HTTP 200) instead of as new bytes
spliced onto old ones; a ``.part`` with no validator is restarted from zero. Bytes from one mirror are
resumed from another only under a strong ETag: object stores and CDNs derive it from the content, so a
mirror whose file differs does not match it and sends the whole file, while a ``Last-Modified`` date
from one host says nothing about another host's bytes (that download starts again from zero). The
SHA-256 pin checks the finished file whichever mirrors it came from.

The SavedModel tar is unpacked into a temporary directory that is renamed into place only when every
member is safe.
"""

from __future__ import annotations

import http.client
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from widedeep_bench import __version__
from widedeep_bench.assets import (ASSET_NAMES, SEED_ASSETS, assets_dir, changed_file_error, download_path, pin,
                                   read_lock, unpacked_dir)
from widedeep_bench.cache import atomic_directory, atomic_file, lock_for
from widedeep_bench.digests import file_sha256, tree_sha256
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import progress, say

CHUNK_BYTES = 1 << 20
SOCKET_TIMEOUT_S = 10.0  # per connect / per read; an unreachable host fails after this, not minutes
ATTEMPTS = 4
BACKOFF_S = 0.5  # doubled after each failed attempt: 0.5, 1, 2 s
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
UNSATISFIED_RANGE = re.compile(r"bytes \*/(\d+)")  # Content-Range of an HTTP 416: the full size


def hand_placement_hint(mirrors: dict[str, tuple[str, ...]]) -> str:
    """Where to put the files of ``mirrors`` (asset name -> its URLs) by hand, or which variables to set,
    when the network is out of reach."""
    lines = ["To use the real assets without network access, put the files here by hand and run "
             "`widedeep-bench fetch` again (it pins and unpacks them without downloading):"]
    lines += [f"  {name}: {download_path(name)}  (from {' or '.join(urls)})" for name, urls in mirrors.items()]
    lines.append("or point at copies elsewhere: WIDEDEEP_SAVED_MODEL=<unpacked SavedModel directory>, "
                 "WIDEDEEP_EVAL_CSV=<eval.csv>, WIDEDEEP_ONNX=<widedeep_dynamicshape_new.onnx>.")
    return "\n".join(lines)


def download(url: str, part: Path, *, attempts: int = ATTEMPTS, timeout: float = SOCKET_TIMEOUT_S) -> None:
    """Complete ``part`` with the bytes of ``url``, resuming what is already there.

    A resume sends ``Range`` with ``If-Range: <validator saved when the download started>``; a
    ``part`` without a saved validator is restarted from zero, since nothing shows the bytes in it
    are from the file upstream now, and one begun at another URL is resumed only under a strong ETag
    (else it is downloaded whole, replacing it once the new bytes arrive). Failures after the server
    has answered once (dropped connection, short body, HTTP 5xx) are retried up to ``attempts`` times
    with backoff, each resuming likewise. Failing to reach the server at all is not retried: offline
    is the common cause, and the next mirror, or the error, comes at once. Raises ``WidedeepError``
    starting with ``url`` and saying why when ``url`` did not give the whole file.
    """
    reached = False
    failure: object = None
    for attempt in range(1, attempts + 1):
        have = part.stat().st_size if part.exists() else 0
        validator, origin = saved_validator(part)
        if have and validator is None:
            say(f"{part.name}: no validator (ETag or Last-Modified) was saved when this download started, "
                f"so its {have} bytes may be from an older version of the file; restarting from zero")
            restart(part)
            have = 0
        elif have and origin != url and not validator.startswith('"'):  # not a strong ETag
            if attempt == 1:
                say(f"{part.name}: its {have} bytes came from {origin or 'an unrecorded URL'} and only its "
                    f"Last-Modified date names them, which says nothing about {url}; downloading it whole")
            have = 0
        elif have and origin != url and attempt == 1:
            say(f"{part.name}: resuming {have} bytes from {origin or 'an unrecorded URL'} at {url} under their "
                f"ETag {validator}; a different file there comes back whole")
        headers = {"User-Agent": f"widedeep_bench/{__version__}"}
        if have:
            headers["Range"] = f"bytes={have}-"
            headers["If-Range"] = validator
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            reached = True
            if exc.code == 416 and have:
                if already_complete(part, have, validator, exc.headers):
                    validator_path(part).unlink(missing_ok=True)
                    return
                restart(part)  # the partial file is longer than the resource: it cannot be resumed
            elif exc.code not in RETRY_STATUSES:
                raise WidedeepError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            failure = f"HTTP {exc.code} {exc.reason}"
        except urllib.error.URLError as exc:  # refused, DNS failure, connect timeout: nothing answered
            if not reached:
                raise WidedeepError(f"{url}: cannot reach the server ({exc.reason})") from exc
            failure = exc
        except (OSError, http.client.HTTPException) as exc:  # connected, but no status line came back
            reached, failure = True, exc
        else:
            reached = True
            try:
                with response:
                    if write_body(response, part, have, validator, source=url):
                        validator_path(part).unlink(missing_ok=True)
                        return
                failure = "the connection closed before the end of the body"
            except (OSError, http.client.HTTPException) as exc:
                failure = exc
        if attempt < attempts:
            delay = BACKOFF_S * 2 ** (attempt - 1)
            say(f"{part.name}: {failure}; retrying in {delay:g} s ({attempt}/{attempts - 1})")
            time.sleep(delay)
    raise WidedeepError(f"{url}: download failed after {attempts} attempts, last: {failure}. "
                        f"{part} is kept; running fetch again resumes it.")


def validator_path(part: Path) -> Path:
    """Where the validator of the download in ``part`` is kept: ``<name>.part.validator``."""
    return part.with_name(part.name + ".validator")


def saved_validator(part: Path) -> tuple[str | None, str | None]:
    """``(validator, URL the bytes came from)`` of the download in ``part``; None for what is not saved."""
    try:
        lines = validator_path(part).read_text().splitlines()
    except FileNotFoundError:
        return None, None
    validator, origin = (lines + ["", ""])[:2]
    return validator.strip() or None, origin.strip() or None


def validator_of(headers) -> str | None:
    """What identifies this version of the file, usable in ``If-Range``: a strong ``ETag``, else
    ``Last-Modified``; None when the server gave neither (a weak ETag cannot be used in If-Range)."""
    etag = (headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return (headers.get("Last-Modified") or "").strip() or None


def restart(part: Path) -> None:
    """Throw away a partial download and its validator, so the next request starts from zero."""
    part.unlink(missing_ok=True)
    validator_path(part).unlink(missing_ok=True)


def already_complete(part: Path, have: int, validator: str | None, headers) -> bool:
    """Whether an HTTP 416 to ``Range: bytes=<have>-`` (sent with ``If-Range: validator``) means ``part``
    already holds the whole file: the range starts at its end (``Content-Range: bytes */<have>``) of
    the same version (the server honoured If-Range, and any validator it sent is the saved one)."""
    match = UNSATISFIED_RANGE.fullmatch((headers.get("Content-Range") or "").strip())
    return validator is not None and match is not None and int(match[1]) == have and same_version(validator, headers)


def same_version(validator: str | None, headers) -> bool:
    """False when the response names its version (ETag or Last-Modified) and ``validator`` is not it."""
    given = {value.strip() for value in (headers.get("ETag"), headers.get("Last-Modified")) if value}
    return not given or validator in given


def write_body(response, part: Path, have: int, validator: str | None = None, *, source: str | None = None) -> bool:
    """Append (HTTP 206) or write (HTTP 200) the body to ``part``; True when it holds the whole file.

    An HTTP 200 restarts ``part`` from zero (the file changed upstream, so If-Range failed, or the
    server ignores ranges) and saves the response's validator beside it, with ``source`` (the URL
    asked), for a later resume.
    """
    if response.status == 206:
        match = CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if not match or int(match[1]) != have:
            restart(part)
            raise http.client.HTTPException(f"asked for bytes {have}-, got Content-Range "
                                            f"{response.headers.get('Content-Range')!r}; restarting")
        if not same_version(validator, response.headers):  # a server that ignored If-Range
            restart(part)
            raise http.client.HTTPException(f"asked to resume version {validator}, got bytes of version "
                                            f"{validator_of(response.headers)}; restarting")
        total, mode = (None if match[3] == "*" else int(match[3])), "ab"
    elif response.status == 200:  # the file changed upstream, or the server ignored the Range header
        if have:
            say(f"{part.name}: the server sent the whole file (it changed upstream, or the server ignores "
                "ranges); restarting from zero")
        length = response.headers.get("Content-Length")
        total, mode, have = (int(length) if length else None), "wb", 0
    else:
        raise http.client.HTTPException(f"unexpected HTTP {response.status}")
    with part.open(mode) as out, progress(desc=f"fetch {part.name.removesuffix('.part')}", total=total,
                                          unit="B", unit_scale=True, unit_divisor=1024, initial=have) as bar:
        if mode == "wb":  # the part is empty now: the validator saved from here on names its bytes
            save_validator(part, validator_of(response.headers), source)
        for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
            out.write(chunk)
            bar.update(len(chunk))
    return total is None or part.stat().st_size == total


def save_validator(part: Path, validator: str | None, source: str | None) -> None:
    """Keep ``validator`` and the URL ``source`` its bytes come from as ``<name>.part.validator``, one a line."""
    if validator is None:
        validator_path(part).unlink(missing_ok=True)
        return
    with atomic_file(validator_path(part)) as tmp:
        tmp.write_text(f"{validator}\n{source or ''}\n")


def refuse_unsafe_members(archive: Path, tar: tarfile.TarFile, destination: Path) -> None:
    """Refuse the whole archive if any member could land outside ``destination``.

    Checked before anything is extracted, so a hostile archive leaves nothing behind. tarfile's
    ``data`` filter would quietly strip a leading "/" instead of refusing, hence our own check first;
    it runs again during extraction, where symlinks created by earlier members are real.
    """
    for member in tar.getmembers():
        where = f"{archive} member {member.name!r}"
        if os.path.isabs(member.name) or member.name.startswith(("/", "\\")):
            raise WidedeepError(f"{where}: absolute path; refusing to unpack the archive")
        if member.issym() or member.islnk():
            base = os.path.dirname(member.name) if member.issym() else ""
            if os.path.isabs(member.linkname) or escapes(os.path.join(base, member.linkname)):
                raise WidedeepError(f"{where}: link to {member.linkname!r} points outside the archive; "
                                    "refusing to unpack")
        if escapes(member.name):
            raise WidedeepError(f"{where}: path escapes the target directory; refusing to unpack")
        try:
            tarfile.data_filter(member, str(destination))
        except tarfile.FilterError as exc:
            raise WidedeepError(f"{where}: {exc}; refusing to unpack") from exc


def escapes(relative: str) -> bool:
    normal = os.path.normpath(relative)
    return normal == ".." or normal.startswith(".." + os.sep)


def unpack_saved_model(archive: Path) -> Path:
    """Extract ``archive`` into ``unpacked_dir()`` (atomically) and return the SavedModel directory in it."""
    target = unpacked_dir()
    say(f"unpacking {archive.name} into {target}")
    try:
        with tarfile.open(archive) as tar, atomic_directory(target) as staging:
            refuse_unsafe_members(archive, tar, staging)
            try:
                tar.extractall(staging, filter="data")
            except tarfile.FilterError as exc:
                raise WidedeepError(f"{archive}: {exc}; refusing to unpack") from exc
            roots = sorted(path.parent.relative_to(staging) for path in staging.rglob("saved_model.pb"))
            if len(roots) != 1:
                raise WidedeepError(f"{archive}: expected exactly one saved_model.pb, found "
                                    f"{[str(root) for root in roots]}")
    except tarfile.TarError as exc:
        raise WidedeepError(f"{archive}: not a readable tar archive ({exc})") from exc
    return target / roots[0]


def download_from_mirrors(name: str, part: Path, urls: Sequence[str], pinned: str | None,
                          offline_hint: str) -> tuple[str, str]:
    """Complete ``part`` from the first of ``urls`` that gives the whole file (with SHA-256 ``pinned``,
    unless None); return that URL and the file's SHA-256.

    Each mirror left behind gets one line saying why. When none gives it, the error lists every URL with
    its reason, then ``offline_hint`` (unless every mirror served a file other than the pinned one).
    """
    failures, changed_upstream = [], 0
    for index, url in enumerate(urls):
        say(f"downloading {name} from {url}" + (f" (mirror {index + 1} of {len(urls)})" if len(urls) > 1 else ""))
        try:
            download(url, part)
        except WidedeepError as exc:
            failures.append(str(exc))
        else:
            digest = file_sha256(part)
            if pinned is None or digest == pinned:
                return url, digest
            restart(part)
            changed_upstream += 1
            failures.append(f"{url}: now has sha256 {digest}, but {part.name.removesuffix('.part')} was pinned as "
                            f"{pinned}: the file upstream changed. The download was deleted; run "
                            f"`widedeep-bench fetch --only {name} --repin` to accept it.")
        if index + 1 < len(urls):
            say(f"{name}: {failures[-1]}; trying the next mirror, {urls[index + 1]}")
    tried = "\n".join(f"  {failure}" for failure in failures)
    advice = "" if changed_upstream == len(urls) else f"\n{offline_hint}"
    raise WidedeepError(f"{name}: no mirror gave {part.name.removesuffix('.part')} ({len(urls)} tried):\n"
                        f"{tried}{advice}")


def fetch_asset(name: str, urls: Sequence[str], *, repin: bool = False, offline_hint: str = "") -> dict:
    """Make the cache hold asset ``name``, verified against (or, first time or ``repin``, pinned in) the lock.

    A file not in the cache yet is downloaded from the first of ``urls`` (its mirrors, in order) that
    gives it. Returns the lock entry plus ``path`` (the file, or the SavedModel directory), ``status``:
    "downloaded", "verified", "pinned" (a file put there by hand) or "repinned", and ``served_by``: the
    URL it was downloaded from by this call, else None.
    """
    target = download_path(name)
    with lock_for(target):
        entry = dict(read_lock().get(name, {}))
        served_by = None
        if target.exists():
            digest, status, source = file_sha256(target), "verified", entry.get("url")
            if not entry:
                status, source = "pinned", None
        else:
            part = target.with_name(target.name + ".part")
            served_by, digest = download_from_mirrors(name, part, urls, None if repin else entry.get("sha256"),
                                                      offline_hint)
            status, source = "downloaded", served_by
            os.replace(part, target)
        if entry and entry["sha256"] != digest:
            if not repin:
                raise changed_file_error(name, target, digest, entry["sha256"])
            status = "repinned"
            entry = {key: value for key, value in entry.items() if not key.startswith("unpacked")}
        entry.update(file=target.name, url=source, sha256=digest, bytes=target.stat().st_size)
        path = target
        if SEED_ASSETS[name].unpack:
            path, entry = ensure_unpacked(name, target, entry, repin)
        pin(name, entry)
    return {**entry, "path": str(path), "status": status, "served_by": served_by}


def ensure_unpacked(name: str, archive: Path, entry: dict, repin: bool) -> tuple[Path, dict]:
    """The SavedModel directory unpacked from ``archive``, verified against its pinned tree digest."""
    model_dir = assets_dir() / entry["unpacked"] if "unpacked" in entry else None
    if model_dir is None or not model_dir.exists():
        model_dir = unpack_saved_model(archive)
        entry["unpacked"] = model_dir.relative_to(assets_dir()).as_posix()
        entry["unpacked_tree_sha256"] = tree_sha256(model_dir)
        return model_dir, entry
    tree = tree_sha256(model_dir)
    if tree != entry["unpacked_tree_sha256"]:
        if not repin:
            raise changed_file_error(name, model_dir, tree, entry["unpacked_tree_sha256"])
        entry["unpacked_tree_sha256"] = tree
    return model_dir, entry


def fetch_assets(names=ASSET_NAMES, *, urls: dict[str, str | Sequence[str]] | None = None,
                 repin: bool = False) -> dict[str, dict]:
    """Fetch (or verify) each named asset from its seed mirrors, or from ``urls[name]`` (one URL, or mirrors
    to try in order) instead; stops at the first failure."""
    chosen = {name: (urls or {}).get(name, SEED_ASSETS[name].urls) for name in names}
    mirrors = {name: (value,) if isinstance(value, str) else tuple(value) for name, value in chosen.items()}
    hint = hand_placement_hint(mirrors)
    return {name: fetch_asset(name, mirrors[name], repin=repin, offline_hint=hint) for name in names}
