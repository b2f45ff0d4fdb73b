"""What ``widedeep-bench loadgen`` and the scenario gates run: runner instances, a scenario run with the null
runner's ceiling beside it, an accuracy run scored from LoadGen's accuracy log, the peak search, compliance.

Instances are separate runners (each its own session or engine), ``threads`` intra-op threads each; by
default one per physical core with one thread each, which measured higher than one instance with every core
(Offline, ONNX Runtime FP32, 2-core EPYC: 43.7k against 37.6k samples/s) and is what lets Server batches
overlap. They run as threads of this process or as worker processes (``workers``); with ``devices``, one
worker process per accelerator, every one under the same LoadGen run.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np

from widedeep_bench.engines import EngineOptions, make_runner
from widedeep_bench.engines.base import DEFAULT_BATCH_PROFILE
from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen import logs
from widedeep_bench.loadgen.scenarios import (PEAK_TRIES, ScenarioResult, ScenarioSettings, compliance, find_peak,
                                              run_scenario, settings_of_gate)
from widedeep_bench.loadgen.workers import (DEFAULT_KIND, DEVICES_EXPECTED, KINDS, InstanceSpec, LocalInstance,
                                            ProcessInstance, devices_conflict, parse_devices, visible_device)
from widedeep_bench.progress import say

NULL = "null"
NULL_DURATION_S = 2.0  # the Offline ceiling beside a result: a short run is enough, the null runner is steady


def physical_cores() -> int:
    import joblib

    return joblib.cpu_count(only_physical_cores=True)


class Instances:
    """``count`` started runner instances of ``backend`` at ``precision`` (``model``: an ONNX, a SavedModel for
    the TF original, None for the null runner), as threads of this process or worker processes. Use as a
    context manager; ``members`` are the instances (``workers.LocalInstance`` / ``ProcessInstance``)."""

    def __init__(self, backend: str, precision: str, model: Path | None, *, count: int | None = None,
                 threads: int | None = None, max_batch: int | None = None, providers: tuple[str, ...] = (),
                 store=None, calibration=None, kind: str | None = None, devices: tuple[str, ...] | None = None) -> None:
        """``max_batch``: the largest batch the batcher will form (engines with a batch profile are built for
        it); ``providers``: ONNX Runtime execution providers, in priority order (onnxruntime only);
        ``calibration``: the rows an INT8 engine calibrates on (``widedeep_bench.calibration``); ``kind``:
        "threads" or "processes" (None: ``DEFAULT_KIND``); ``devices``: accelerator indices, one worker process
        per device (``resolve_devices``)."""
        if (count is not None and count < 1) or (threads is not None and threads < 1):
            raise WidedeepError(f"instances {count} and threads {threads} per instance: expected at least 1 each")
        if kind is not None and kind not in KINDS:
            raise WidedeepError(f"instance kind {kind!r}: expected one of {list(KINDS)}")
        if devices is not None:
            conflict = devices_conflict(count is not None, kind)
            if conflict:
                raise WidedeepError(f"devices {','.join(devices)}: {conflict}")
            kind, count = "processes", len(devices)
        self.kind = kind or DEFAULT_KIND
        self.devices = devices
        self.count = physical_cores() if count is None else count
        self.threads = max(1, physical_cores() // self.count) if threads is None else threads
        self.backend, self.precision, self.model, self.store = backend, precision, model, store
        self.options = EngineOptions(precision=precision, threads=self.threads, providers=providers,
                                     max_batch=max(max_batch or 1, DEFAULT_BATCH_PROFILE[2]),
                                     calibration=calibration)
        self.members: list = []
        self._stack = ExitStack()

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.precision}"

    def __enter__(self) -> list:
        try:
            if self.kind == "threads":
                for _ in range(self.count):
                    runner = make_runner(self.backend, self.model, self.options, self.store)
                    self.members.append(LocalInstance(self._stack.enter_context(runner)))
            else:
                self._start_processes()
        except BaseException:
            self._stack.close()
            self.members = []
            raise
        return self.members

    def _start_processes(self) -> None:
        """Every worker launched first, then each awaited: their runtimes import and their engines load side by
        side (a build is made once, under the engine store's lock)."""
        for number in range(self.count):
            device = None if self.devices is None else self.devices[number]
            spec = InstanceSpec(self.backend, self.model, self.options, self.store, device,
                                visible=None if device is None else visible_device(device))
            instance = ProcessInstance(spec, number, self.options.max_batch)
            self._stack.callback(instance.close)
            instance.launch()
            self.members.append(instance)
        for instance in self.members:
            instance.wait_ready()

    def __exit__(self, *exc_info) -> None:
        self._stack.close()
        self.members = []

    def describe(self) -> dict:
        return {"backend": self.backend, "precision": self.precision, "instances": self.count,
                "instance_kind": self.kind, "threads_per_instance": self.threads,
                "providers": list(self.options.providers), "devices": None if self.devices is None else list(self.devices),
                "members": [member.describe() for member in self.members],
                "version": self.members[0].version() if self.members else None}


def resolve_devices(backend: str, options: EngineOptions, given: str, *, option: str = "--devices") -> tuple[str, ...]:
    """``given`` ("all", or accelerator indices "0,1") as the devices of ``backend``, one instance each; refused
    for a runner that runs on the CPU, and "all" for one that cannot count its devices. ``option`` names where
    ``given`` was written."""
    from widedeep_bench.engines.registry import runner_class

    count = runner_class(backend).accelerator_count(options)
    if count is None:
        raise WidedeepError(f"{option} {given}: {backend} with these options runs on the CPU; one instance per "
                            f"device needs an accelerator runner (torch on CUDA, tensorrt, ixrt, onnxruntime with "
                            f"CUDA or TensorRT providers)")
    try:
        devices = parse_devices(given)
    except WidedeepError:
        raise WidedeepError(f"{option} {given}: expected {DEVICES_EXPECTED}") from None
    if devices is None:
        if count < 1:
            raise WidedeepError(f"{option} all: {backend} cannot count its devices here; name them, e.g. 0,1")
        return tuple(str(index) for index in range(count))
    beyond = [d for d in devices if count > 0 and int(d) >= count]
    if beyond:
        raise WidedeepError(f"{option} {given}: {backend} sees {count} device(s) (0-{count - 1}); no device "
                            f"{', '.join(beyond)}")
    return devices


def run(instances: Instances, tensors, settings: ScenarioSettings, out: Path) -> ScenarioResult:
    return run_scenario(instances.members, tensors, settings, out, label=instances.label)


def null_ceiling(tensors, settings: ScenarioSettings, out: Path, *, count: int, kind: str = DEFAULT_KIND) -> dict:
    """The harness's own ceiling beside a result: the null runner (feed checked, a constant answered) through
    the same batcher, instance count and kind, Offline (samples/s) and, for a Server result, at the same target QPS
    (whether the harness alone keeps up, and its p99)."""
    short = replace(settings, mode="performance", duration_s=min(settings.duration_s, NULL_DURATION_S),
                    log_probability=0.0)
    with Instances(NULL, "fp32", None, count=count, max_batch=settings.batch, kind=kind) as members:
        offline = run_scenario(members, tensors, replace(short, scenario="Offline", target_qps=None,
                                                         max_batch=None), out / "null-Offline", label=NULL)
        ceiling = {"offline_samples_per_s": offline.samples_per_s, "offline_valid": offline.valid,
                   "instances": count, "instance_kind": kind, "duration_s": short.duration_s}
        if settings.scenario == "Server":  # as long as the run it stands beside: a 2 s Server tail is noise
            server = run_scenario(members, tensors, replace(short, duration_s=settings.duration_s),
                                  out / "null-Server", label=NULL)
            ceiling["server_at_target"] = {"target_qps": settings.target_qps, "valid": server.valid,
                                           "completed_qps": server.completed_qps, "p99_ms": server.latency_ms["p99"]}
    say(f"harness ceiling (null runner x{count}, {kind}): {ceiling['offline_samples_per_s']:,.0f} samples/s Offline")
    return ceiling


def accuracy_of_log(directory: Path, tensors):
    """Top-1, AUC and log loss of the click probabilities in ``directory``'s accuracy log against the labels
    (``metrics.accuracy``, the suite's own rule; p(no click) = 1 - p(click))."""
    from widedeep_bench.metrics import accuracy

    clicks = logs.click_probabilities(directory, tensors.rows)
    return accuracy(np.stack([1.0 - clicks, clicks], axis=1), tensors.labels)


def peak(instances: Instances, tensors, settings: ScenarioSettings, out: Path, *, tries: int = PEAK_TRIES):
    """An Offline run (the bound: no Server load is served faster), then the Server peak search at
    ``settings``' latency bound. Returns ``(offline result, PeakSearch)``."""
    offline = run(instances, tensors, replace(settings, scenario="Offline", target_qps=None, max_batch=None),
                  out / "Offline-performance")
    tried = []

    def run_at(qps: float) -> ScenarioResult:
        tried.append(qps)
        return run(instances, tensors, replace(settings, scenario="Server", target_qps=qps),
                   out / f"Server-peak-try{len(tried)}-{qps:.0f}qps")

    search = find_peak(run_at, offline.samples_per_s, tries=tries)
    return offline, search


def check_compliance(instances: Instances, tensors, settings: ScenarioSettings, out: Path):
    from widedeep_bench.compare import TOLERANCES

    return compliance(lambda s, directory: run(instances, tensors, s, directory), settings, out / "compliance",
                      rows=tensors.rows, atol=TOLERANCES[instances.precision].atol)


def gated_performance(instances: Instances, tensors, gate, out: Path) -> tuple[ScenarioResult, dict]:
    """A ``[[scenario]]`` table's performance run and the null runner's ceiling beside it."""
    settings = settings_of_gate(gate)
    result = run(instances, tensors, settings, out / f"{gate.scenario}-performance")
    return result, null_ceiling(tensors, settings, out, count=instances.count, kind=instances.kind)


def gated_accuracy(instances: Instances, tensors, gate, out: Path):
    """A ``[[scenario]]`` table's accuracy run, scored from LoadGen's accuracy log: ``(result, Accuracy)``."""
    directory = out / f"{gate.scenario}-accuracy"
    result = run(instances, tensors, settings_of_gate(gate, "accuracy"), directory)
    return result, accuracy_of_log(directory, tensors)


def method(result: ScenarioResult, null: dict) -> str:
    """How a scenario figure was obtained, in words (written next to it in the report)."""
    settings = result.settings
    traffic = (f"Server, Poisson arrivals at {settings['target_qps']:g} QPS, p99 bound {settings['latency_ms']:g} ms"
               if result.scenario == "Server" else result.scenario)
    if result.scenario == "Server":
        traffic += f" (LoadGen scheduled {result.scheduled_qps:,.0f}, completed {result.completed_qps:,.0f} QPS)"
    return (f"MLPerf LoadGen {traffic}, >= {settings['duration_s']:g} s; {result.instances} instance(s), dynamic "
            f"batcher <= {settings['max_batch']} samples / {settings['max_wait_ms']:g} ms, mean batch "
            f"{result.batcher['mean_batch']:.1f}; figures from mlperf_log_detail.txt; null runner's ceiling "
            f"{null['offline_samples_per_s']:,.0f} samples/s Offline")
