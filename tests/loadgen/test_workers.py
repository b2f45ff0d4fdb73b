"""Runner instances in worker processes: fed the eval rows through shared memory, answering LoadGen exactly as
the same runner does in this process; one worker per device sees only its device; a worker's failure is one
line naming the instance."""

from __future__ import annotations

import functools
import os
import time

import numpy as np
import pytest

from widedeep_bench.engines.base import EngineOptions
from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen import job, logs
from widedeep_bench.loadgen.scenarios import ScenarioSettings, run_scenario
from widedeep_bench.loadgen.sut import SampleLibrary
from widedeep_bench.loadgen.workers import DEVICE_VARIABLE, InstanceSpec, ProcessInstance, visible_device

from .runners import SigmoidRunner


class RaisingRunner(SigmoidRunner):
    """Raises on a batch of 7 samples; answers every other batch."""

    def infer_impl(self, feeds):
        if next(iter(feeds.values())).shape[0] == 7 * 26:
            raise RuntimeError("no batches of seven here")
        return super().infer_impl(feeds)


class HangingRunner(SigmoidRunner):
    """Never answers a batch of 7 samples, as a runtime stuck in a device call."""

    def infer_impl(self, feeds):
        if next(iter(feeds.values())).shape[0] == 7 * 26:
            time.sleep(3600)
        return super().infer_impl(feeds)


class ExitingRunner(SigmoidRunner):
    """Ends its process (exit code 3) on a batch of 7 samples, as a crashing runtime does."""

    def infer_impl(self, feeds):
        if next(iter(feeds.values())).shape[0] == 7 * 26:
            os._exit(3)
        return super().infer_impl(feeds)


def direct_clicks(runner, tensors, indices) -> np.ndarray:
    """``runner``'s p(click) of rows ``indices``, inferred in this process."""
    with runner:
        return runner.infer(*SampleLibrary(tensors).feed(indices))[:, 1]


def refusing_runner():
    raise RuntimeError("the runtime is not installed in this worker")


@pytest.fixture
def start_workers():
    """``start_workers(factory, count)``: started ``ProcessInstance``s of ``factory``, closed after the test."""
    started = []

    def start(factory=SigmoidRunner, count=1, capacity=4096):
        for number in range(count):
            instance = ProcessInstance(InstanceSpec("sigmoid-test", None, EngineOptions(), None, factory=factory),
                                       number, capacity)
            started.append(instance)
            instance.launch()
        for instance in started[-count:]:
            instance.wait_ready()
        return started[-count:]

    yield start
    for instance in started:
        instance.close()


@pytest.fixture
def bound_worker(start_workers, tensors):
    """``bound_worker(factory)``: one started worker of ``factory`` bound to the test rows in shared memory."""
    library = SampleLibrary(tensors)
    library.share()

    def start(factory):
        (worker,) = start_workers(factory)
        worker.bind(library)
        return worker

    yield start
    library.close()


def test_worker_processes_answer_loadgen_exactly_as_the_runner_does_in_this_process(start_workers, tensors,
                                                                                      expected_clicks, tmp_path):
    workers = start_workers(count=2)
    settings = ScenarioSettings("Offline", mode="accuracy", duration_s=0.2, max_batch=300)
    result = run_scenario(workers, tensors, settings, tmp_path, label="sigmoid-test")
    assert result.valid and result.instances == 2 and result.batcher["samples"] == tensors.rows
    np.testing.assert_array_equal(logs.click_probabilities(tmp_path, tensors.rows), expected_clicks)
    pids = {worker.describe()["pid"] for worker in workers}
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_worker_error_is_one_line_naming_the_instance_and_the_worker_goes_on(bound_worker, tensors):
    worker = bound_worker(RaisingRunner)
    with pytest.raises(WidedeepError, match=r"^sigmoid-test instance 0 \(worker process, pid \d+\): RuntimeError: "
                                            r"no batches of seven here \(test_workers.py:\d+\)$"):
        worker.clicks(np.arange(7))
    np.testing.assert_array_equal(worker.clicks(np.arange(5)), direct_clicks(SigmoidRunner(), tensors, np.arange(5)))


def test_a_worker_that_dies_is_named_with_its_exit_code(bound_worker):
    worker = bound_worker(ExitingRunner)
    with pytest.raises(WidedeepError, match=r"^sigmoid-test instance 0 \(worker process, pid \d+\) died while "
                                            r"answering a batch of 7 \(exit code 3\)$"):
        worker.clicks(np.arange(7))


def test_a_worker_silent_past_the_batch_timeout_is_stopped_and_named(bound_worker, monkeypatch):
    monkeypatch.setattr("widedeep_bench.loadgen.workers.BATCH_TIMEOUT_S", 1.0)
    worker = bound_worker(HangingRunner)
    with pytest.raises(WidedeepError, match=r"^sigmoid-test instance 0 \(worker process, pid \d+\) was silent for 1 s "
                                            r"while answering a batch of 7; stopped it$"):
        worker.clicks(np.arange(7))
    worker.process.join(timeout=10)
    assert not worker.process.is_alive()


def test_a_worker_whose_runner_cannot_start_raises_the_reason(start_workers):
    with pytest.raises(WidedeepError, match=r"instance 0 \(worker process, pid \d+\): cannot start its runner: "
                                            r"RuntimeError: the runtime is not installed in this worker$"):
        start_workers(refusing_runner)


def test_a_batch_larger_than_the_workers_buffer_is_refused(start_workers, tensors):
    (worker,) = start_workers(capacity=16)
    with pytest.raises(WidedeepError, match="a batch of 17 samples exceeds its buffer of 16"):
        worker.clicks(np.arange(17))


def test_one_worker_per_device_each_seeing_only_its_device(monkeypatch):
    monkeypatch.delenv(DEVICE_VARIABLE, raising=False)
    with job.Instances("null", "fp32", None, devices=("3", "5"), max_batch=64) as members:
        seen = [member.describe() for member in members]
    assert [m["device"] for m in seen] == ["3", "5"]
    assert [m["device_visible"] for m in seen] == ["3", "5"]  # the worker's CUDA_VISIBLE_DEVICES
    assert len({m["pid"] for m in seen}) == 2
    assert os.environ.get(DEVICE_VARIABLE) != "3"  # this process is untouched


def test_a_job_given_a_subset_of_devices_pins_each_worker_to_its_own_entry(monkeypatch):
    # A scheduler gave this job GPUs 2 and 3, which it sees as 0 and 1: worker 1 must see GPU 3, not GPU 1.
    monkeypatch.setenv(DEVICE_VARIABLE, "2,3")
    with job.Instances("null", "fp32", None, devices=("0", "1"), max_batch=64) as members:
        seen = [member.describe() for member in members]
    assert [(m["device"], m["device_visible"]) for m in seen] == [("0", "2"), ("1", "3")]
    with pytest.raises(WidedeepError, match=r"device 2: this process sees 2 device\(s\) \(CUDA_VISIBLE_DEVICES=2,3\)"):
        visible_device("2")


def test_devices_and_a_conflicting_instance_count_or_threads_are_refused():
    with pytest.raises(WidedeepError, match="one worker process per device"):
        job.Instances("null", "fp32", None, devices=("0", "1"), count=3)
    with pytest.raises(WidedeepError, match="one worker process per device"):
        job.Instances("null", "fp32", None, devices=("0",), kind="threads")
    with pytest.raises(WidedeepError, match="instance kind 'fibers'"):
        job.Instances("null", "fp32", None, kind="fibers")


class _Counting:
    """A runner class that sees ``count`` accelerators (None: a CPU runner)."""

    def __init__(self, count):
        self.count = count

    def accelerator_count(self, options):
        return self.count


@pytest.mark.parametrize("count, given, expected", [
    (None, "0", "runs on the CPU; one instance per device needs an accelerator runner"),
    (0, "all", "cannot count its devices here; name them"),
    (2, "0,0", "expected 'all' or distinct device indices"),
    (2, "gpu0", "expected 'all' or distinct device indices"),
    (2, "1,2", "sees 2 device(s) (0-1); no device 2"),
])
def test_bad_devices_are_one_line_saying_what_was_expected(monkeypatch, count, given, expected):
    monkeypatch.setattr("widedeep_bench.engines.registry.runner_class", lambda name: _Counting(count))
    with pytest.raises(WidedeepError, match=f"^--devices {given}: .*{expected}".replace("(", r"\(").replace(")", r"\)")):
        job.resolve_devices("torch", EngineOptions(), given)


@pytest.mark.parametrize("count, given, expected", [(4, "all", ("0", "1", "2", "3")), (4, "2, 0", ("2", "0")),
                                                    (0, "1", ("1",))])
def test_devices_resolve_to_the_indices_given_or_every_device_counted(monkeypatch, count, given, expected):
    monkeypatch.setattr("widedeep_bench.engines.registry.runner_class", lambda name: _Counting(count))
    assert job.resolve_devices("torch", EngineOptions(), given) == expected


def test_a_cpu_runner_says_it_runs_on_the_cpu():
    from widedeep_bench.engines.registry import runner_class

    assert runner_class("onnxruntime").accelerator_count(EngineOptions()) is None
    assert runner_class("null").accelerator_count(EngineOptions()) is None


def test_a_partial_runner_factory_travels_to_the_worker(bound_worker, tensors):
    worker = bound_worker(functools.partial(SigmoidRunner, ulp_on_odd_batches=True))
    direct = direct_clicks(SigmoidRunner(ulp_on_odd_batches=True), tensors, np.arange(3))
    np.testing.assert_array_equal(worker.clicks(np.arange(3)), direct)
