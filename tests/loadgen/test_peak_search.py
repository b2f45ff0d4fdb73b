"""The Server peak search over a fake ``run_at`` (no LoadGen): a first try at 80 % of the bound, then bisection
between the highest VALID and the lowest INVALID target, at most ``tries`` runs, each reported."""

from __future__ import annotations

import math

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen.scenarios import ScenarioResult, find_peak

LATENCY_MS = 30.0


def server_run(target_qps: float, *, valid: bool) -> ScenarioResult:
    """A Server result as LoadGen would report it at ``target_qps``: scheduled slightly below the target."""
    return ScenarioResult(
        scenario="Server", mode="performance", runner="fake", instances=1, valid=valid,
        validity="VALID" if valid else "INVALID", samples_per_s=None, scheduled_qps=target_qps * 0.99,
        completed_qps=target_qps * 0.98, latency_ms={"p99": 20.0 if valid else 45.0}, constraints={},
        settings={"target_qps": target_qps, "latency_ms": LATENCY_MS}, batcher={"mean_batch": 4.0},
        log_dir=f"Server-peak-{target_qps:.0f}qps")


class System:
    """Serves any target up to ``capacity_qps`` VALID; remembers the targets it was run at."""

    def __init__(self, capacity_qps: float) -> None:
        self.capacity_qps, self.targets = capacity_qps, []

    def run_at(self, target_qps: float) -> ScenarioResult:
        self.targets.append(target_qps)
        return server_run(target_qps, valid=target_qps <= self.capacity_qps)


def test_the_search_bisects_between_the_highest_valid_and_lowest_invalid_target():
    system = System(capacity_qps=500)
    search = find_peak(system.run_at, 1000, tries=6)
    assert system.targets == [800, 400, 600, 500, 550, 525]
    assert (search.peak_target_qps, search.peak_qps) == (500, 500 * 0.99)
    assert (search.upper_bound_qps, search.latency_ms) == (1000.0, LATENCY_MS)


@pytest.mark.parametrize("capacity_qps", [0.0, 123.0, 640.0, 799.0, 801.0, 2000.0])
def test_every_try_halves_the_interval_left_and_is_reported(capacity_qps):
    system = System(capacity_qps)
    search = find_peak(system.run_at, 1000, tries=5)
    assert len(system.targets) == 5
    for number, target in enumerate(system.targets[1:], 1):
        before = system.targets[:number]
        low = max([t for t in before if t <= capacity_qps], default=0.0)
        high = min([t for t in before if t > capacity_qps], default=1000.0)
        assert target == (low + high) / 2
    tries = search.as_dict()["tries"]
    assert [(t["target_qps"], t["valid"], t["log_dir"]) for t in tries] == \
        [(q, q <= capacity_qps, f"Server-peak-{q:.0f}qps") for q in system.targets]
    assert search.as_dict()["peak_target_qps"] == max([q for q in system.targets if q <= capacity_qps],
                                                      default=None)


def test_a_search_where_nothing_is_valid_has_no_peak():
    search = find_peak(System(capacity_qps=0).run_at, 1000, tries=3)
    assert (search.peak_target_qps, search.peak_qps) == (None, None)
    assert search.as_dict()["peak_scheduled_qps"] is None
    assert [t["target_qps"] for t in search.as_dict()["tries"]] == [800, 400, 200]


def test_one_try_is_the_first_fraction_of_the_bound():
    system = System(capacity_qps=2000)
    assert find_peak(system.run_at, 1000, tries=1, first_fraction=0.5).peak_target_qps == 500
    assert system.targets == [500]


@pytest.mark.parametrize("tries, bound", [(0, 1000), (-1, 1000), (3, 0), (3, -5), (3, math.nan)])
def test_bad_arguments_are_refused_before_any_run(tries, bound):
    system = System(capacity_qps=500)
    with pytest.raises(WidedeepError, match=r"^peak search: tries .* \(expected >= 1\), upper bound .* QPS "
                                            r"\(expected > 0\), first fraction"):
        find_peak(system.run_at, bound, tries=tries)
    assert system.targets == []


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5, math.nan])
def test_a_first_try_outside_the_bound_is_refused_before_any_run(fraction):
    system = System(capacity_qps=500)
    with pytest.raises(WidedeepError, match=r"first fraction .* \(expected in \(0, 1\]\)"):
        find_peak(system.run_at, 1000, tries=3, first_fraction=fraction)
    assert system.targets == []
