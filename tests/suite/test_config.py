"""Suite options: each has an environment variable, the option beats it, and a bad value is one line
naming what the user typed (the option, or the variable) and what was expected."""

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.suite.config import OPTIONS, SuiteConfig


class FakePytestConfig:
    """What ``pytest_addoption`` registers: every option defaults to None; a flag given is True."""

    def __init__(self, **given):
        self.given = {f"--wd-{name.replace('_', '-')}": value for name, value in given.items()}

    def getoption(self, option):
        assert option in OPTIONS, option
        return self.given.get(option)


def configure(monkeypatch=None, env=None, **given) -> SuiteConfig:
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    return SuiteConfig.from_pytest(FakePytestConfig(**given))


@pytest.fixture(autouse=True)
def no_suite_environment(monkeypatch):
    for spec in OPTIONS.values():
        monkeypatch.delenv(spec.env, raising=False)


def test_every_option_has_its_own_environment_variable():
    envs = [spec.env for spec in OPTIONS.values()]
    assert len(set(envs)) == len(envs) and all(env.startswith("WIDEDEEP_") for env in envs)
    assert [option for option, spec in OPTIONS.items() if spec.flag] == ["--wd-allow-missing"]


def test_defaults_come_from_the_cpu_default_profile():
    config = configure()
    assert config.profile.name == "cpu-default"
    assert config.backends is None  # every runner known; the unavailable ones skip with a reason
    assert config.batch_sizes == (1024, 4096, 16384) and config.precisions == ("fp32", "fp16", "int8")
    assert config.calibrates and config.calibration_csv is None  # INT8 calibrates on the default's own rows
    assert (config.perf_rounds, config.perf_warmup, config.perf_duration_s) == (20, 3, 1.0)
    assert (config.ort_providers, config.allow_missing, config.strict, config.backends_named) == \
        (None, False, False, False)


def test_environment_sets_an_option_and_the_command_line_beats_it(monkeypatch):
    config = configure(monkeypatch, {"WIDEDEEP_BATCH_SIZES": "64,128", "WIDEDEEP_BACKEND": "onnxruntime,openvino",
                                     "WIDEDEEP_PERF_DURATION": "2.5",
                                     "WIDEDEEP_ORT_PROVIDERS": "CUDAExecutionProvider"})
    assert (config.batch_sizes, config.backends) == ((64, 128), ("onnxruntime", "openvino"))
    assert config.perf_duration_s == 2.5
    assert config.ort_providers == ("CUDAExecutionProvider",)
    config = configure(batch_sizes="256", backend="onnxruntime,torch", perf_duration="0.5",
                       ort_providers="TensorrtExecutionProvider,CUDAExecutionProvider")
    assert config.batch_sizes == (256,) and config.backends == ("onnxruntime", "torch")
    assert config.perf_duration_s == 0.5
    assert config.ort_providers == ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def test_an_empty_environment_variable_counts_as_unset(monkeypatch):
    config = configure(monkeypatch, {"WIDEDEEP_PERF_WARMUP": "", "WIDEDEEP_ROWS": "", "WIDEDEEP_ONNX": ""})
    assert (config.profile.name, config.perf_warmup, config.rows, config.onnx) == ("cpu-default", 3, None, None)


@pytest.mark.parametrize("variable", ["WIDEDEEP_PROFILE", "WIDEDEEP_BACKEND", "WIDEDEEP_ORT_PROVIDERS"])
def test_an_empty_variable_that_would_name_what_must_run_is_refused(monkeypatch, variable):
    """``WIDEDEEP_PROFILE=$UNSET`` must not quietly become the exploratory run that skips absent runtimes."""
    with pytest.raises(WidedeepError, match=f"{variable} is set but empty"):
        configure(monkeypatch, {variable: " "})


def test_an_explicit_profile_brings_its_backends_precisions_and_batches():
    config = configure(profile="mr-v100-ixrt-fp16")
    assert (config.backends, config.precisions, config.batch_sizes) == (("ixrt",), ("fp16",), (1024,))


@pytest.mark.parametrize("given, env", [
    ({"profile": "cpu-default"}, {}), ({}, {"WIDEDEEP_PROFILE": "cpu-default"}),
    ({"backend": "onnxruntime"}, {}), ({}, {"WIDEDEEP_BACKEND": "onnxruntime"}),
    ({"ort_providers": "CPUExecutionProvider"}, {}), ({}, {"WIDEDEEP_ORT_PROVIDERS": "CPUExecutionProvider"}),
])
def test_a_run_that_names_a_profile_backend_or_provider_is_strict(monkeypatch, given, env):
    """A strict run fails closed where a runner it names cannot run here."""
    assert configure(monkeypatch, env, **given).strict


def test_backends_named_says_whether_the_user_named_the_runners(monkeypatch):
    assert configure(backend="onnxruntime").backends_named
    assert not configure(profile="cpu-default").backends_named  # the profile named them
    assert configure(monkeypatch, {"WIDEDEEP_BACKEND": "openvino"}).backends_named


@pytest.mark.parametrize("given, must_run", [
    ({}, set()),  # exploratory: absent runtimes skip
    ({"profile": "mr-v100-ixrt-fp16"}, {"ixrt"}),
    ({"backend": "openvino,torch"}, {"openvino", "torch"}),
    ({"ort_providers": "CPUExecutionProvider"}, {"onnxruntime"}),
    ({"backend": "openvino,onnxruntime", "ort_providers": "CPUExecutionProvider"}, {"openvino", "onnxruntime"}),
])
def test_the_runners_a_run_names_must_run_and_no_others(given, must_run):
    config = configure(**given)
    assert {name for name in ("onnxruntime", "openvino", "torch", "ixrt", "tensorrt") if config.must_run(name)} == \
        must_run


def test_ort_providers_default_to_the_profiles_and_the_option_beats_them(tmp_path):
    profile = tmp_path / "gpu.toml"
    profile.write_text('name = "gpu"\nbackends = ["onnxruntime"]\nprecisions = ["fp16"]\nbatch_sizes = [1024]\n'
                       'ort_providers = ["CUDAExecutionProvider"]\n'
                       '[accuracy]\ntop1_floor = 0.7\ntop1_max_drop = 0.001\nauc_margin = 0.05\n')
    assert configure(profile=str(profile)).ort_providers == ("CUDAExecutionProvider",)
    assert configure(profile=str(profile), ort_providers="TensorrtExecutionProvider").ort_providers == \
        ("TensorrtExecutionProvider",)


@pytest.mark.parametrize("given, env, expected", [
    ({"allow_missing": True}, {}, True),
    ({}, {}, False),
    ({}, {"WIDEDEEP_ALLOW_MISSING": "1"}, True),
    ({}, {"WIDEDEEP_ALLOW_MISSING": "TRUE"}, True),
    ({}, {"WIDEDEEP_ALLOW_MISSING": "Yes"}, True),
    ({}, {"WIDEDEEP_ALLOW_MISSING": "0"}, False),
    ({}, {"WIDEDEEP_ALLOW_MISSING": "False"}, False),
    ({}, {"WIDEDEEP_ALLOW_MISSING": "no"}, False),
    ({}, {"WIDEDEEP_ALLOW_MISSING": ""}, False),
    ({"allow_missing": True}, {"WIDEDEEP_ALLOW_MISSING": "0"}, True),  # the command line beats the variable
])
def test_allow_missing_is_a_flag_or_a_true_false_variable(monkeypatch, given, env, expected):
    assert configure(monkeypatch, env, **given).allow_missing is expected


@pytest.mark.parametrize("given, message", [
    ({"batch_sizes": "1024,abc"}, "--wd-batch-sizes='1024,abc': expected comma-separated positive integers, "
                                  "e.g. 1024,4096"),
    ({"batch_sizes": "0"}, "--wd-batch-sizes='0': expected comma-separated positive integers"),
    ({"batch_sizes": "-1024"}, "--wd-batch-sizes='-1024': expected comma-separated positive integers"),
    ({"batch_sizes": "1024,"}, "--wd-batch-sizes='1024,': expected comma-separated positive integers"),
    ({"batch_sizes": ""}, "--wd-batch-sizes='': expected comma-separated positive integers"),
    ({"batch_sizes": "1024,1024"}, "--wd-batch-sizes='1024,1024': expected comma-separated positive integers, "
                                   "e.g. 1024,4096, each once; repeated: 1024"),
    ({"precision": "fp32,fp8"}, "--wd-precision='fp32,fp8': expected precisions from ['fp32', 'fp16', 'bf16', "
                                "'int8']; unknown: ['fp8']"),
    ({"precision": "fp32,fp32"}, "--wd-precision='fp32,fp32': expected comma-separated precisions, each once"),
    ({"backend": "onnxrt"}, "--wd-backend='onnxrt': expected runner names from ["),
    ({"backend": ""}, "--wd-backend='': expected comma-separated runner names"),
    ({"profile": "no-such-profile"}, "profile 'no-such-profile' not found"),
    ({"rows": "-5"}, "--wd-rows='-5': expected an integer >= 1"),
    ({"rows": "0"}, "--wd-rows='0': expected an integer >= 1"),
    ({"rows": "1e6"}, "--wd-rows='1e6': expected an integer >= 1"),
    ({"perf_warmup": "abc"}, "--wd-perf-warmup='abc': expected an integer >= 0"),
    ({"perf_warmup": "-1"}, "--wd-perf-warmup='-1': expected an integer >= 0"),
    ({"perf_warmup": "2.5"}, "--wd-perf-warmup='2.5': expected an integer >= 0"),
    ({"perf_rounds": "0"}, "--wd-perf-rounds='0': expected an integer >= 1"),
    ({"perf_rounds": "many"}, "--wd-perf-rounds='many': expected an integer >= 1"),
    ({"perf_duration": "0"}, "--wd-perf-duration='0': expected a number of seconds > 0"),
    ({"perf_duration": "-1"}, "--wd-perf-duration='-1': expected a number of seconds > 0"),
    ({"perf_duration": "nan"}, "--wd-perf-duration='nan': expected a number of seconds > 0"),
    ({"perf_duration": "inf"}, "--wd-perf-duration='inf': expected a number of seconds > 0"),
    ({"perf_duration": "1s"}, "--wd-perf-duration='1s': expected a number of seconds > 0"),
    ({"ort_providers": "CUDAExecutionProvider,,CPUExecutionProvider"},
     "--wd-ort-providers='CUDAExecutionProvider,,CPUExecutionProvider': expected comma-separated ONNX Runtime "
     "provider names"),
    ({"ort_providers": "CUDAExecutionProvider", "backend": "openvino"},
     "--wd-ort-providers='CUDAExecutionProvider': expected a run that tests onnxruntime: providers apply to it "
     "only, and this run tests ['openvino']"),
])
def test_a_bad_option_is_one_line_naming_the_option_and_what_was_expected(given, message):
    with pytest.raises(WidedeepError) as info:
        configure(**given)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("env, message", [
    ({"WIDEDEEP_PERF_WARMUP": "abc"}, "WIDEDEEP_PERF_WARMUP='abc': expected an integer >= 0"),
    ({"WIDEDEEP_PERF_ROUNDS": "-3"}, "WIDEDEEP_PERF_ROUNDS='-3': expected an integer >= 1"),
    ({"WIDEDEEP_ROWS": "ten"}, "WIDEDEEP_ROWS='ten': expected an integer >= 1"),
    ({"WIDEDEEP_BATCH_SIZES": "1k"}, "WIDEDEEP_BATCH_SIZES='1k': expected comma-separated positive integers"),
    ({"WIDEDEEP_PERF_DURATION": "0"}, "WIDEDEEP_PERF_DURATION='0': expected a number of seconds > 0"),
    ({"WIDEDEEP_PRECISION": "tf32"}, "WIDEDEEP_PRECISION='tf32': expected precisions from"),
    ({"WIDEDEEP_ALLOW_MISSING": "maybe"}, "WIDEDEEP_ALLOW_MISSING='maybe': expected one of ['1', 'true', 'yes'] "
                                          "(true) or ['0', 'false', 'no'] or empty (false)"),
])
def test_a_bad_environment_variable_is_named_instead_of_the_option(monkeypatch, env, message):
    with pytest.raises(WidedeepError) as info:
        configure(monkeypatch, env)
    assert message in str(info.value) and "--wd-" not in str(info.value)


def test_a_good_option_hides_a_bad_environment_variable(monkeypatch):
    """The command line beats the environment, so a stale variable does not stop a run that overrides it."""
    assert configure(monkeypatch, {"WIDEDEEP_PERF_WARMUP": "abc"}, perf_warmup="0").perf_warmup == 0


def test_a_calibration_csv_for_a_run_that_calibrates_nothing_is_refused(tmp_path):
    rows = tmp_path / "calibration.csv"
    rows.write_text("0,1,2\n")
    with pytest.raises(WidedeepError, match=r"--wd-calibration-csv='.*calibration\.csv': expected a run with an INT8 "
                                            r"engine or scenario to calibrate; this one runs precisions \['fp32'\]"):
        configure(calibration_csv=str(rows), precision="fp32")
    assert configure(calibration_csv=str(rows)).calibration_csv == str(rows)  # cpu-default runs INT8


def test_a_calibration_csv_that_does_not_exist_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(WidedeepError, match=r"--wd-calibration-csv='.*absent\.csv': expected a Criteo-format CSV "
                                            r"file of calibration rows; there is no such file"):
        configure(calibration_csv=str(tmp_path / "absent.csv"))
