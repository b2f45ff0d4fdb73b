"""Fixtures for the eval.csv -> tensors tests: a private cache, and Criteo-format text to write.

The generated rows cover what real Criteo files hold and what a careless reader gets wrong: 8-hex
categoricals, digits-only ones with leading zeros ("00012345" must stay text), empty fields, negative
and large integers, integers with leading zeros, and non-ASCII UTF-8 text, and null spellings ("NA", "null") that are text to Criteo.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
import random
import threading
import time
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Every test here gets its own ``WIDEDEEP_CACHE`` and no narration."""
    root = tmp_path / "cache"
    monkeypatch.setenv("WIDEDEEP_CACHE", str(root))
    monkeypatch.setenv("WIDEDEEP_QUIET", "1")
    return root


def _categorical(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.12:
        return ""
    if kind < 0.25:
        return f"{rng.randrange(10 ** 6):08d}"  # digits only, leading zeros
    if kind < 0.27:  # valid odd text: numbers, null spellings a lenient reader turns into missing values
        return rng.choice(["café", "ünïcode", "a b", "x" * 40, "0x1F", "-7", "NA", "null", "NaN", "#N/A", "-nan"])
    if kind < 0.60:
        return f"{rng.randrange(50):08x}"  # frequent values, repeated across rows
    return f"{rng.getrandbits(32):08x}"


def _numeric(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.2:
        return ""
    if kind < 0.3:
        return str(-rng.randrange(1, 4))
    if kind < 0.32:
        return f"00{rng.randrange(100)}"  # leading zeros are still an integer
    if kind < 0.34:
        return str(rng.randrange(10 ** 9))
    return str(int(rng.paretovariate(1.2)) - 1)


def criteo_lines(rows: int, seed: int, labelled: bool = True) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(rows):
        fields = [str(rng.randrange(2))] if labelled else []
        fields += [_numeric(rng) for _ in range(13)] + [_categorical(rng) for _ in range(26)]
        lines.append(",".join(fields))
    return lines


@pytest.fixture
def random_lines():
    """``random_lines(rows, seed, labelled=True)`` -> Criteo-format lines (no line ends)."""
    return criteo_lines


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv(name, lines, line_end="\\n", final_line_end=True)`` -> the path of the written file."""

    def write(name: str, lines: list[str], line_end: str = "\n", final_line_end: bool = True) -> Path:
        path = tmp_path / name
        text = line_end.join(lines) + (line_end if final_line_end else "")
        path.write_bytes(text.encode("utf-8"))
        return path

    return write


@pytest.fixture
def fixtures_csv() -> Path:
    """The committed sample files: labelled.csv, labelled_crlf.csv (same rows), unlabelled.csv."""
    return Path(__file__).resolve().parents[2] / "fixtures" / "csv"


@pytest.fixture
def good_line() -> str:
    """One valid labelled line."""
    return criteo_lines(1, seed=99)[0]


class Fifo:
    """A named pipe at ``path`` that a writer thread feeds, as a shell's ``<(...)`` or a ``zcat > fifo`` does.

    ``feed(data)`` starts a writer that opens the pipe (waiting for a reader), writes ``data`` and closes
    it: the reader then sees the end of the stream. ``call(fn, ...)`` runs the code under test with a time
    limit: a reader that opens the pipe a second time would wait forever for a writer that is gone, so
    on time-out the pipe is closed under it and the test fails saying so.
    """

    def __init__(self, path: Path):
        os.mkfifo(path)
        self.path = path
        self.writers: list[threading.Thread] = []

    def feed(self, data: bytes) -> None:
        def write() -> None:
            try:
                with open(self.path, "wb") as pipe:
                    pipe.write(data)
            except BrokenPipeError:
                pass  # the reader gave up before the end: the test says why

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        self.writers.append(writer)

    def call(self, fn, *args, timeout_s: float = 60, **kwargs):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            result = pool.submit(fn, *args, **kwargs)
            try:
                return result.result(timeout=timeout_s)
            except concurrent.futures.TimeoutError:
                while not result.done():
                    self._release_reader()
                    time.sleep(0.05)
                pytest.fail(f"{fn.__name__} still waited on {self.path} after {timeout_s} s: it opened the pipe "
                            "again after its writer had finished (read twice?)")

    def writers_done(self, timeout_s: float = 10) -> bool:
        for writer in self.writers:
            writer.join(timeout_s)
        return not any(writer.is_alive() for writer in self.writers)

    def _release_reader(self) -> None:
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))  # a writer that closes at once: EOF
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # no reader waiting yet
                raise

    def close(self) -> None:
        for writer in self.writers:  # a writer still waiting for a reader: give it one that leaves at once
            while writer.is_alive():
                try:
                    os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
                except OSError:
                    pass
                writer.join(0.05)


@pytest.fixture
def fifo(tmp_path):
    """``fifo(name="eval.fifo")`` -> a new ``Fifo`` in ``tmp_path``; writers left waiting are released."""
    made: list[Fifo] = []

    def make(name: str = "eval.fifo") -> Fifo:
        made.append(Fifo(tmp_path / name))
        return made[-1]

    yield make
    for pipe in made:
        pipe.close()
