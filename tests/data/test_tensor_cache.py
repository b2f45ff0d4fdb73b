"""The tensor cache: keyed by content and PREPROCESS_VERSION, loaded as memory maps without reading
the CSV again, bypassed by ``use_cache=False``; a damaged entry is detected and rebuilt with a warning,
a killed store's temporary is removed by the next load, a full disk is one error naming the entry."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from widedeep_bench import digests
from widedeep_bench.cache_entry import MANIFEST, CacheWarning, seal
from widedeep_bench.data import criteo_csv
from widedeep_bench.data.criteo_csv import PREPROCESS_VERSION, load_eval_tensors, read_eval_csv
from widedeep_bench.errors import WidedeepError


@pytest.fixture
def eval_csv(write_csv, random_lines):
    return write_csv("eval.csv", random_lines(300, seed=21))


@pytest.fixture
def parse_count(monkeypatch):
    """Counts the CSV parses (``tensors_from_csv_bytes`` calls) made through criteo_csv."""
    calls = []
    parse = criteo_csv.tensors_from_csv_bytes

    def counting(*args, **kwargs):
        calls.append(args[1])
        return parse(*args, **kwargs)

    monkeypatch.setattr(criteo_csv, "tensors_from_csv_bytes", counting)
    return calls


def entries(cache):
    return sorted(p.name for p in (cache / "tensors").glob("*") if p.is_dir())


def test_second_load_comes_from_the_cache_as_memory_maps(eval_csv, cache, parse_count):
    first = load_eval_tensors(eval_csv)
    second = load_eval_tensors(eval_csv)
    assert parse_count == [str(eval_csv)]  # parsed once
    assert entries(cache) == [f"{first.sha256}-v{PREPROCESS_VERSION}"]
    for name in ("categorical", "numeric", "labels"):
        array = getattr(second, name)
        assert isinstance(array, np.memmap) and not array.flags.writeable
        np.testing.assert_array_equal(array, getattr(read_eval_csv(eval_csv), name))
    np.testing.assert_array_equal(second.numeric_range, first.numeric_range)


def test_cached_load_does_not_read_the_csv(eval_csv, monkeypatch):
    load_eval_tensors(eval_csv)
    monkeypatch.setattr(criteo_csv, "_read_bytes", lambda path: pytest.fail("the CSV was read again"))
    assert load_eval_tensors(eval_csv).rows == 300


def test_no_cache_bypasses_the_cache(eval_csv, cache, parse_count):
    load_eval_tensors(eval_csv)
    tensors = load_eval_tensors(eval_csv, use_cache=False)
    assert len(parse_count) == 2
    assert not isinstance(tensors.categorical, np.memmap)


def test_no_cache_writes_no_entry(eval_csv, cache):
    load_eval_tensors(eval_csv, use_cache=False)
    assert entries(cache) == []


def test_changed_file_gets_a_new_key(eval_csv, cache, random_lines, write_csv):
    before = load_eval_tensors(eval_csv)
    stat = eval_csv.stat()
    write_csv("eval.csv", random_lines(300, seed=22))
    os.utime(eval_csv, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    after = load_eval_tensors(eval_csv)
    assert after.sha256 != before.sha256
    assert len(entries(cache)) == 2
    assert not np.array_equal(after.categorical, before.categorical)


def test_same_content_elsewhere_shares_the_entry_and_reports_its_own_path(eval_csv, tmp_path, cache, parse_count):
    copy = tmp_path / "copy.csv"
    copy.write_bytes(eval_csv.read_bytes())
    load_eval_tensors(eval_csv)
    assert load_eval_tensors(copy).source == str(copy)
    assert len(parse_count) == 1 and len(entries(cache)) == 1


def test_new_preprocess_version_gets_a_new_key(eval_csv, cache, monkeypatch):
    load_eval_tensors(eval_csv)
    monkeypatch.setattr(criteo_csv, "PREPROCESS_VERSION", PREPROCESS_VERSION + 1)
    load_eval_tensors(eval_csv)
    assert [name.rsplit("-", 1)[1] for name in entries(cache)] == [f"v{PREPROCESS_VERSION}",
                                                                   f"v{PREPROCESS_VERSION + 1}"]


def test_unlabelled_file_is_cached_without_labels(write_csv, random_lines):
    path = write_csv("test.csv", random_lines(50, seed=23, labelled=False))
    load_eval_tensors(path)
    assert load_eval_tensors(path).labels is None


def entry_of(cache, tensors):
    return cache / "tensors" / f"{tensors.sha256}-v{PREPROCESS_VERSION}"


def flip_labels(entry):  # same size, other bytes: what a size check cannot see
    labels = np.load(entry / "labels.npy")
    np.save(entry / "labels.npy", 1 - labels)


def truncate_categorical(entry):
    data = (entry / "categorical.npy").read_bytes()
    (entry / "categorical.npy").write_bytes(data[:len(data) // 2])


def remove_numeric(entry):
    (entry / "numeric.npy").unlink()


def garbage_manifest(entry):
    (entry / MANIFEST).write_text('{"format": 1, "files": ')


def seal_for_another_file(entry):
    record = json.loads((entry / MANIFEST).read_text())["record"]
    seal(entry, {**record, "sha256": "0" * 64})


@pytest.mark.parametrize("corrupt, differed", [
    (flip_labels, "labels.npy has XXH3-128"), (truncate_categorical, "categorical.npy has .* bytes"),
    (remove_numeric, "numeric.npy is missing"), (garbage_manifest, "manifest.json is unreadable"),
    (seal_for_another_file, "manifest.json records sha256 = '0000"),
])
def test_a_damaged_entry_is_detected_and_rebuilt(eval_csv, cache, parse_count, corrupt, differed):
    entry = entry_of(cache, load_eval_tensors(eval_csv))
    corrupt(entry)
    with pytest.warns(CacheWarning, match=f"^cache entry {entry}: {differed}.*; rebuilding it$"):
        tensors = load_eval_tensors(eval_csv)
    assert len(parse_count) == 2
    fresh = read_eval_csv(eval_csv)
    for name in ("categorical", "numeric", "labels"):
        np.testing.assert_array_equal(getattr(tensors, name), getattr(fresh, name))


def test_preprocess_does_not_serve_flipped_labels(eval_csv, cache, tmp_path, capsys):
    from widedeep_bench.__main__ import main

    out = tmp_path / "eval.npz"
    assert main(["preprocess", str(eval_csv), "--out", str(out)]) == 0
    flip_labels(entry_of(cache, read_eval_csv(eval_csv)))
    with pytest.warns(CacheWarning, match="labels.npy has XXH3-128"):
        assert main(["preprocess", str(eval_csv), "--out", str(out)]) == 0
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["labels"], read_eval_csv(eval_csv).labels)


def test_a_second_load_in_a_process_hashes_no_array_again(eval_csv, monkeypatch):
    monkeypatch.setattr(digests, "SETTLED_NS", -1)  # the entry's files count as settled at once
    load_eval_tensors(eval_csv)
    load_eval_tensors(eval_csv)  # verifies the entry once, and remembers each file's digest
    opened = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self.name) or real_open(self, *a, **k))
    assert load_eval_tensors(eval_csv).rows == 300
    assert [name for name in opened if name.endswith(".npy")] == []


def test_a_full_disk_while_storing_is_one_error_naming_the_entry(eval_csv, cache, monkeypatch):
    save = np.save

    def save_then_fill_the_disk(path, array, *args, **kwargs):
        save(path, array, *args, **kwargs)
        if Path(path).name == "numeric.npy":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", save_then_fill_the_disk)
    entry = entry_of(cache, read_eval_csv(eval_csv))
    with pytest.raises(WidedeepError, match=rf"^{entry}: cannot write \(No space left on device \[ENOSPC\]\)$"):
        load_eval_tensors(eval_csv)
    assert list((cache / "tensors").iterdir()) == [entry.parent / f".{entry.name}.lock"]


KILLED_WHILE_STORING = """
import sys, time
import numpy as np
from widedeep_bench.data import criteo_csv
save = np.save
def save_then_hang(path, array, *args, **kwargs):  # killed with the entry half written
    save(path, array, *args, **kwargs)
    print("storing", flush=True)
    time.sleep(600)
np.save = save_then_hang
criteo_csv.load_eval_tensors(sys.argv[1])
"""


def test_a_store_killed_midway_leaves_a_temporary_the_next_load_removes(eval_csv, cache, parse_count):
    import subprocess
    import sys

    storer = subprocess.Popen([sys.executable, "-c", KILLED_WHILE_STORING, str(eval_csv)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert storer.stdout.readline().strip() == "storing"
    finally:
        storer.send_signal(signal.SIGKILL)
        storer.wait(timeout=30)
    entry = entry_of(cache, read_eval_csv(eval_csv))
    (orphan,) = [p for p in entry.parent.iterdir() if p.name.endswith(".tmp")]
    assert orphan.name.startswith(f".{entry.name}.") and not entry.exists()
    assert load_eval_tensors(eval_csv).rows == 300
    assert sorted(p.name for p in entry.parent.iterdir()) == sorted([entry.name, f".{entry.name}.lock"])


RACER = """
import pathlib, sys, time
from widedeep_bench.data import criteo_csv, tensor_cache
store = tensor_cache.store
def slow_store(*args):  # holds the lock long enough for the other process to arrive
    time.sleep(0.5)
    store(*args)
    print("stored", flush=True)
tensor_cache.store = slow_store
print("ready", flush=True)
while not pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.01)
print(criteo_csv.load_eval_tensors(sys.argv[1]).rows, flush=True)
"""


def test_two_processes_racing_for_one_entry_build_it_once(eval_csv, tmp_path, cache):
    import subprocess
    import sys
    from pathlib import Path

    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(eval_csv), str(go)], stdout=subprocess.PIPE,
                               text=True, cwd=Path(__file__).resolve().parents[2]) for _ in range(2)]
    assert [racer.stdout.readline().strip() for racer in racers] == ["ready", "ready"]
    go.touch()
    outputs = [racer.communicate(timeout=120)[0].split() for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0]
    assert sorted(output[-1] for output in outputs) == ["300", "300"]
    assert sum(output.count("stored") for output in outputs) == 1
    assert len(entries(cache)) == 1
