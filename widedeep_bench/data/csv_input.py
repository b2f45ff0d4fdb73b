"""Where a Criteo CSV's bytes come from: a regular file, read in place as often as needed, or a stream (a
FIFO, a shell's ``<(zcat eval.csv.gz)`` seen as ``/dev/fd/63``, ``/dev/stdin``), which can be read once only.

A stream is read once, to its end, and copied as it is read into the cache as
``cache_root()/streams/<sha256>.csv`` (its *spool*), hashed on the way; from then on it is the regular file
whose digest is known. The copy is written under a temporary name that the writing process holds an
``flock`` on, and renamed to its digest only after the stream ended on a complete line, so a spool cut
short (the writer died, this process was killed) is never trusted; the next spool removes temporaries
whose writer is gone. Spools are kept: the path handed on (``resolve_assets``) must stay readable for the
rest of the run, and a later run of the same bytes finds its tensors under the same digest. Deleting
``streams/`` is always safe.

Nothing here opens a stream except to read it whole: every check on a path uses ``stat``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from widedeep_bench.cache import cache_root
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

EXPECTED = "expected a Criteo CSV file"
STREAM_CHUNK = 1 << 20  # bytes per read of a stream
SPOOL_PREFIX, SPOOL_SUFFIX = ".spool-", ".tmp"


@dataclass(frozen=True)
class CsvInput:
    """A Criteo CSV that can be read any number of times.

    ``path`` is a regular file: the user's, or the spool of the user's stream. ``shown`` names it in
    messages (for a spool: the stream, and the file its bytes are in). ``sha256`` is the digest of its
    bytes when it is already known (a spool's), else None.
    """

    path: Path
    shown: str
    sha256: str | None = None


def where(path: Path, option: str | None) -> str:
    """``--wd-eval-csv: /x`` when an option named the path, else ``/x``: the head of every message."""
    return f"{option}: {path}" if option else str(path)


def path_kind(path: Path, option: str | None = None) -> str:
    """"file" (a regular file we may open) or "stream" (a FIFO or a character device, not opened here).

    Anything else (missing, a directory, a socket, unreadable) is a ``WidedeepError`` of one line
    naming ``option`` (the option or variable that gave the path, if any) and the path.
    """
    head = where(path, option)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise WidedeepError(f"{head}: a symbolic link to {os.readlink(path)}, which does not exist; "
                                f"{EXPECTED}") from None
        raise WidedeepError(f"{head}: no such file, {EXPECTED}") from None
    except OSError as exc:
        raise WidedeepError(f"{head}: cannot read it ({exc.strerror}), {EXPECTED}") from None
    if stat.S_ISDIR(mode):
        raise WidedeepError(f"{head}: is a directory, {EXPECTED}")
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        if not os.access(path, os.R_OK):
            raise WidedeepError(f"{head}: cannot read it (permission denied), {EXPECTED}")
        return "stream"
    if not stat.S_ISREG(mode):
        kind = "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else "not a file"
        raise WidedeepError(f"{head}: is {kind}, {EXPECTED} (a regular file, a FIFO or a <(...) stream)")
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        raise WidedeepError(f"{head}: cannot read it ({exc.strerror}), {EXPECTED}") from None
    return "file"


def csv_input(path, option: str | None = None) -> CsvInput:
    """``path`` checked, as a ``CsvInput``; a stream is spooled into the cache first (read once)."""
    path = Path(path)
    if path_kind(path, option) == "stream":
        return spool_stream(path, option)
    return CsvInput(path=path, shown=str(path))


def read_stream(path: Path, option: str | None = None) -> tuple[bytes, str]:
    """The whole of stream ``path`` in memory and its SHA-256, without touching the cache (``--no-cache``)."""
    chunks: list[bytes] = []
    digest = _copy_stream(path, where(path, option), chunks.append)
    return b"".join(chunks), digest


def spool_stream(path: Path, option: str | None = None) -> CsvInput:
    """Read stream ``path`` once into ``cache_root()/streams/<sha256>.csv`` and return that spool."""
    directory = cache_root() / "streams"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _remove_orphans(directory)
        with _locked_temporary(directory) as (tmp, out):
            digest = _copy_stream(path, where(path, option), out.write)
            out.flush()
            spool = directory / f"{digest}.csv"
            os.replace(tmp, spool)  # identical bytes if it was there already: a later run of the same stream
    except OSError as exc:  # reading errors are WidedeepErrors already: this is the cache side
        raise WidedeepError(f"{where(path, option)}: cannot copy the stream into {directory} ({exc.strerror}); "
                            "free space there or point WIDEDEEP_CACHE elsewhere") from exc
    say(f"{path}: read once into {spool}")
    return CsvInput(path=spool, shown=f"{path} (read once into {spool})", sha256=digest)


def _copy_stream(path: Path, head: str, write: Callable[[bytes], object]) -> str:
    """Read ``path`` to its end, passing each chunk to ``write``; the SHA-256 of all of it.

    A stream that ends before any byte, or inside a line, is refused: the writer stopped midway (a
    killed ``zcat`` looks exactly like this), and a last line cut inside its final field would still
    have 40 fields. A regular file may lack its final line end; a stream may not.
    """
    digest, size, lines, last = hashlib.sha256(), 0, 0, b""
    say(f"reading {path} to its end (a stream: read once; waiting for its writer if it has none yet)")
    with _opened(path, head) as stream:
        while chunk := _read(stream, head):
            digest.update(chunk)
            write(chunk)  # its OSError (a full disk) is the caller's to name, not a reading error
            size, lines, last = size + len(chunk), lines + chunk.count(b"\n"), chunk[-1:]
    if size == 0:
        raise WidedeepError(f"{head}: the stream ended before any data (its writer wrote nothing); {EXPECTED}")
    if last != b"\n":
        raise WidedeepError(f"{head}: the stream ended inside line {lines + 1}, after {size} bytes and no line "
                            "end: did its writer stop midway? A stream's last line must end in \\n")
    return digest.hexdigest()


def _opened(path: Path, head: str):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise WidedeepError(f"{head}: cannot open the stream ({exc.strerror}), {EXPECTED}") from exc


def _read(stream, head: str) -> bytes:
    try:
        return stream.read(STREAM_CHUNK)
    except OSError as exc:
        raise WidedeepError(f"{head}: reading the stream failed ({exc.strerror})") from exc


@contextlib.contextmanager
def _locked_temporary(directory: Path) -> Iterator[tuple[Path, object]]:
    """A new temporary file in ``directory``, open for writing and ``flock``-ed for as long as it is written;
    removed on the way out unless it was renamed."""
    import fcntl

    while True:
        fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX, dir=directory)
        out = open(fd, "wb")
        fcntl.flock(out, fcntl.LOCK_EX)
        try:
            ours = os.stat(name).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            ours = False
        if ours:
            break
        out.close()  # another run's sweep took it between mkstemp and flock: make another
    tmp = Path(name)
    tmp.chmod(0o644)  # mkstemp makes it private; cache files are shared like any other
    try:
        yield tmp, out
    finally:
        out.close()
        tmp.unlink(missing_ok=True)


def _remove_orphans(directory: Path) -> None:
    """Delete the temporaries of spools whose writer is gone (killed): no process holds their lock."""
    import fcntl

    for tmp in directory.glob(f"{SPOOL_PREFIX}*{SPOOL_SUFFIX}"):
        try:
            with open(tmp, "rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                tmp.unlink()
        except OSError:
            continue  # a live spool (BlockingIOError), one another run removed first, or not ours to remove
