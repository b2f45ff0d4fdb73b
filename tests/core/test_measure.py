"""The one timing module: warm-up by time, rotation, minimum duration, honest statistics, paired ratios.

A fake clock advances by what each call says it costs, so every expectation is exact.
"""

import numpy as np
import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import (P99_MIN_ROUNDS, Timing, TimingPlan, measure, measure_interleaved,
                                    paired_ratio, pedantic_interleaved)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def subject(self, cost, log=None, name=None):
        """A call that takes ``cost(batch)`` seconds of fake time and logs (name, batch) when asked."""
        def call(batch):
            if log is not None:
                log.append((name, batch))
            self.now += cost(batch) if callable(cost) else cost
        return call


def test_rounds_fill_the_minimum_duration():
    clock = FakeClock()
    plan = TimingPlan(warmup_s=0.0, min_warmup_rounds=1, min_rounds=5, min_duration_s=1.0)
    timing = measure(clock.subject(0.01), [(1,), (2,)], batch_size=64, plan=plan, clock=clock)
    assert timing.rounds == 100
    assert timing.seconds.sum() == pytest.approx(1.0)


def test_min_rounds_apply_when_the_duration_is_filled_sooner():
    clock = FakeClock()
    plan = TimingPlan(warmup_s=0.0, min_warmup_rounds=1, min_rounds=7, min_duration_s=0.1)
    assert measure(clock.subject(1.0), [(1,)], 8, plan, clock=clock).rounds == 7


def test_warm_up_runs_by_time_and_is_not_timed():
    clock, log = FakeClock(), []
    plan = TimingPlan(warmup_s=0.3, min_warmup_rounds=2, min_rounds=3, min_duration_s=0.0)
    timing = measure(clock.subject(0.05, log, "s"), [(0,)], 1, plan, clock=clock)
    assert len(log) == 6 + 3  # 0.3 s of 0.05 s calls untimed, then the 3 timed rounds
    assert timing.rounds == 3


def test_batches_rotate_and_every_subject_sees_the_same_batch_each_round():
    clock, log = FakeClock(), []
    plan = TimingPlan(warmup_s=0.0, min_warmup_rounds=0, min_rounds=6, min_duration_s=0.0)
    subjects = {name: clock.subject(0.001, log, name) for name in ("a", "b")}
    measure_interleaved(subjects, [("w",), ("x",), ("y",), ("z",)], 1, plan, clock=clock)
    assert [batch for _, batch in log[:2]] == ["w", "w"]  # one untimed call each, even with no warm-up asked
    rounds = [log[i:i + 2] for i in range(2, len(log), 2)]
    assert [{name for name, _ in pair} for pair in rounds] == [{"a", "b"}] * 6
    assert [pair[0][1] for pair in rounds] == ["x", "y", "z", "w", "x", "y"]
    assert all(pair[0][1] == pair[1][1] for pair in rounds)
    assert [pair[0][0] for pair in rounds] == ["a", "b", "a", "b", "a", "b"]  # order alternates


def test_p99_needs_enough_rounds_and_is_called_max_otherwise():
    few = Timing(np.linspace(0.001, 0.002, P99_MIN_ROUNDS - 1), batch_size=10).summary()
    assert few["p99_ms"] is None and few["tail_statistic"] == "max" and few["tail_ms"] == pytest.approx(2.0)
    many = Timing(np.linspace(0.001, 0.002, P99_MIN_ROUNDS), batch_size=10).summary()
    assert many["tail_statistic"] == "p99" and many["p99_ms"] < many["max_ms"]


def test_samples_per_s_is_batch_over_median_round():
    timing = Timing(np.array([0.001, 0.002, 0.004]), batch_size=1024)
    assert timing.samples_per_s == pytest.approx(1024 / 0.002)


def test_paired_ratio_follows_the_rounds_not_the_medians():
    """Load that slows both subjects in the same rounds cancels out of each pair."""
    load = np.array([1, 1, 5, 5, 1, 9, 1], float)
    subject, peer = Timing(0.001 * load, 1), Timing(0.002 * load, 1)
    ratio = paired_ratio(subject, peer)
    assert ratio.ratio == pytest.approx(2.0) and ratio.q25 == pytest.approx(2.0) and ratio.pairs == 7


def test_paired_ratio_refuses_unpaired_timings():
    with pytest.raises(WidedeepError, match="same number of rounds"):
        paired_ratio(Timing(np.ones(3), 1), Timing(np.ones(4), 1))


@pytest.mark.parametrize("field, value", [("warmup_s", -1.0), ("min_duration_s", float("nan")), ("min_rounds", 0)])
def test_a_plan_that_cannot_measure_is_refused(field, value):
    with pytest.raises(WidedeepError, match=field if field != "min_rounds" else "min_rounds"):
        TimingPlan(**{field: value})


class FakeBenchmark:
    """pytest-benchmark's pedantic contract: setup before each round, the target timed, data recorded."""

    def __init__(self, clock):
        self.clock, self.data = clock, []

    def pedantic(self, target, setup, rounds, warmup_rounds, iterations):
        assert warmup_rounds == 0 and iterations == 1
        for _ in range(rounds):
            args, kwargs = setup()
            started = self.clock()
            target(*args, **kwargs)
            self.data.append(self.clock() - started)

    @property
    def stats(self):
        return type("S", (), {"stats": type("D", (), {"data": self.data})})


def test_pedantic_interleaved_times_the_peer_between_the_subjects_rounds(monkeypatch):
    clock, log = FakeClock(), []
    monkeypatch.setattr("widedeep_bench.measure.CLOCK", clock)
    plan = TimingPlan(warmup_s=0.0, min_warmup_rounds=1, min_rounds=4, min_duration_s=0.0)
    subject, peer = pedantic_interleaved(FakeBenchmark(clock), clock.subject(0.001, log, "engine"),
                                         clock.subject(0.003, log, "tf"), [(1,), (2,)], 16, plan)
    timed = log[2:]  # after one warm-up call of each
    assert [name for name, _ in timed] == ["tf", "engine"] * 4
    assert [batch for _, batch in timed] == [2, 2, 1, 1, 2, 2, 1, 1]
    assert paired_ratio(subject, peer).ratio == pytest.approx(3.0)


def test_with_no_warm_up_asked_the_duration_is_still_planned_from_one_call():
    clock = FakeClock()
    plan = TimingPlan(warmup_s=0.0, min_warmup_rounds=0, min_rounds=2, min_duration_s=0.5)
    assert measure(clock.subject(0.1), [(1,)], 1, plan, clock=clock).rounds == 5


def test_a_cold_plan_times_the_first_call_with_nothing_run_before_it():
    """A step that happens once (a cache build) is timed on its first call; a plain plan would have warmed it."""
    clock, log = FakeClock(), []
    cold = TimingPlan(warmup_s=0.0, min_warmup_rounds=0, min_rounds=1, min_duration_s=0.0, cold=True)
    first_call_slow = clock.subject(lambda batch: 0.25 if not log[:-1] else 0.01, log, "build")
    timing = measure(first_call_slow, [(1,)], 1, cold, clock=clock)
    assert len(log) == 1 and timing.rounds == 1 and timing.median_s == pytest.approx(0.25)
    assert "cold" in cold.describe()


def test_a_cold_plan_cannot_ask_for_warm_up_or_duration():
    with pytest.raises(WidedeepError, match="a cold plan times the first calls"):
        TimingPlan(warmup_s=0.0, min_warmup_rounds=1, min_rounds=1, min_duration_s=0.0, cold=True)


def test_a_timing_gives_every_round_in_order_to_the_nanosecond():
    timing = Timing(np.array([1.2345678912e-3, 2e-3, 0.5e-3]), batch_size=8)
    assert timing.round_seconds() == [0.001234568, 0.002, 0.0005]
    assert timing.batch_size / np.median(timing.round_seconds()) == pytest.approx(timing.samples_per_s)
