"""``ScenarioSettings`` refuses what LoadGen cannot be asked, in one message listing every problem."""

from __future__ import annotations

import math

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen.scenarios import DEFAULT_MAX_BATCH, ScenarioSettings

BAD = {
    "unknown scenario": (dict(scenario="MultiStream"), "scenario 'MultiStream': expected one of"),
    "unknown mode": (dict(scenario="Offline", mode="compliance"), "mode 'compliance': expected one of"),
    "Server without target": (dict(scenario="Server"), "Server needs a target QPS"),
    "negative duration": (dict(scenario="Offline", duration_s=-1.0), "duration -1.0 s: expected a number in (0, 86400]"),
    "NaN duration": (dict(scenario="Offline", duration_s=math.nan), "duration nan s"),
    "NaN target": (dict(scenario="Server", target_qps=math.nan), "target QPS nan"),
    "NaN latency": (dict(scenario="Server", target_qps=10, latency_ms=math.nan), "latency bound nan ms"),
    "NaN log probability": (dict(scenario="Offline", log_probability=math.nan), "log probability nan"),
    "log probability 2": (dict(scenario="Offline", log_probability=2), "log probability 2: expected a number in [0, 1]"),
    "max batch 0": (dict(scenario="Offline", max_batch=0), "max batch 0: expected >= 1"),
    "negative wait": (dict(scenario="Server", target_qps=10, max_wait_ms=-1.0), "max wait -1.0 ms"),
    "a wait past a second": (dict(scenario="Server", target_qps=10, max_wait_ms=1e12), "max wait 1000000000000.0 ms: expected a number in [0, 1000]"),
    "a duration past a day": (dict(scenario="Offline", duration_s=1e300), "duration 1e+300 s"),
    "a rate LoadGen cannot hold": (dict(scenario="Offline", target_qps=1e12), "target QPS 1000000000000.0: expected a number in (0, 1e+08]"),
    "negative seed": (dict(scenario="Offline", seed=-1), "seed -1: expected an integer"),
    "seed past 64 bits": (dict(scenario="Offline", seed=2**70), "seed 1180591620717411303424"),
}


@pytest.mark.parametrize("arguments, problem", BAD.values(), ids=BAD.keys())
def test_a_bad_value_is_refused_naming_it(arguments, problem):
    with pytest.raises(WidedeepError) as error:
        ScenarioSettings(**arguments)
    message = str(error.value)
    assert message.startswith("LoadGen settings: ") and "; " not in message  # this problem and no other
    assert problem in message


def test_every_problem_is_in_one_message():
    with pytest.raises(WidedeepError) as error:
        ScenarioSettings("Server", duration_s=-1.0, log_probability=2, max_wait_ms=math.nan)
    problems = str(error.value).removeprefix("LoadGen settings: ").split("; ")
    assert [p.split(" ")[0] for p in problems] == ["duration", "Server", "max", "log"]


@pytest.mark.parametrize("scenario", sorted(DEFAULT_MAX_BATCH))
def test_good_settings_take_the_scenarios_default_batch(scenario):
    settings = ScenarioSettings(scenario, target_qps=100.0, log_probability=1.0, max_wait_ms=0.0)
    assert settings.batch == DEFAULT_MAX_BATCH[scenario]
    assert ScenarioSettings(scenario, target_qps=100.0, max_batch=7).batch == 7
