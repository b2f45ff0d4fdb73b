"""A test runner whose answers are a known function of the feed, so what LoadGen logged can be checked row by
row: p(click) = sigmoid(the row's 13 numeric values summed - 6.5), whatever batch the row came in."""

from __future__ import annotations

import threading

import numpy as np

from widedeep_bench.engines.null import NullRunner
from widedeep_bench.engines.tensorflow import SIGNATURE_ROLES

INSTANCE_THREAD = "widedeep-instance-"  # sut.SystemUnderTest names its threads so; the rest is the caller's


def click_probability(numeric: np.ndarray) -> np.ndarray:
    """``[N] float32`` p(click) of ``numeric [N, 13]``: each row's alone (no batch effect)."""
    total = numeric.astype(np.float64).sum(axis=1)
    return (1.0 / (1.0 + np.exp(6.5 - total))).astype(np.float32)


class SigmoidRunner(NullRunner):
    """Answers ``[1 - p, p]`` with ``p = click_probability(numeric)``; records ``(thread name, batch size)`` of
    every ``infer``.

    ``wrong``: answer ``1 - p`` instead (a runner that answers differently when it is timed);
    ``fail_on_batch``: raise on that ``infer`` of the system under test's instance threads (1: LoadGen's
    first batch; the warm-up before LoadGen starts does not count); ``ulp_on_odd_batches``: add one float32 ulp to
    ``p`` in batches of an odd size (a legitimate runner whose last bit depends on the batch, as GEMM kernels
    chosen by batch size do)."""

    name = "sigmoid-test"

    def __init__(self, *, fail_on_batch: int | None = None, ulp_on_odd_batches: bool = False) -> None:
        super().__init__(None)
        self.wrong = False
        self.fail_on_batch = fail_on_batch
        self.ulp_on_odd_batches = ulp_on_odd_batches
        self.batches: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        numeric = feeds[SIGNATURE_ROLES.numeric]
        thread = threading.current_thread().name
        with self._lock:
            self.batches.append((thread, numeric.shape[0]))
            number = sum(1 for name, _ in self.batches if name.startswith(INSTANCE_THREAD))
        if thread.startswith(INSTANCE_THREAD) and number == self.fail_on_batch:
            raise RuntimeError(f"injected failure on batch {number}")
        click = click_probability(numeric)
        if self.ulp_on_odd_batches and numeric.shape[0] % 2:
            click = np.nextafter(click, np.float32(1))
        if self.wrong:
            click = 1 - click
        return np.stack([1 - click, click], axis=1).astype(np.float32)

    def loadgen_batches(self) -> list[int]:
        """Sizes of the batches the system under test's instance threads ran (not the Offline estimate's nor the
        warm-up's)."""
        return [size for thread, size in self.batches if thread.startswith(INSTANCE_THREAD)]


def local(*runners) -> list:
    """``runners`` as the system under test's instances in this process."""
    from widedeep_bench.loadgen.workers import LocalInstance

    return [LocalInstance(runner) for runner in runners]
