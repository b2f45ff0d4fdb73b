"""Runner instances as the system under test sees them: in this process (a thread each) or in worker
processes (one each, optionally one per accelerator).

An instance answers ``clicks(indices)``: the click probabilities of eval rows ``indices`` (float32), after
``bind(library)`` gave it the rows. A ``LocalInstance`` gathers and infers on the calling thread (the runtime
releases the GIL while it computes). A ``ProcessInstance`` runs its runner in a worker process started with
``spawn``: the sample library is shared memory the worker maps once per run, a batch is its row indices written
into the worker's shared index buffer and one 9-byte message, the answer the worker's shared click buffer and
one empty message back. The parent's GIL then holds only the batcher and LoadGen's responses, never the
gather or the runtime's Python glue. A worker pinned to a device sees that device only (``CUDA_VISIBLE_DEVICES``,
which CUDA, TensorRT, ONNX Runtime's CUDA providers, torch and Iluvatar's CoreX all honour), so each instance
builds and runs its engine there.

Every failure is one line naming the instance: a worker that cannot start its runner, fails a batch or dies.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import struct
import traceback
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path
from typing import Callable

import numpy as np

from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen.sut import gather

KINDS = ("threads", "processes")
DEFAULT_KIND = "threads"  # what measured higher (README, "MLPerf LoadGen scenarios")
DEVICE_VARIABLE = "CUDA_VISIBLE_DEVICES"  # CUDA, TensorRT, ORT's CUDA/TensorRT providers, torch, CoreX (IxRT)
START_TIMEOUT_S = 900.0  # a worker's runner start may build an engine (TensorRT: minutes)
BATCH_TIMEOUT_S = 600.0  # no batch takes this long: a worker silent for it is stuck (a hung device call)
_CLICKS, _CONTROL, _ERROR = b"C", b"P", b"E"
_COUNT = struct.Struct("<q")


ALL_DEVICES = "all"
DEVICES_EXPECTED = "'all' or distinct device indices such as 0,1"


def devices_conflict(instances_given: bool, kind: str | None) -> str | None:
    """Why devices cannot be asked for together with an instance count or thread instances, or None: one
    worker process per device is both the count and the kind."""
    if instances_given or kind == "threads":
        return "one worker process per device: give neither an instance count nor thread instances with devices"
    return None


def visible_device(index: str) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value that shows a worker this process's device ``index``: where this
    process already sees a subset (a job given GPUs 2,3 sees them as 0,1), the entry of its own list."""
    parent = [part.strip() for part in os.environ.get(DEVICE_VARIABLE, "").split(",") if part.strip()]
    if not parent:
        return index
    if int(index) >= len(parent):
        raise WidedeepError(f"device {index}: this process sees {len(parent)} device(s) ({DEVICE_VARIABLE}="
                            f"{','.join(parent)})")
    return parent[int(index)]


def parse_devices(given: str) -> tuple[str, ...] | None:
    """``"all"`` -> None (every device the runner counts); ``"0, 1"`` -> ``("0", "1")``."""
    if given.strip() == ALL_DEVICES:
        return None
    devices = tuple(part.strip() for part in given.split(","))
    if not all(part.isdigit() for part in devices) or len(set(devices)) != len(devices):
        raise WidedeepError(f"devices {given!r}: expected {DEVICES_EXPECTED}")
    return devices


@dataclass(frozen=True)
class InstanceSpec:
    """What a worker needs to make its runner (picklable): ``make_runner(backend, model, options, store)``, on
    ``device`` (this process's index of it; None: whatever the runtime picks), which the worker alone sees as
    ``visible`` (its ``CUDA_VISIBLE_DEVICES``, ``visible_device``). ``factory``: a module-level callable making
    the runner instead (a runner that is not registered, e.g. a test's)."""

    backend: str
    model: Path | None
    options: object  # EngineOptions
    store: object  # EngineStore or None
    device: str | None = None
    factory: Callable | None = None
    visible: str | None = None

    def make_runner(self):
        if self.factory is not None:
            return self.factory()
        from widedeep_bench.engines.registry import make_runner

        return make_runner(self.backend, self.model, self.options, self.store)


# --- in this process ---------------------------------------------------------------------------------

class LocalInstance:
    """A runner in this process; the batcher thread that calls ``clicks`` gathers the rows and infers."""

    kind = "threads"

    def __init__(self, runner) -> None:
        self.runner = runner
        self.library = None

    @property
    def name(self) -> str:
        return self.runner.name

    @property
    def options(self):
        return self.runner.options

    def describe(self) -> dict:
        return {"pid": os.getpid(), "device": None}

    def version(self) -> str:
        return self.runner.version()

    def bind(self, library) -> None:
        self.library = library

    def clicks(self, indices) -> np.ndarray:
        probabilities = self.runner.infer(*self.library.feed(indices))
        return np.ascontiguousarray(probabilities[:, 1], dtype=np.float32)

    def infer(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        return self.runner.infer(categorical, numeric)


# --- in a worker process -----------------------------------------------------------------------------

class SharedRows:
    """A ``SampleLibrary``'s rows copied into shared memory once, for worker processes to map by name."""

    def __init__(self, library) -> None:
        self.blocks = []
        try:
            self.categorical = self._share(library.categorical)
            self.numeric = self._share(library.numeric)
        except BaseException:
            self.close()
            raise

    def _share(self, array: np.ndarray) -> tuple[str, tuple, str]:
        try:
            block = shared_memory.SharedMemory(create=True, size=max(array.nbytes, 1))
        except OSError as exc:
            raise WidedeepError(f"cannot share {array.nbytes / 2**20:,.0f} MiB of eval rows with the worker "
                                f"processes (/dev/shm): {exc.strerror or exc}") from exc
        self.blocks.append(block)
        np.ndarray(array.shape, array.dtype, buffer=block.buf)[...] = array
        return block.name, array.shape, array.dtype.str

    def handle(self) -> tuple:
        return (self.categorical, self.numeric)

    def close(self) -> None:
        for block in self.blocks:
            block.close()
            block.unlink()
        self.blocks = []


class ProcessInstance:
    """A runner in a worker process of its own (``spawn``), fed through shared memory: ``launch()``, then
    ``wait_ready()`` (raises the runner's start error); ``close()`` stops the worker."""

    kind = "processes"

    def __init__(self, spec: InstanceSpec, number: int, capacity: int) -> None:
        self.spec, self.number, self.capacity = spec, number, capacity
        self.process = self.conn = None
        self.name = spec.backend
        self.details: dict = {}
        try:
            self._buffers = shared_memory.SharedMemory(create=True, size=capacity * (8 + 4))
        except OSError as exc:
            raise WidedeepError(f"{self.where()}: cannot make its batch buffers in shared memory (/dev/shm): "
                                f"{exc.strerror or exc}") from exc
        self.indices = np.ndarray((capacity,), np.int64, buffer=self._buffers.buf)
        self.clicks_out = np.ndarray((capacity,), np.float32, buffer=self._buffers.buf, offset=capacity * 8)

    def where(self) -> str:
        device = f" on device {self.spec.device}" if self.spec.device is not None else ""
        pid = f", pid {self.process.pid}" if self.process is not None else ""
        return f"{self.spec.backend} instance {self.number}{device} (worker process{pid})"

    def launch(self) -> None:
        """Start the worker process; ``wait_ready`` returns once its runner is active."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self.conn = parent
        self.process = context.Process(target=_worker_main, args=(child, self.spec, self._buffers.name, self.capacity),
                                       name=f"widedeep-instance-{self.number}", daemon=True)
        try:
            self.process.start()
        except Exception as exc:  # e.g. a runner factory that cannot be pickled for spawn
            self.process = None
            raise WidedeepError(f"{self.where()}: cannot start its worker process: {type(exc).__name__}: "
                                f"{exc}") from exc
        finally:
            child.close()

    def wait_ready(self) -> None:
        """Until the worker's runner is active; its start error (a missing runtime, a failed build) raised here."""
        reply = self._receive("starting its runner", START_TIMEOUT_S)
        self.details = pickle.loads(reply[1:])
        self.name = self.details["name"]

    def describe(self) -> dict:
        return {"pid": self.process.pid if self.process else None, "device": self.spec.device,
                "device_visible": self.details.get("device_visible")}

    def version(self) -> str:
        return self.details["version"]

    @property
    def options(self):
        return self.spec.options

    def bind(self, library) -> None:
        shared = getattr(library, "shared", None)
        if shared is None:
            raise WidedeepError("a process instance needs the sample library in shared memory (library.share())")
        self._control("bind", shared.handle())

    def clicks(self, indices) -> np.ndarray:
        count = len(indices)
        if count > self.capacity:
            raise WidedeepError(f"{self.where()}: a batch of {count} samples exceeds its buffer of {self.capacity}")
        self.indices[:count] = indices
        self._send(_CLICKS + _COUNT.pack(count))
        self._receive(f"answering a batch of {count}")
        return self.clicks_out[:count]  # valid until the next batch: the batcher answers LoadGen before that

    def infer(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        return self._control("infer", (categorical, numeric))

    def close(self) -> None:
        try:
            if self.conn is not None and self.process is not None and self.process.is_alive():
                try:
                    self._send(_CONTROL + pickle.dumps(("stop", None)))
                except WidedeepError:
                    pass
                self.process.join(timeout=30)
            if self.process is not None and self.process.is_alive():
                self.process.kill()
                self.process.join()
        finally:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            self.indices = self.clicks_out = None  # views of the buffers: gone before the buffers close
            self._buffers.close()
            self._buffers.unlink()

    # --- the pipe ---------------------------------------------------------------------------------------
    def _control(self, verb: str, argument):
        self._send(_CONTROL + pickle.dumps((verb, argument), protocol=pickle.HIGHEST_PROTOCOL))
        reply = self._receive(verb.replace("_", " "))
        return pickle.loads(reply[1:]) if len(reply) > 1 else None

    def _send(self, message: bytes) -> None:
        try:
            self.conn.send_bytes(message)
        except (OSError, ValueError) as exc:
            raise WidedeepError(f"{self.where()} is gone ({self._exit()}): {exc}") from exc

    def _receive(self, doing: str, timeout_s: float | None = None) -> bytes:
        timeout_s = BATCH_TIMEOUT_S if timeout_s is None else timeout_s
        try:
            if not self.conn.poll(timeout_s):
                self.process.kill()
                raise WidedeepError(f"{self.where()} was silent for {timeout_s:g} s while {doing}; stopped it")
            reply = self.conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise WidedeepError(f"{self.where()} died while {doing} ({self._exit()})") from exc
        if reply[:1] == _ERROR:
            raise WidedeepError(f"{self.where()}: {reply[1:].decode(errors='replace')}")
        return reply

    def _exit(self) -> str:
        if self.process is None:
            return "never started"
        self.process.join(timeout=1)
        return "still running" if self.process.exitcode is None else f"exit code {self.process.exitcode}"


def _worker_main(conn, spec: InstanceSpec, buffers_name: str, capacity: int) -> None:
    """A worker process: make and activate the runner (on its device), then answer the parent's messages until
    it says stop or the pipe closes. Errors go back as one line; nothing is printed twice."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the parent stops workers
    if spec.visible is not None:
        os.environ[DEVICE_VARIABLE] = spec.visible  # before any runtime is imported
    buffers = shared_memory.SharedMemory(name=buffers_name)
    indices = np.ndarray((capacity,), np.int64, buffer=buffers.buf)
    clicks_out = np.ndarray((capacity,), np.float32, buffer=buffers.buf, offset=capacity * 8)
    rows, runner = _Mapped(), None
    try:
        try:
            runner = spec.make_runner()
            runner.activate()
        except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
            conn.send_bytes(_ERROR + f"cannot start its runner: {type(exc).__name__}: {exc}".encode())
            return
        conn.send_bytes(_CONTROL + pickle.dumps({"name": runner.name, "version": runner.version(),
                                                 "device_visible": os.environ.get(DEVICE_VARIABLE)}))
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return  # the parent is gone
            try:
                if message[:1] == _CLICKS:
                    count = _COUNT.unpack_from(message, 1)[0]
                    probabilities = runner.infer(*rows.feed(indices[:count]))
                    clicks_out[:count] = probabilities[:, 1]
                    conn.send_bytes(_CLICKS)
                    continue
                verb, argument = pickle.loads(message[1:])
                if verb == "stop":
                    return
                reply = _control(runner, rows, verb, argument)
                conn.send_bytes(_CONTROL + (b"" if reply is None else pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)))
            except Exception as exc:  # noqa: BLE001 - one line to the parent, the worker goes on
                last = traceback.extract_tb(exc.__traceback__)[-1]
                conn.send_bytes(_ERROR + f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"
                                .encode())
    finally:
        if runner is not None and runner.is_active:
            runner.deactivate()
        rows.close()
        del indices, clicks_out
        buffers.close()


def _control(runner, rows: "_Mapped", verb: str, argument):
    if verb == "bind":
        rows.map(argument)
        return None
    if verb == "infer":
        return runner.infer(*argument)
    raise WidedeepError(f"unknown message {verb!r}")


class _Mapped:
    """The worker's view of the parent's ``SharedRows``."""

    def __init__(self) -> None:
        self.blocks, self.categorical, self.numeric = [], None, None

    def map(self, handle) -> None:
        self.close()
        arrays = []
        for name, shape, dtype in handle:
            block = shared_memory.SharedMemory(name=name)
            self.blocks.append(block)
            arrays.append(np.ndarray(shape, np.dtype(dtype), buffer=block.buf))
        self.categorical, self.numeric = arrays

    def feed(self, indices) -> tuple[np.ndarray, np.ndarray]:
        if self.categorical is None:
            raise WidedeepError("no sample library bound to this worker")
        return gather(self.categorical, self.numeric, indices)

    def close(self) -> None:
        self.categorical = self.numeric = None
        for block in self.blocks:
            block.close()
        self.blocks = []

