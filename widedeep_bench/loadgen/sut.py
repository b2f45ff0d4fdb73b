"""LoadGen's query sample library and system under test over runner instances (``workers``).

The sample library is the eval set's rows, all in memory (one sample = one Criteo row, ``qsl_idx`` = the
row's index). The system under test puts each issued query on one queue; every runner instance has a thread
that takes the oldest query, keeps taking queued samples until it holds ``max_batch`` of them or the oldest
has waited ``max_wait_ms``, has the instance gather their real rows and run one ``infer`` (in this process or
its worker's), and answers each sample with its click probability as 4 bytes of little-endian float32 (``logs`` reads them back; MLPerf's DLRM accuracy script
expects [prediction, label] pairs instead and is not used).
An Offline query (every sample at once) is cut into batches of ``max_batch`` as it arrives.

Runners release the GIL while they compute (ONNX Runtime, OpenVINO, torch), so instance threads overlap; an
instance's error stops nothing silently: the samples of the failed batch are answered empty (LoadGen would
wait for them forever otherwise) and the run raises it once LoadGen returns.
"""

from __future__ import annotations

import collections
import itertools
import queue
import sys
import threading
import time

import numpy as np

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError

RESPONSE_DTYPE = np.dtype("<f4")  # one click probability per sample
_STOP = None
POLL_S = 0.0005  # how often a filling batch collects newly queued samples


def loadgen_module():
    """``mlperf_loadgen``, or one line saying how to install it."""
    try:
        import mlperf_loadgen
    except ImportError as exc:
        raise WidedeepError(f"MLPerf LoadGen is not installed ({exc}): pip install 'widedeep-bench[loadgen]' "
                            f"(the mlcommons-loadgen package)") from exc
    return mlperf_loadgen


def gather(categorical: np.ndarray, numeric: np.ndarray, indices) -> tuple[np.ndarray, np.ndarray]:
    """The runner feed of rows ``indices`` of ``categorical [rows, 26, 2]`` and ``numeric [rows, 13]``:
    ``categorical [26*B, 2]``, ``numeric [B, 13]`` (in this process, or in a worker from shared memory)."""
    index = np.asarray(indices, dtype=np.int64)
    return categorical[index].reshape(-1, 2), numeric[index]


class SampleLibrary:
    """The eval rows LoadGen draws samples from: ``categorical [rows, 26, 2] int64``, ``numeric [rows, 13]``."""

    def __init__(self, tensors) -> None:
        self.categorical = np.ascontiguousarray(tensors.categorical).reshape(-1, layout.NUM_FIELDS, 2)
        self.numeric = np.ascontiguousarray(tensors.numeric)
        self.rows = tensors.rows
        self.shared = None  # workers.SharedRows, once share() was called

    def feed(self, indices) -> tuple[np.ndarray, np.ndarray]:
        return gather(self.categorical, self.numeric, indices)

    def construct(self, lg):
        # Every row is in memory already: loading and unloading a performance set costs nothing.
        return lg.ConstructQSL(self.rows, self.rows, _nothing, _nothing)

    def share(self) -> None:
        """Copy the rows into shared memory for worker processes (``workers.SharedRows``); ``close`` frees it."""
        from widedeep_bench.loadgen.workers import SharedRows

        if self.shared is None:
            self.shared = SharedRows(self)

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()
            self.shared = None


def _nothing(*_):
    pass


class SystemUnderTest:
    """The dynamic batcher and its runner instances (``workers.LocalInstance`` / ``ProcessInstance``, bound to
    ``library`` here), as LoadGen's fast SUT (``issue(ids, indices)``)."""

    def __init__(self, instances, library: SampleLibrary, *, max_batch: int, max_wait_ms: float) -> None:
        if not instances:
            raise WidedeepError("the system under test needs at least one runner instance")
        if max_batch < 1 or not max_wait_ms >= 0:
            raise WidedeepError(f"batcher: max batch {max_batch} (expected >= 1), max wait {max_wait_ms} ms "
                                f"(expected >= 0)")
        self.instances, self.library = list(instances), library
        for instance in self.instances:
            instance.bind(library)
        self.max_batch, self.max_wait_s = max_batch, max_wait_ms / 1000.0
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.errors: list[str] = []
        self._failed: set = set()  # instances that failed a batch
        self.batches = 0
        self.samples = 0
        self._threads: list[threading.Thread] = []
        self._count_lock = threading.Lock()
        # One instance at a time collects a batch: two collecting at once would split the queue between them and
        # each wait out its deadline with half a batch.
        self._collecting = threading.Lock()
        self._rest: collections.deque = collections.deque()  # what did not fit of a split query
        self._flushed = threading.Event()
        self._lg = None

    # --- LoadGen's callbacks ---------------------------------------------------------------------
    def issue(self, ids: list[int], indices: list[int]) -> None:
        if len(ids) <= self.max_batch:
            self.queue.put((ids, indices))
            return
        for start in range(0, len(ids), self.max_batch):  # an Offline query: every sample at once
            self.queue.put((ids[start:start + self.max_batch], indices[start:start + self.max_batch]))

    def flush(self) -> None:
        """LoadGen has no more queries to issue: a filling batch stops waiting for more."""
        self._flushed.set()

    def warm_up(self, batch_sizes, calls: int) -> None:
        """Before LoadGen starts its clock: ``calls`` untimed ``infer`` of real rows per instance and batch size,
        so no instance's first call (lazy allocation, kernel selection) lands in a timed query."""
        for batch in sorted(batch_sizes):
            indices = np.arange(batch) % self.library.rows
            for instance in self.instances:
                try:
                    for _ in range(calls):
                        instance.clicks(indices)
                except Exception as exc:  # noqa: BLE001 - one line naming the instance; nothing is measured
                    raise WidedeepError(f"{instance.name} failed its warm-up at batch {batch}, before LoadGen "
                                        f"started: {type(exc).__name__}: {exc}") from exc

    # --- lifetime ----------------------------------------------------------------------------------
    def __enter__(self) -> "SystemUnderTest":
        self._lg = loadgen_module()
        for number, instance in enumerate(self.instances):
            thread = threading.Thread(target=self._serve, args=(instance,), name=f"widedeep-instance-{number}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info) -> None:
        for _ in self._threads:
            self.queue.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def construct(self, lg):
        return lg.ConstructFastSUT(self.issue, self.flush)

    def raise_errors(self) -> None:
        if self.errors:
            raise WidedeepError(f"{len(self.errors)} batch(es) failed under LoadGen; first: {self.errors[0]}")

    # --- the batcher ---------------------------------------------------------------------------------
    def _next_batch(self):
        """The oldest query, plus what else is queued until ``max_batch`` samples or ``max_wait`` has passed;
        None to stop. Samples that arrive meanwhile are collected every ``POLL_S`` rather than one wake-up
        each: at 30k queries/s a wake-up per query costs the batcher a core's worth of context switches. A
        query that does not fit whole is split; its rest starts a later batch."""
        first = self._take(block=True)
        if first is _STOP:
            return None
        ids, indices = list(first[0]), list(first[1])
        deadline = time.perf_counter() + self.max_wait_s
        while True:
            while len(ids) < self.max_batch:
                item = self._take(block=False)
                if item is None:
                    break
                if item is _STOP:
                    self.queue.put(_STOP)  # for whichever thread it was meant for, after this batch
                    return ids, indices
                room = self.max_batch - len(ids)
                if len(item[0]) > room:
                    with self._count_lock:
                        self._rest.append((item[0][room:], item[1][room:]))
                ids += item[0][:room]
                indices += item[1][:room]
            remaining = deadline - time.perf_counter()
            if len(ids) >= self.max_batch or remaining <= 0 or self._flushed.is_set():
                return ids, indices
            time.sleep(min(remaining, POLL_S))

    def _take(self, *, block: bool):
        """The rest of a split query first, then the queue's oldest item; None when nothing waits (block=False)."""
        with self._count_lock:
            if self._rest:
                return self._rest.popleft()
        try:
            return self.queue.get() if block else self.queue.get_nowait()
        except queue.Empty:
            return None

    def _serve(self, instance) -> None:
        pool = ResponsePool(self._lg, self.max_batch)
        while True:
            with self._collecting:
                batch = self._next_batch()
            if batch is None:
                return
            self._answer(instance, pool, *batch)

    def _answer(self, instance, pool: "ResponsePool", ids: list[int], indices: list[int]) -> None:
        lg = self._lg
        try:
            responses = self.responses(instance, pool, ids, indices)
        except Exception as exc:  # noqa: BLE001 - recorded and raised after LoadGen returns; never swallowed
            self.errors.append(f"{instance.name}: {type(exc).__name__}: {exc}")
            if instance not in self._failed:  # once per instance: a dead worker fails every batch sent to it
                self._failed.add(instance)
                print(f"widedeep_bench: {instance.name} failed a batch under LoadGen (its later failures are "
                      f"counted, not shown): {exc}", file=sys.stderr)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])
            return
        # LoadGen copies the responses (and what it logs) before QuerySamplesComplete returns: the pool's
        # objects and buffer are free for the next batch after it.
        lg.QuerySamplesComplete(responses)
        with self._count_lock:
            self.batches += 1
            self.samples += len(ids)

    def responses(self, instance, pool: "ResponsePool", ids: list[int], indices: list[int]) -> list:
        """One batch's work: the instance's click probabilities of rows ``indices``, as ``pool``'s responses."""
        return pool.fill(ids, instance.clicks(indices))


class ResponsePool:
    """One batcher thread's LoadGen responses, made once: ``capacity`` ``QuerySampleResponse`` objects, each
    pointing at its 4-byte slot of one float32 buffer. A batch copies its click probabilities into the buffer
    and sets only the responses' ids: a new response object costs LoadGen's Python binding about 0.9 us, setting
    the id of one 0.3 us (2-core EPYC, batches of 4,096), and at the harness's ceiling that is most of a
    sample's cost."""

    def __init__(self, lg, capacity: int) -> None:
        self.buffer = np.zeros(capacity, RESPONSE_DTYPE)
        base, size = self.buffer.ctypes.data, RESPONSE_DTYPE.itemsize
        self.responses = [lg.QuerySampleResponse(0, base + size * slot, size) for slot in range(capacity)]

    def fill(self, ids: list[int], clicks: np.ndarray) -> list:
        """The responses of samples ``ids`` answering ``clicks`` (one per sample, in order)."""
        count = len(ids)
        if clicks.shape != (count,):
            raise WidedeepError(f"{clicks.shape[0] if clicks.ndim == 1 else clicks.shape} click probabilities "
                                f"for {count} samples")
        self.buffer[:count] = clicks
        responses = self.responses[:count]
        collections.deque(map(setattr, responses, itertools.repeat("id"), ids), maxlen=0)
        return responses
