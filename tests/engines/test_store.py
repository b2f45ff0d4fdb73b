"""The engine cache: one build per key, nothing half-built ever trusted, one build among racing processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from widedeep_bench.cache_entry import CacheWarning, seal
from widedeep_bench.engines.base import EngineOptions
from widedeep_bench.engines.onnxruntime import OnnxruntimeRunner
from widedeep_bench.engines.store import BUILDS_LOG, MANIFEST, EngineKey, EngineStore
from widedeep_bench.errors import WidedeepError

KEY = EngineKey(onnx_sha256="ab" * 32, runner="onnxruntime", runner_version="1.0", precision="fp32",
                batch_profile=None, providers=("CPUExecutionProvider",), code="0123456789abcdef", device="")
ARTIFACT = "model.bin"


class CountingBuild:
    """A build that writes ``payload`` as the artifact and counts its calls in a file (visible across processes)."""

    def __init__(self, counter: Path, payload: bytes = b"engine bytes", seconds: float = 0.0):
        self.counter, self.payload, self.seconds = counter, payload, seconds

    def __call__(self, directory: Path) -> None:
        with self.counter.open("a") as handle:
            handle.write("built\n")
        time.sleep(self.seconds)
        (directory / ARTIFACT).write_bytes(self.payload)

    @property
    def calls(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0


def log_lines(root: Path) -> list[dict]:
    log = root / BUILDS_LOG
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def store(private_cache) -> EngineStore:
    return EngineStore()


@pytest.fixture
def build(tmp_path) -> CountingBuild:
    return CountingBuild(tmp_path / "builds.count")


def test_the_second_request_for_a_key_reuses_the_first_build(store, build):
    first = store.get_or_build(KEY, ARTIFACT, build)
    second = store.get_or_build(KEY, ARTIFACT, build)
    assert (first.cached, second.cached) == (False, True)
    assert build.calls == 1
    assert second.artifact == first.artifact and second.artifact.read_bytes() == b"engine bytes"
    assert second.build_seconds == pytest.approx(first.build_seconds)
    assert second.key == str(KEY) and second.key.startswith("onnxruntime-fp32-")


def test_each_real_build_appends_exactly_one_line_to_builds_log(store, build, private_cache):
    store.get_or_build(KEY, ARTIFACT, build)
    store.get_or_build(KEY, ARTIFACT, build)
    fp16 = EngineKey(**{**KEY.__dict__, "precision": "fp16"})
    store.get_or_build(fp16, ARTIFACT, build)
    lines = log_lines(private_cache)
    assert [(line["key"], line["runner"], line["precision"]) for line in lines] == [
        (str(KEY), "onnxruntime", "fp32"), (str(fp16), "onnxruntime", "fp16")]
    assert all(line["seconds"] >= 0 for line in lines)


@pytest.mark.parametrize("field, value", [
    ("onnx_sha256", "cd" * 32), ("runner", "openvino"), ("runner_version", "1.1"), ("precision", "fp16"),
    ("batch_profile", (1, 1024, 16384)), ("providers", ("CUDAExecutionProvider",)), ("code", "fedcba9876543210"),
    ("device", "NVIDIA H100 80GB HBM3 sm_90")])
def test_every_key_field_separates_engines(field, value):
    other = EngineKey(**{**KEY.__dict__, field: value})
    assert str(other) != str(KEY)


def test_a_build_that_raises_leaves_no_entry_and_no_log_line(store, build, private_cache):
    def crashing(directory: Path) -> None:
        (directory / ARTIFACT).write_bytes(b"half an eng")
        raise RuntimeError("simulated crash mid-build")

    with pytest.raises(RuntimeError, match="simulated crash"):
        store.get_or_build(KEY, ARTIFACT, crashing)
    assert not store.entry(KEY).exists()
    assert list(store.entry(KEY).parent.glob("*.tmp")) == []
    assert log_lines(private_cache) == []
    assert store.get_or_build(KEY, ARTIFACT, build).cached is False
    assert build.calls == 1


def test_a_build_that_writes_no_artifact_is_an_error(store):
    with pytest.raises(WidedeepError, match=f"wrote no {ARTIFACT}"):
        store.get_or_build(KEY, ARTIFACT, lambda directory: None)
    assert not store.entry(KEY).exists()


def _build_then_hang(root: str, counter: str) -> None:
    os.environ["WIDEDEEP_CACHE"] = root
    EngineStore().get_or_build(KEY, ARTIFACT, CountingBuild(Path(counter), seconds=60))


def test_a_killed_build_leaves_nothing_trusted_and_the_next_run_rebuilds(store, build, private_cache, tmp_path):
    started = tmp_path / "killed.count"
    child = multiprocessing.get_context("fork").Process(target=_build_then_hang,
                                                        args=(str(private_cache), str(started)))
    child.start()
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started.exists(), "the child never started its build"
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert not store.entry(KEY).exists()
    assert len(list(store.entry(KEY).parent.glob(f".{store.entry(KEY).name}.*.tmp"))) == 1  # its scratch
    record = store.get_or_build(KEY, ARTIFACT, build)
    assert record.cached is False and build.calls == 1
    assert list(store.entry(KEY).parent.glob("*.tmp")) == []  # the dead build's scratch is cleared


def _corrupt_missing_manifest(entry: Path) -> None:
    (entry / MANIFEST).unlink()


def _corrupt_artifact_bytes(entry: Path) -> None:
    (entry / ARTIFACT).write_bytes(b"engine bytez")  # same size, other content


def _corrupt_truncated_artifact(entry: Path) -> None:
    (entry / ARTIFACT).write_bytes(b"engine")


def _corrupt_manifest_json(entry: Path) -> None:
    (entry / MANIFEST).write_text('{"key": ')


def _corrupt_edited_manifest(entry: Path) -> None:
    manifest = json.loads((entry / MANIFEST).read_text())
    manifest["record"]["build_seconds"] = 0.0
    (entry / MANIFEST).write_text(json.dumps(manifest))


def _corrupt_other_key(entry: Path) -> None:  # an intact manifest, sealed for another key
    record = json.loads((entry / MANIFEST).read_text())["record"]
    seal(entry, {**record, "key_fields": {**record["key_fields"], "precision": "fp16"}})


@pytest.mark.parametrize("corrupt, differed", [
    (_corrupt_missing_manifest, "no manifest.json"), (_corrupt_artifact_bytes, f"{ARTIFACT} has XXH3-128"),
    (_corrupt_truncated_artifact, f"{ARTIFACT} has 6 bytes"), (_corrupt_manifest_json, "manifest.json is unreadable"),
    (_corrupt_edited_manifest, "manifest.json does not match its own digest"),
    (_corrupt_other_key, "manifest.json records key_fields")])
def test_an_entry_without_a_valid_manifest_is_rebuilt(store, build, corrupt, differed):
    store.get_or_build(KEY, ARTIFACT, build)
    corrupt(store.entry(KEY))
    with pytest.warns(CacheWarning, match=f"^cache entry {store.entry(KEY)}: {differed}.*; rebuilding it$"):
        record = store.get_or_build(KEY, ARTIFACT, build)
    assert record.cached is False and build.calls == 2
    assert record.artifact.read_bytes() == b"engine bytes"
    assert store.get_or_build(KEY, ARTIFACT, build).cached is True


def _race(root: str, counter: str, start_at: float, results) -> None:
    os.environ["WIDEDEEP_CACHE"] = root
    time.sleep(max(0.0, start_at - time.time()))
    record = EngineStore().get_or_build(KEY, ARTIFACT, CountingBuild(Path(counter), seconds=0.5))
    results.put(record.cached)


def test_processes_racing_for_one_key_build_it_once(private_cache, build):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 0.5
    workers = [context.Process(target=_race, args=(str(private_cache), str(build.counter), start_at, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert sorted(results.get(timeout=5) for _ in workers) == [False, True, True, True]
    assert build.calls == 1
    assert len(log_lines(private_cache)) == 1


@pytest.fixture
def runner_sources(tmp_path, monkeypatch) -> dict[str, Path]:
    """Copies of the ONNX Runtime runner's build sources, which its key is then computed from."""
    copies = {}
    for source in OnnxruntimeRunner.build_sources():
        copies[source.name] = tmp_path / "sources" / source.name
        copies[source.name].parent.mkdir(exist_ok=True)
        copies[source.name].write_bytes(source.read_bytes())
    monkeypatch.setattr(OnnxruntimeRunner, "build_sources", classmethod(lambda cls: tuple(copies.values())))
    return copies


def test_the_build_sources_are_the_runner_module_base_store_and_calibration():
    """calibration.py batches the rows an INT8 build calibrates on: editing it must rebuild INT8 engines."""
    assert [path.name for path in OnnxruntimeRunner.build_sources()] == ["onnxruntime.py", "base.py", "store.py",
                                                                         "calibration.py"]


def test_the_same_build_source_gives_the_same_key(converted_onnx, runner_sources):
    copied = OnnxruntimeRunner(converted_onnx).engine_key()
    assert len(copied.code) == 16
    assert copied.device == ""
    assert copied == OnnxruntimeRunner(converted_onnx).engine_key()
    with pytest.MonkeyPatch.context() as unpatched:
        unpatched.delattr(OnnxruntimeRunner, "build_sources")  # back to the real files: same bytes, same key
        assert OnnxruntimeRunner(converted_onnx).engine_key() == copied


@pytest.mark.parametrize("edited", ["onnxruntime.py", "base.py", "store.py"])
def test_an_edited_build_source_gives_a_new_key(converted_onnx, runner_sources, edited):
    before = OnnxruntimeRunner(converted_onnx).engine_key()
    source = runner_sources[edited]
    text = source.read_text()
    if edited == "onnxruntime.py":
        assert 'DISABLED_OPTIMIZERS = ["NchwcTransformer"]' in text
        text = text.replace('DISABLED_OPTIMIZERS = ["NchwcTransformer"]', "DISABLED_OPTIMIZERS = []")
    else:
        text += "\n# edited\n"
    source.write_text(text)
    after = OnnxruntimeRunner(converted_onnx).engine_key()
    assert after.code != before.code and str(after) != str(before)
    assert {**after.fields(), "code": before.code} == before.fields()  # only the code digest moved


def test_an_engine_built_by_other_code_is_rebuilt_not_reused(converted_onnx, private_cache, runner_sources):
    runner = OnnxruntimeRunner(converted_onnx, EngineOptions(threads=1))
    first = runner.build()
    assert (first.cached, runner.build().cached) == (False, True)
    onnxruntime_py = runner_sources["onnxruntime.py"]
    onnxruntime_py.write_text(onnxruntime_py.read_text().replace('["NchwcTransformer"]', "[]"))
    rebuilt = runner.build()
    assert rebuilt.cached is False and rebuilt.key != first.key
    assert len(log_lines(private_cache)) == 2
