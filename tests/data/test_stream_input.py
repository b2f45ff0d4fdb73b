"""An eval.csv handed over as a stream (a FIFO, ``<(zcat eval.csv.gz)``) is read exactly once: into the
cache as ``streams/<sha256>.csv`` when the cache is used, into memory with ``--no-cache``. A stream that
is empty or ends inside a line is one clear error, and nothing of it is kept."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from widedeep_bench.data import csv_input
from widedeep_bench.data.criteo_csv import load_eval_tensors, read_eval_csv
from widedeep_bench.errors import WidedeepError

REPO_ROOT = Path(__file__).resolve().parents[2]


def assert_same_tensors(actual, expected) -> None:
    assert actual.sha256 == expected.sha256 and actual.rows == expected.rows
    for name, array in expected.arrays().items():
        np.testing.assert_array_equal(getattr(actual, name), array)


def kept_files(cache: Path) -> list[str]:
    """Everything under the cache that is not a lock: spools, temporaries, tensor entries."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def test_a_fifo_is_read_once_and_gives_the_tensors_of_the_same_file(fifo, fixtures_csv, cache):
    text = (fixtures_csv / "labelled.csv").read_bytes()
    pipe = fifo()
    pipe.feed(text)

    tensors = pipe.call(load_eval_tensors, pipe.path)

    assert pipe.writers_done()
    assert_same_tensors(tensors, read_eval_csv(fixtures_csv / "labelled.csv"))
    spool = cache / "streams" / f"{hashlib.sha256(text).hexdigest()}.csv"
    assert spool.read_bytes() == text
    assert tensors.source == f"{pipe.path} (read once into {spool})"


def test_the_same_bytes_streamed_again_hit_the_tensor_cache(fifo, fixtures_csv, cache):
    text = (fixtures_csv / "labelled.csv").read_bytes()
    pipe = fifo()
    pipe.feed(text)
    first = pipe.call(load_eval_tensors, pipe.path)
    entries = sorted((cache / "tensors").iterdir())

    pipe.feed(text)
    second = pipe.call(load_eval_tensors, pipe.path)

    assert_same_tensors(second, first)
    assert sorted((cache / "tensors").iterdir()) == entries
    assert isinstance(second.numeric, np.memmap)  # loaded from the entry the first read stored


def test_no_cache_reads_a_fifo_into_memory_and_writes_nothing(fifo, fixtures_csv, cache):
    pipe = fifo()
    pipe.feed((fixtures_csv / "unlabelled.csv").read_bytes())

    tensors = pipe.call(load_eval_tensors, pipe.path, use_cache=False)

    assert_same_tensors(tensors, read_eval_csv(fixtures_csv / "unlabelled.csv"))
    assert tensors.source == str(pipe.path)
    assert kept_files(cache) == []


@pytest.mark.parametrize("use_cache", [True, False])
def test_an_empty_fifo_is_one_clear_error(fifo, cache, use_cache):
    pipe = fifo()
    pipe.feed(b"")

    with pytest.raises(WidedeepError) as raised:
        pipe.call(load_eval_tensors, pipe.path, use_cache=use_cache)

    assert str(raised.value) == (f"{pipe.path}: the stream ended before any data (its writer wrote nothing); "
                                 "expected a Criteo CSV file")
    assert kept_files(cache) == []


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_fifo_whose_writer_stops_inside_the_last_field_is_refused(fifo, random_lines, cache, use_cache):
    # Cut inside C26 of line 3: the partial line still has 40 fields, so only the missing line end tells.
    lines = random_lines(3, seed=21)
    lines[2] = lines[2].rsplit(",", 1)[0] + ",deadbeef"
    text = "\n".join(lines).encode()[:-3]
    pipe = fifo()
    pipe.feed(text)

    with pytest.raises(WidedeepError) as raised:
        pipe.call(load_eval_tensors, pipe.path, use_cache=use_cache)

    assert str(raised.value) == (f"{pipe.path}: the stream ended inside line 3, after {len(text)} bytes and no "
                                 "line end: did its writer stop midway? A stream's last line must end in \\n")
    assert kept_files(cache) == []


def test_a_regular_file_cut_short_is_named_at_its_last_line(write_csv, random_lines, cache):
    lines = random_lines(4, seed=22)
    lines[3] = lines[3][:len(lines[3]) // 2]
    path = write_csv("eval.csv", lines, final_line_end=False)

    with pytest.raises(WidedeepError, match=r"line 4: expected 40 comma-separated fields like line 1, got \d+ "
                                            r"\(it is the last line and has no line end: was the file cut short\?\)"):
        load_eval_tensors(path)


def test_spool_killed_midway_is_never_trusted_and_the_next_spool_removes_it(fifo, fixtures_csv, cache):
    pipe = fifo()
    streams = cache / "streams"
    code = ("import sys; from widedeep_bench.data.csv_input import spool_stream; "
            "from pathlib import Path; spool_stream(Path(sys.argv[1]))")
    spooler = subprocess.Popen([sys.executable, "-c", code, str(pipe.path)], cwd=REPO_ROOT,
                               env={**os.environ, "WIDEDEEP_CACHE": str(cache)})
    with open(pipe.path, "wb") as writer:  # waits for the spooler to open its end
        writer.write(b"0" + b",1" * 39 + b"\n" + b"1,2")
        writer.flush()
        deadline = time.monotonic() + 30
        while not list(streams.glob(".spool-*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.02)
        spooler.send_signal(signal.SIGKILL)
        spooler.wait(30)
    orphans = list(streams.glob(".spool-*.tmp"))
    assert len(orphans) == 1 and list(streams.glob("*.csv")) == []

    live = streams / ".spool-live.tmp"  # another run's spool, in progress: its lock is held
    with open(live, "wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        pipe.feed((fixtures_csv / "labelled.csv").read_bytes())
        pipe.call(load_eval_tensors, pipe.path)
        assert not orphans[0].exists() and live.exists()
    assert [p.name for p in streams.glob("*.csv")] == [f"{read_eval_csv(fixtures_csv / 'labelled.csv').sha256}.csv"]


@pytest.mark.parametrize("labelled", [True, False])
def test_a_utf8_bom_is_skipped_and_gives_the_same_tensors(tmp_path, random_lines, labelled):
    lines = random_lines(20, seed=23, labelled=labelled)
    plain, marked = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_bytes(("\n".join(lines) + "\n").encode())
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())

    with_bom, without = read_eval_csv(marked), read_eval_csv(plain)

    assert with_bom.sha256 != without.sha256  # keyed by the file's bytes, mark included
    for name, array in without.arrays().items():
        np.testing.assert_array_equal(getattr(with_bom, name), array)


@pytest.mark.parametrize("labelled, index, field", [(True, 5, "I5"), (False, 4, "I5")])
def test_with_a_bom_a_bad_field_on_line_10_is_reported_at_line_10(tmp_path, random_lines, labelled, index, field):
    lines = random_lines(12, seed=24, labelled=labelled)
    fields = lines[9].split(",")
    fields[index] = "3.5"
    lines[9] = ",".join(fields)
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode())

    with pytest.raises(WidedeepError) as raised:
        load_eval_tensors(path)

    assert str(raised.value).startswith(f"{path} line 10, field {field}: expected an integer")


def test_a_bom_inside_the_file_is_named_with_a_hint(tmp_path, random_lines):
    first, second = random_lines(3, seed=25), random_lines(3, seed=26)
    path = tmp_path / "joined.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(first) + "\n").encode()
                     + b"\xef\xbb\xbf" + ("\n".join(second) + "\n").encode())

    with pytest.raises(WidedeepError) as raised:
        read_eval_csv(path)

    assert str(raised.value) == (f"{path} line 4, field label: expected 0 or 1, got '\\ufeff{second[0][0]}' "
                                 "(U+FEFF is a byte order mark: one is skipped at the very start of the file "
                                 "only; were two files joined?)")


def test_a_utf16_file_is_named_as_such(tmp_path, random_lines):
    path = tmp_path / "eval.csv"
    path.write_bytes(("\n".join(random_lines(3, seed=27)) + "\n").encode("utf-16"))

    with pytest.raises(WidedeepError) as raised:
        load_eval_tensors(path)

    assert str(raised.value) == (f"{path} line 1: the file is UTF-16 text (it opens with a UTF-16 byte order "
                                 "mark), not UTF-8; convert it first, e.g. iconv -f UTF-16 -t UTF-8")


@pytest.mark.parametrize("read", [read_eval_csv, load_eval_tensors])
def test_a_directory_is_one_clear_error(tmp_path, cache, read):
    with pytest.raises(WidedeepError) as raised:
        read(tmp_path)
    assert str(raised.value) == f"{tmp_path}: is a directory, expected a Criteo CSV file"


def test_the_option_that_named_the_path_leads_the_message(tmp_path, cache):
    with pytest.raises(WidedeepError) as raised:
        load_eval_tensors(tmp_path / "absent.csv", option="--wd-eval-csv")
    assert str(raised.value) == f"--wd-eval-csv: {tmp_path / 'absent.csv'}: no such file, expected a Criteo CSV file"


def test_a_broken_symlink_names_its_target(tmp_path, cache):
    link = tmp_path / "eval.csv"
    link.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(WidedeepError) as raised:
        load_eval_tensors(link)
    assert str(raised.value) == (f"{link}: a symbolic link to {tmp_path / 'gone.csv'}, which does not exist; "
                                 "expected a Criteo CSV file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_one_clear_error(fixtures_csv, tmp_path, cache):
    path = tmp_path / "eval.csv"
    path.write_bytes((fixtures_csv / "labelled.csv").read_bytes())
    path.chmod(0)
    with pytest.raises(WidedeepError) as raised:
        load_eval_tensors(path)
    assert str(raised.value) == f"{path}: cannot read it (Permission denied), expected a Criteo CSV file"


def test_a_file_that_cannot_be_opened_is_one_clear_error_even_where_root_runs_the_tests(fixtures_csv, cache,
                                                                                       monkeypatch):
    path = fixtures_csv / "labelled.csv"
    real_open = os.open

    def refuse(name, *args, **kwargs):
        if Path(name) == path:
            raise PermissionError(13, "Permission denied")
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(csv_input.os, "open", refuse)
    with pytest.raises(WidedeepError) as raised:
        load_eval_tensors(path, option="--wd-eval-csv")
    assert str(raised.value) == f"--wd-eval-csv: {path}: cannot read it (Permission denied), expected a Criteo CSV file"


def test_a_socket_is_one_clear_error(cache):
    import socket
    import tempfile

    with tempfile.TemporaryDirectory() as short:  # a socket path must be short
        path = Path(short) / "s"
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
            with pytest.raises(WidedeepError) as raised:
                load_eval_tensors(path)
    assert str(raised.value) == (f"{path}: is a socket, expected a Criteo CSV file (a regular file, a FIFO or "
                                 "a <(...) stream)")


def test_a_full_cache_disk_while_spooling_names_the_cache(fifo, fixtures_csv, cache, monkeypatch):
    pipe = fifo()
    pipe.feed((fixtures_csv / "labelled.csv").read_bytes())

    def no_space(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv_input.os, "replace", no_space)
    with pytest.raises(WidedeepError) as raised:
        pipe.call(load_eval_tensors, pipe.path)
    assert str(raised.value) == (f"{pipe.path}: cannot copy the stream into {cache / 'streams'} (No space left on "
                                 "device); free space there or point WIDEDEEP_CACHE elsewhere")
    assert kept_files(cache) == []
