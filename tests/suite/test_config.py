"""Suite options: each has an environment variable, the option beats it, and bad values are refused."""

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.suite.config import OPTIONS, SuiteConfig


class FakePytestConfig:
    def __init__(self, **given):
        self.given = {f"--wd-{name.replace('_', '-')}": value for name, value in given.items()}

    def getoption(self, option):
        assert option in OPTIONS, option
        return self.given.get(option)


@pytest.fixture(autouse=True)
def no_suite_environment(monkeypatch):
    for env, _, _ in OPTIONS.values():
        monkeypatch.delenv(env, raising=False)


def test_defaults_come_from_the_cpu_default_profile():
    config = SuiteConfig.from_pytest(FakePytestConfig())
    assert config.profile.name == "cpu-default"
    assert config.backends is None  # every runner known; the unavailable ones skip with a reason
    assert config.batch_sizes == (1024, 4096, 16384) and config.precisions == ("fp32", "fp16")


def test_environment_sets_an_option_and_the_command_line_beats_it(monkeypatch):
    monkeypatch.setenv("WIDEDEEP_BATCH_SIZES", "64,128")
    monkeypatch.setenv("WIDEDEEP_BACKEND", "openvino")
    assert SuiteConfig.from_pytest(FakePytestConfig()).batch_sizes == (64, 128)
    config = SuiteConfig.from_pytest(FakePytestConfig(batch_sizes="256", backend="onnxruntime,torch"))
    assert config.batch_sizes == (256,) and config.backends == ("onnxruntime", "torch")


def test_an_explicit_profile_brings_its_backends_precisions_and_batches():
    config = SuiteConfig.from_pytest(FakePytestConfig(profile="mr-v100-ixrt-fp16"))
    assert (config.backends, config.precisions, config.batch_sizes) == (("ixrt",), ("fp16",), (1024,))


@pytest.mark.parametrize("given, message", [
    ({"batch_sizes": "1024,abc"}, "--wd-batch-sizes='1024,abc': expected comma-separated integers"),
    ({"batch_sizes": "0"}, "expected positive integers"),
    ({"precision": "fp32,int8"}, r"--wd-precision: \['int8'\]"),
    ({"profile": "no-such-profile"}, "profile 'no-such-profile' not found"),
    ({"rows": "-5"}, "--wd-rows"),
])
def test_bad_values_are_refused_naming_the_option(given, message):
    with pytest.raises(WidedeepError, match=message):
        SuiteConfig.from_pytest(FakePytestConfig(**given))
