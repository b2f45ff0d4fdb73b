"""The one timing module: warm-up by time, real batches rotated, a minimum measured duration, statistics.

Every throughput figure the suite prints comes through here: the perf tests (through pytest-benchmark's
``pedantic``), the benchmark commands and the torch runner's compute-only timer. The rules:

- **warm-up** runs each subject for at least ``TimingPlan.warmup_s`` seconds and ``min_warmup_rounds``
  calls, untimed, so clocks, caches and lazy allocations have settled before anything counts;
- **rounds** are one call on one batch; the batches rotate through distinct real eval batches (never one
  repeated batch, never all-zero indices), and every subject sees the same batch in the same round;
- **duration**: the number of timed rounds is at least ``min_rounds`` and enough to fill ``min_duration_s``
  of measured time (as trtexec's ``--duration``), estimated from the warm-up;
- **statistics**: samples/s = batch size / median round time; the tail is p99 only over at least
  ``P99_MIN_ROUNDS`` rounds and is called the max otherwise (a p99 of 20 rounds is the max in disguise);
- **comparisons** between two subjects time them interleaved in the same window (alternating rounds) and
  judge the median of the per-round ratios (``paired_ratio``), so load that comes and goes hits both alike.
  This needs subjects that leave nothing running when a call returns: a runtime whose idle threads spin
  for tens of ms (ONNX Runtime's default) slows whichever call comes next and biases the pair, which is
  why the suite's ONNX Runtime sessions turn spinning off.

Seconds are ``time.perf_counter`` seconds; pytest-benchmark's default timer is the same clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from widedeep_bench.errors import WidedeepError

CLOCK = time.perf_counter
P99_MIN_ROUNDS = 100

Batch = tuple  # the positional arguments of one call, e.g. (categorical [26*B, 2], numeric [B, 13])


@dataclass(frozen=True)
class TimingPlan:
    """How long to warm up and how much to measure; one plan per case."""

    warmup_s: float = 0.3  # untimed warm-up per subject, seconds (at least)
    min_warmup_rounds: int = 3  # and at least this many untimed calls
    min_rounds: int = 20  # timed rounds, at least
    min_duration_s: float = 1.0  # measured seconds per subject, at least (trtexec --duration)
    max_rounds: int = 100_000  # a bound for very fast subjects (the null runner)
    # Time the first calls, with nothing run before them: for what happens once and is slow the first time
    # by nature (a cache build, a cold load). Needs no warm-up and no duration asked (min_rounds is exact).
    cold: bool = False

    def __post_init__(self) -> None:
        if self.cold and (self.warmup_s or self.min_warmup_rounds or self.min_duration_s):
            raise WidedeepError("timing plan: a cold plan times the first calls, so it takes no warm-up "
                                f"and no duration; got warmup_s={self.warmup_s!r}, min_warmup_rounds="
                                f"{self.min_warmup_rounds!r}, min_duration_s={self.min_duration_s!r}")
        for name in ("warmup_s", "min_duration_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise WidedeepError(f"timing plan: {name} must be a finite number >= 0, got {value!r}")
        if self.min_warmup_rounds < 0 or self.min_rounds < 1 or self.max_rounds < self.min_rounds:
            raise WidedeepError(f"timing plan: need min_warmup_rounds >= 0, 1 <= min_rounds <= max_rounds; got "
                                f"{self.min_warmup_rounds}, {self.min_rounds}, {self.max_rounds}")

    def rounds_for(self, seconds_per_round: float) -> int:
        """Timed rounds for a subject taking ``seconds_per_round``: enough to fill ``min_duration_s``."""
        needed = math.ceil(self.min_duration_s / max(seconds_per_round, 1e-9))
        return int(min(self.max_rounds, max(self.min_rounds, needed)))

    def describe(self) -> str:
        if self.cold:
            return f"cold: the first {self.min_rounds} call(s) timed, nothing run before them"
        return (f"warm-up >= {self.warmup_s:g} s and >= {self.min_warmup_rounds} calls untimed; timed rounds >= "
                f"{self.min_rounds} and >= {self.min_duration_s:g} s measured")


class Rotation:
    """Distinct real batches handed out in turn: round ``i`` gets batch ``i mod len``."""

    def __init__(self, batches: Sequence[Batch]):
        self.batches = list(batches)
        if not self.batches:
            raise WidedeepError("timing: no batches to rotate through")
        self._next = 0

    def __call__(self) -> Batch:
        batch = self.batches[self._next % len(self.batches)]
        self._next += 1
        return batch


@dataclass(frozen=True)
class Timing:
    """Timed rounds of one subject: ``seconds [rounds]`` per call on a batch of ``batch_size`` samples."""

    seconds: np.ndarray
    batch_size: int

    @property
    def rounds(self) -> int:
        return int(self.seconds.size)

    @property
    def median_s(self) -> float:
        return float(np.median(self.seconds))

    @property
    def samples_per_s(self) -> float:
        """Samples (not categorical rows) per second: batch size / median round time."""
        return self.batch_size / self.median_s

    @property
    def tail_statistic(self) -> str:
        return "p99" if self.rounds >= P99_MIN_ROUNDS else "max"

    def round_seconds(self) -> list[float]:
        """Every timed round in timing order, seconds rounded to the nanosecond (``perf_counter``'s own
        resolution on Linux; the JSON stays short for the many rounds of a fast subject)."""
        return np.round(self.seconds, 9).tolist()

    def summary(self) -> dict:
        """The figures as printed and recorded: samples/s, median / mean / p90 / tail in ms, rounds.

        ``p99_ms`` is None below ``P99_MIN_ROUNDS`` rounds; ``tail_ms`` is then the max, and
        ``tail_statistic`` says which it is."""
        ms = self.seconds * 1e3
        p99 = float(np.percentile(ms, 99)) if self.rounds >= P99_MIN_ROUNDS else None
        return {"samples_per_s": self.samples_per_s, "median_ms": float(np.median(ms)),
                "mean_ms": float(ms.mean()), "p90_ms": float(np.percentile(ms, 90)), "p99_ms": p99,
                "max_ms": float(ms.max()), "tail_ms": p99 if p99 is not None else float(ms.max()),
                "tail_statistic": self.tail_statistic, "rounds": self.rounds,
                "measured_s": float(self.seconds.sum()), "batch_size": self.batch_size}


def _seconds(call: Callable, batch: Batch, clock: Callable[[], float]) -> float:
    started = clock()
    call(*batch)
    return clock() - started


def warm_up(subjects: Sequence[Callable], rotation: Rotation, plan: TimingPlan, *,
            clock: Callable[[], float] = CLOCK) -> list[float]:
    """Call the subjects in turn, untimed for the figures, until each has run ``plan.warmup_s`` seconds and
    ``plan.min_warmup_rounds`` calls (at least one: the round count is planned from it), except for a
    ``cold`` plan, which makes none. Returns each subject's median seconds per call over the second half of
    its warm-up (0 where it made no call)."""
    spent = [0.0] * len(subjects)
    calls: list[list[float]] = [[] for _ in subjects]
    least = 0 if plan.cold else max(1, plan.min_warmup_rounds)
    while any(s < plan.warmup_s for s in spent) or any(len(c) < least for c in calls):
        batch = rotation()
        for i, subject in enumerate(subjects):
            elapsed = _seconds(subject, batch, clock)
            spent[i] += elapsed
            calls[i].append(elapsed)
        if all(len(c) >= plan.max_rounds for c in calls):
            break
    return [float(np.median(c[len(c) // 2:])) if c else 0.0 for c in calls]


def measure(call: Callable, batches: Sequence[Batch], batch_size: int, plan: TimingPlan, *,
            clock: Callable[[], float] = CLOCK) -> Timing:
    """Warm ``call`` up, then time it over the planned rounds with the batches rotated."""
    return measure_interleaved({"subject": call}, batches, batch_size, plan, clock=clock)["subject"]


def measure_interleaved(subjects: dict[str, Callable], batches: Sequence[Batch], batch_size: int,
                        plan: TimingPlan, *, clock: Callable[[], float] = CLOCK) -> dict[str, Timing]:
    """Time several subjects in the same window: in each round every subject runs once on the same batch,
    the order rotating from round to round, so each subject's round ``i`` is paired with the others'.
    The round count is planned from the slowest subject's warm-up estimate."""
    names = list(subjects)
    rotation = Rotation(batches)
    estimates = warm_up([subjects[n] for n in names], rotation, plan, clock=clock)
    rounds = plan.rounds_for(max(estimates))
    seconds = {name: np.empty(rounds) for name in names}
    for r in range(rounds):
        batch = rotation()
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name][r] = _seconds(subjects[name], batch, clock)
    return {name: Timing(seconds[name], batch_size) for name in names}


@dataclass(frozen=True)
class PairedRatio:
    """How much faster ``subject`` ran than ``peer`` in the same rounds: the median over rounds of
    ``peer_seconds[i] / subject_seconds[i]`` (> 1: the subject is faster), with the quartiles."""

    ratio: float
    q25: float
    q75: float
    pairs: int

    METHOD = "median over interleaved rounds of peer time / subject time (same batch in each pair)"

    def as_dict(self) -> dict:
        return {"ratio": self.ratio, "q25": self.q25, "q75": self.q75, "pairs": self.pairs, "method": self.METHOD}


def paired_ratio(subject: Timing, peer: Timing) -> PairedRatio:
    if subject.rounds != peer.rounds or subject.rounds == 0:
        raise WidedeepError(f"paired ratio needs the same number of rounds, got {subject.rounds} and {peer.rounds}")
    ratios = peer.seconds / subject.seconds
    q25, median, q75 = (float(v) for v in np.percentile(ratios, [25, 50, 75]))
    return PairedRatio(ratio=median, q25=q25, q75=q75, pairs=int(ratios.size))


def pedantic_interleaved(benchmark, subject: Callable, peer: Callable | None, batches: Sequence[Batch],
                         batch_size: int, plan: TimingPlan) -> tuple[Timing, Timing | None]:
    """Time ``subject`` with pytest-benchmark's ``pedantic`` (so ``--benchmark-json`` holds its rounds), and
    ``peer`` interleaved with it: pytest-benchmark calls ``setup`` before every round, and the setup runs
    the peer on the same batch, timed on the same clock. Warm-up is done here, by time, for both; the
    round count comes from the plan. Returns the subject's and the peer's timings (peer None if not given).
    """
    rotation = Rotation(batches)
    estimates = warm_up([subject] + ([peer] if peer else []), rotation, plan)
    rounds = plan.rounds_for(estimates[0])
    peer_seconds: list[float] = []

    def setup():
        batch = rotation()
        if peer is not None:
            peer_seconds.append(_seconds(peer, batch, CLOCK))
        return batch, {}

    benchmark.pedantic(subject, setup=setup, rounds=rounds, warmup_rounds=0, iterations=1)
    subject_timing = Timing(np.asarray(benchmark.stats.stats.data, dtype=float), batch_size)
    if subject_timing.rounds != rounds:
        raise WidedeepError(f"pytest-benchmark recorded {subject_timing.rounds} rounds, {rounds} were run")
    return subject_timing, (Timing(np.asarray(peer_seconds), batch_size) if peer is not None else None)
