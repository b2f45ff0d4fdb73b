"""Hardware profiles: the committed ones load, and every key and value is checked against the schema.

A profile that would make a gate silently not apply, or apply meaninglessly (a constant predictor
passing), is refused when it loads with one line naming the file, the table, the key and what was expected.
"""

import math
import sys
from dataclasses import fields

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.profiles import (AccuracyGates, BenchmarkTarget, PerfGate, Profile, available_profiles,
                                     load_profile)

VALID = '''name = "lab"
backends = ["onnxruntime"]
precisions = ["fp32", "fp16"]
batch_sizes = [1024, 4096]

[accuracy]
top1_floor = 0.7
top1_max_drop = 0.002
auc_margin = 0.05
'''
PERF = '[[perf]]\nprecision = "fp32"\nbatch = 1024\nmin_ratio_vs_tensorflow = 0.85\n'
TARGET = '[[target]]\nbenchmark = "engine_throughput"\nmetric = "ort_fp32_over_tf"\nmin = 0.85\nwhy = "measured"\n'


def load_text(tmp_path, text: str) -> Profile:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return load_profile(str(path))


def refused(tmp_path, text: str) -> str:
    """The one-line message ``text`` is refused with; it always starts with the file's path."""
    with pytest.raises(WidedeepError) as info:
        load_text(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'lab.toml'}: ") and "\n" not in message, message
    return message


def test_committed_profiles_all_load():
    assert {"cpu-default", "mr-v100-ixrt-fp16", "h100-torch"} <= set(available_profiles())
    for name in available_profiles():
        assert load_profile(name).name == name


def test_the_h100_profile_runs_torch_and_holds_issue_6_s_fp16_targets_but_no_perf_gate_yet():
    profile = load_profile("h100-torch")
    assert (profile.backends, profile.precisions, profile.batch_sizes) == (("torch",), ("fp16", "fp32"),
                                                                           (1024, 4096, 16384))
    cpu = load_profile("cpu-default").accuracy
    assert profile.perf == () and (profile.top1_floor, profile.top1_max_drop, profile.auc_margin) == \
        (cpu.top1_floor, cpu.top1_max_drop, cpu.auc_margin)
    assert profile.auc_tier == 99.0  # MLPerf's base tier until a GPU run measures what FP16 keeps
    assert [(t.metric, t.min, t.max) for t in profile.targets_for("gpu_throughput")] == [
        ("fp16_b1024_compute_samples_per_s", 10_000_000, None),
        ("fp16_b1024_end_to_end_samples_per_s", 3_000_000, None),
        ("fp16_b16384_compute_samples_per_s", 50_000_000, None)]
    assert all("issue 6" in t.why for t in profile.targets) and len(profile.targets) == 3


def test_seed_profile_gates_fp16_at_batch_1024_with_the_published_figure():
    profile = load_profile("mr-v100-ixrt-fp16")
    assert profile.backends == ("ixrt",)
    (gate,) = profile.perf_gates("ixrt", "fp16", 1024)
    assert gate.min_samples_per_s == pytest.approx(77073.93)
    assert profile.perf_gates("ixrt", "fp16", 4096) == []
    assert profile.top1_floor == profile.accuracy.top1_floor == 0.745 and profile.auc_margin > 0


def test_a_perf_gate_naming_a_backend_applies_to_that_backend_only():
    profile = load_profile("cpu-default")
    assert [g.min_ratio_vs_tensorflow for g in profile.perf_gates("onnxruntime", "fp32", 1024)] == [0.85]
    assert profile.perf_gates("openvino", "fp32", 1024) == []


def test_the_cpu_default_profile_holds_the_engine_throughput_targets_with_their_reasons():
    targets = {t.metric: t for t in load_profile("cpu-default").targets_for("engine_throughput")}
    assert {metric: (t.min, t.max) for metric, t in targets.items()} == {
        "ort_fp32_over_tf": (1.25, None), "ort_fp32_over_sgemm_ceiling": (0.90, None),
        "null_time_over_ort_fp32_time": (None, 0.02), "fastest_reduced_over_ort_fp32": (2.5, None)}
    assert "SPEC" in targets["ort_fp32_over_tf"].why and "2026-11-26" in targets["ort_fp32_over_tf"].why


def test_the_cpu_default_profile_holds_issue_2_s_preprocessing_targets():
    targets = load_profile("cpu-default").targets_for("preprocess_speed")
    assert [(t.metric, t.min, t.max) for t in targets] == [("speedup_over_per_row", 30.0, None),
                                                          ("cold_read_s", None, 10.0), ("warm_load_s", None, 0.5)]
    assert all("issue 2" in t.why for t in targets)


def test_the_cpu_default_profile_bounds_the_paired_ratio_spread_quiet_and_loaded():
    targets = load_profile("cpu-default").targets_for("paired_ratio")
    assert [(t.metric, t.min, t.max) for t in targets] == [("spread_quiet", None, 0.05),
                                                          ("spread_loaded", None, 0.10)]
    assert load_profile("cpu-default").targets_for("no_such_benchmark") == []


def test_a_target_is_met_within_its_bounds_and_never_by_nan():
    target = BenchmarkTarget("b", "m", min=0.5, max=1.0, why="w")
    assert [target.met_by(v) for v in (0.5, 0.75, 1.0, 0.49, 1.01, math.nan)] == [True] * 3 + [False] * 3
    assert BenchmarkTarget("b", "m", max=0.02, why="w").met_by(-1.0)
    assert str(target) == "b m >= 0.5 and <= 1"


def test_a_profile_by_path_gets_the_defaults_for_its_optional_keys(tmp_path):
    profile = load_text(tmp_path, VALID)
    assert (profile.name, profile.batch_sizes, profile.top1_floor, profile.top1_max_drop, profile.auc_margin) == \
        ("lab", (1024, 4096), 0.7, 0.002, 0.05)
    assert (profile.description, profile.perf, profile.targets, profile.ort_providers) == ("", (), (), ())
    assert profile.source == str(tmp_path / "lab.toml")


def test_ort_providers_are_read_in_priority_order(tmp_path):
    profile = load_text(tmp_path, 'ort_providers = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]\n' + VALID)
    assert profile.ort_providers == ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def test_a_general_gate_and_a_backends_own_gate_both_apply(tmp_path):
    profile = load_text(tmp_path, VALID + PERF + '[[perf]]\nbackend = "onnxruntime"\nprecision = "fp32"\n'
                                              'batch = 1024\nmin_samples_per_s = 1e9\n')
    gates = profile.perf_gates("onnxruntime", "fp32", 1024)
    assert sorted((g.backend or "", g.min_samples_per_s or 0) for g in gates) == [("", 0), ("onnxruntime", 1e9)]


@pytest.mark.parametrize("schema, text, table", [
    (Profile, VALID + "top1_floorr = 0.9\n", "[accuracy] top1_floorr"),
    (AccuracyGates, VALID + "top1_floorr = 0.9\n", "[accuracy] top1_floorr"),
    (PerfGate, VALID + PERF + "min_sample_per_s = 5.0\n", "[[perf]] #1 min_sample_per_s"),
    (BenchmarkTarget, VALID + TARGET + "minimum = 0.9\n", "[[target]] #1 minimum"),
    (Profile, "gates = 3\n" + VALID, "gates"),
])
def test_an_unknown_key_is_refused_naming_its_table_and_the_schemas_keys(tmp_path, schema, text, table):
    """The allowed keys are the schema dataclass's fields (``targets`` is written ``[[target]]``)."""
    message = refused(tmp_path, text)
    if schema is Profile and table.startswith("["):
        schema = AccuracyGates  # top1_floorr is written under [accuracy]
    keys = sorted({"targets": "target", "scenarios": "scenario"}.get(f.name, f.name) for f in fields(schema)
                  if f.name != "source")
    assert f": {table}: unknown key; allowed: {keys}" in message


@pytest.mark.parametrize("text, expected", [
    (VALID + "[acuracy]\ntop1_floor = 0.7\n", "[acuracy]: unknown table; allowed: ["),
    (VALID + "[[perfs]]\nbatch = 1\n", "[[perfs]]: unknown table; allowed: ["),
    (VALID + "[[target]]\nbenchmark = 'b'\nmetric = 'm'\nmax = 1\nwhy = 'w'\n[target.extra]\nx = 1\n",
     "[[target]] #1 [extra]: unknown table; allowed: ["),
    (VALID + 'ort_providers = ["CUDAExecutionProvider"]\n',
     "[accuracy] ort_providers: unknown key; allowed: ['auc_margin', 'auc_tier', 'top1_floor', 'top1_max_drop']; "
     "top-level keys go above the first [table]"),
    (VALID + "[perf]\nprecision = 'fp32'\n", "[perf]: must be written [[perf]] (a list of tables), not table"),
    (VALID.split("[accuracy]")[0] + "accuracy = 0.7\n", "accuracy = 0.7: expected a table [accuracy]"),
    (VALID.replace('name = "lab"\n', ""), "missing ['name']; required: ['name', 'backends', 'precisions', "
                                          "'batch_sizes', 'accuracy']"),
    (VALID.replace("auc_margin = 0.05\n", ""), "[accuracy] missing ['auc_margin']"),
])
def test_unknown_tables_misplaced_keys_and_missing_keys_are_refused(tmp_path, text, expected):
    assert expected in refused(tmp_path, text)


@pytest.mark.parametrize("key, value", [
    ("top1_floor", "0"), ("top1_floor", "1"), ("top1_floor", "-0.745"), ("top1_floor", "1.5"),
    ("top1_floor", "nan"), ("top1_floor", "inf"), ("top1_floor", "true"), ("top1_floor", '"0.7"'),
    ("top1_max_drop", "-0.001"), ("top1_max_drop", "1"), ("top1_max_drop", "nan"),
    ("auc_margin", "-0.05"), ("auc_margin", "0"), ("auc_margin", "0.5"), ("auc_margin", "-inf"),
])
def test_accuracy_gates_that_a_constant_predictor_could_pass_are_refused(tmp_path, key, value):
    text = VALID.replace(f"{key} = ", f"{key} = {value}\n#")
    expected = {"top1_floor": "a number in (0, 1)", "top1_max_drop": "a number in [0, 1)",
                "auc_margin": "a number in (0, 0.5)"}[key]
    assert f"[accuracy] {key} = " in (message := refused(tmp_path, text)) and f": expected {expected}" in message


def test_a_drop_of_zero_is_allowed_no_engine_may_lose_top1(tmp_path):
    assert load_text(tmp_path, VALID.replace("top1_max_drop = 0.002", "top1_max_drop = 0")).top1_max_drop == 0


@pytest.mark.parametrize("line, expected", [
    ("min_samples_per_s = 0", "min_samples_per_s = 0: expected a finite number > 0"),
    ("min_samples_per_s = -5.0", "min_samples_per_s = -5.0: expected a finite number > 0"),
    ("min_samples_per_s = inf", "min_samples_per_s = inf: expected a finite number > 0"),
    ("min_samples_per_s = nan", "min_samples_per_s = nan: expected a finite number > 0"),
    ("min_samples_per_s = true", "min_samples_per_s = True: expected a finite number > 0"),
    ('min_samples_per_s = "77073"', "min_samples_per_s = '77073': expected a finite number > 0"),
    ("min_ratio_vs_tensorflow = 0.0", "min_ratio_vs_tensorflow = 0.0: expected a finite number > 0"),
    ("batch = 0", "batch = 0: expected a positive integer"),
    ("batch = 1024.0", "batch = 1024.0: expected a positive integer"),
    ("batch = true", "batch = True: expected a positive integer"),
    ('precision = "FP16"', "precision = 'FP16': expected a precision, one of ['fp32', 'fp16', 'bf16', 'int8']"),
    ('backend = "onnxrt"', "backend = 'onnxrt': expected a runner, one of ["),
    ('backend = ["onnxruntime"]', "backend = ['onnxruntime']: expected a runner, one of ["),
])
def test_a_perf_gate_value_out_of_range_is_refused(tmp_path, line, expected):
    key = line.split(" = ")[0]
    gate = "\n".join(line if row.startswith(f"{key} =") else row for row in PERF.splitlines())
    if f"{key} =" not in PERF:
        gate += f"\n{line}"
    assert f": [[perf]] #1 {expected}" in refused(tmp_path, VALID + gate + "\n")


@pytest.mark.parametrize("gate, expected", [
    ('precision = "fp16"\nbatch = 1024\n', "needs min_samples_per_s or min_ratio_vs_tensorflow"),
    ('precision = "fp32"\nbatch = 512\nmin_samples_per_s = 5.0\n',
     "batch 512 is not one of the profile's batch_sizes [1024, 4096], so the gate would never apply"),
    ('backend = "openvino"\nprecision = "fp32"\nbatch = 1024\nmin_samples_per_s = 5.0\n',
     "backend 'openvino' is not one of the profile's backends ['onnxruntime'], so the gate would never apply"),
])
def test_a_perf_gate_that_could_never_apply_is_refused(tmp_path, gate, expected):
    assert f": [[perf]] #1 {expected}" in refused(tmp_path, VALID + "[[perf]]\n" + gate)


def test_a_perf_gate_for_a_precision_the_profile_does_not_run_is_refused(tmp_path):
    text = VALID.replace('precisions = ["fp32", "fp16"]', 'precisions = ["fp16"]') + PERF
    assert "precision 'fp32' is not one of the profile's precisions ['fp16']" in refused(tmp_path, text)


def test_two_gates_for_the_same_case_are_refused(tmp_path):
    assert "[[perf]] #2 a second gate for backend (any), fp32, batch 1024" in refused(tmp_path, VALID + PERF + PERF)


@pytest.mark.parametrize("line, expected", [
    ('precisions = ["fp8"]', "precisions = ['fp8']: expected a non-empty list of precisions from ['fp32', 'fp16', 'bf16', 'int8']"),
    ("precisions = []", "precisions = []: expected a non-empty list of precisions"),
    ('precisions = ["fp32", "fp32"]', "precisions = ['fp32', 'fp32']: expected each item once; repeated: 'fp32'"),
    ("batch_sizes = [0]", "batch_sizes = [0]: expected a non-empty list of positive integers"),
    ("batch_sizes = []", "batch_sizes = []: expected a non-empty list of positive integers"),
    ("batch_sizes = [true]", "batch_sizes = [True]: expected a non-empty list of positive integers"),
    ('batch_sizes = "1024"', "batch_sizes = '1024': expected a non-empty list of positive integers"),
    ("batch_sizes = [1024, 1024]", "expected each item once; repeated: 1024"),
    ('backends = ["tensorrt", "cuda"]', "backends = ['tensorrt', 'cuda']: expected a list of runner names from"),
    ('backends = [{ name = "onnxruntime" }]', "backends = [{'name': 'onnxruntime'}]: expected a list of runner names"),
    ("name = 3", "name = 3: expected a non-empty string"),
    ('name = " "', "name = ' ': expected a non-empty string"),
    ("description = 3", "description = 3: expected a string"),
])
def test_a_top_level_value_of_the_wrong_kind_is_refused(tmp_path, line, expected):
    key = line.split(" = ")[0]
    text = "\n".join(line if row.startswith(f"{key} =") else row for row in VALID.splitlines())
    if f"{key} =" not in VALID:
        text = f"{line}\n{text}"
    assert f": {expected}" in refused(tmp_path, text + "\n")


@pytest.mark.parametrize("line, expected", [
    ('ort_providers = "CUDAExecutionProvider"', "ort_providers = 'CUDAExecutionProvider': expected a list of "
                                                "non-empty ONNX Runtime provider names"),
    ('ort_providers = [""]', "ort_providers = ['']: expected a list of non-empty ONNX Runtime provider names"),
    ("ort_providers = [1]", "ort_providers = [1]: expected a list of non-empty ONNX Runtime provider names"),
    ('ort_providers = ["CUDAExecutionProvider", "CUDAExecutionProvider"]',
     "expected each item once; repeated: 'CUDAExecutionProvider'"),
])
def test_ort_providers_must_be_provider_names(tmp_path, line, expected):
    assert f": {expected}" in refused(tmp_path, f"{line}\n{VALID}")


def test_ort_providers_for_a_profile_that_never_runs_onnxruntime_are_refused(tmp_path):
    text = 'ort_providers = ["CUDAExecutionProvider"]\n' + VALID.replace('"onnxruntime"', '"openvino"')
    assert "expected backends to include onnxruntime (they are ['openvino'])" in refused(tmp_path, text)


@pytest.mark.parametrize("target, expected", [
    ('metric = "m"\nmax = 1\nwhy = "w"', "missing ['benchmark']"),
    ('benchmark = "b"\nmetric = ""\nmax = 1\nwhy = "w"', "metric = '': expected a non-empty string"),
    ('benchmark = 3\nmetric = "m"\nmax = 1\nwhy = "w"', "benchmark = 3: expected a non-empty string"),
    ('benchmark = "b"\nmetric = "m"\nwhy = "w"', "needs min or max (or both)"),
    ('benchmark = "b"\nmetric = "m"\nmin = 2\nmax = 1\nwhy = "w"', "min = 2 > max = 1: no figure can meet it"),
    ('benchmark = "b"\nmetric = "m"\nmin = nan\nwhy = "w"', "min = nan: expected a finite number"),
    ('benchmark = "b"\nmetric = "m"\nmax = inf\nwhy = "w"', "max = inf: expected a finite number"),
    ('benchmark = "b"\nmetric = "m"\nmax = true\nwhy = "w"', "max = True: expected a finite number"),
    ('benchmark = "b"\nmetric = "m"\nmax = 1', "missing ['why']; required: ['benchmark', 'metric', 'why']"),
    ('benchmark = "b"\nmetric = "m"\nmax = 1\nwhy = """two\nlines"""',
     "why = 'two\\nlines': expected a non-empty one-line string"),
])
def test_a_malformed_benchmark_target_is_refused(tmp_path, target, expected):
    assert f": [[target]] #1 {expected}" in refused(tmp_path, f"{VALID}[[target]]\n{target}\n")


def test_two_targets_for_the_same_metric_are_refused(tmp_path):
    message = refused(tmp_path, VALID + TARGET + TARGET.replace("min = 0.85", "max = 2.0"))
    assert "[[target]] #2 a second target for engine_throughput ort_fp32_over_tf; merge them into one" in message


def test_the_same_metric_of_two_benchmarks_are_two_targets(tmp_path):
    profile = load_text(tmp_path, VALID + TARGET + TARGET.replace("engine_throughput", "paired_ratio"))
    assert [t.benchmark for t in profile.targets] == ["engine_throughput", "paired_ratio"]
    assert profile.targets_for("paired_ratio") == [BenchmarkTarget("paired_ratio", "ort_fp32_over_tf", 0.85,
                                                                   None, why="measured")]


@pytest.mark.parametrize("text, message", [
    ("name = ", "not valid TOML"),
    ("name = 'x'\nname = 'y'\n", "not valid TOML"),
])
def test_a_file_that_is_not_toml_is_refused(tmp_path, text, message):
    assert message in refused(tmp_path, text)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_bytes(VALID.encode().replace(b"lab", b"l\xe9b"))
    with pytest.raises(WidedeepError, match=r"lab.toml: not valid TOML: not UTF-8"):
        load_profile(str(path))


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(WidedeepError, match="profile 'no-such-profile' not found .*cpu-default"):
        load_profile("no-such-profile")


def test_without_tomllib_the_tomli_package_reads_profiles(tmp_path, monkeypatch):
    try:
        import tomllib as parser
    except ModuleNotFoundError:  # Python 3.10: tomli is a dependency there
        import tomli as parser

    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10
    monkeypatch.setitem(sys.modules, "tomli", parser)  # the same parser, as published on PyPI
    assert load_text(tmp_path, VALID).name == "lab"
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(WidedeepError, match=r"needs the tomli package \(pip install tomli\)"):
        load_text(tmp_path, VALID)


def test_a_profile_that_cannot_be_read_is_refused_with_the_cause(tmp_path, monkeypatch):
    path = tmp_path / "lab.toml"
    path.write_text(VALID)

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(path), "read_bytes", denied)
    with pytest.raises(WidedeepError, match=r"lab.toml: cannot read the profile: Permission denied$"):
        load_profile(str(path))


@pytest.mark.parametrize("tier, accepted", [("99", 99.0), ("99.9", 99.9), (None, 99.0)])
def test_the_mlperf_auc_tier_is_99_or_99_9_and_99_when_absent(tmp_path, tier, accepted):
    line = "" if tier is None else f"auc_tier = {tier}\n"
    path = tmp_path / "lab.toml"
    path.write_text('name = "lab"\nbackends = []\nprecisions = ["int8"]\nbatch_sizes = [1024]\n\n[accuracy]\ntop1_floor = 0.7\n'
                    f'top1_max_drop = 0.002\nauc_margin = 0.05\n{line}')
    assert load_profile(str(path)).auc_tier == accepted


@pytest.mark.parametrize("tier", ["98", "100", "0.999", '"99.9"', "true"])
def test_an_auc_tier_that_is_not_an_mlperf_tier_is_refused_naming_the_file(tmp_path, tier):
    path = tmp_path / "lab.toml"
    path.write_text('name = "lab"\nbackends = []\nprecisions = ["int8"]\nbatch_sizes = [1024]\n\n[accuracy]\ntop1_floor = 0.7\n'
                    f'top1_max_drop = 0.002\nauc_margin = 0.05\nauc_tier = {tier}\n')
    with pytest.raises(WidedeepError, match=r"lab\.toml: \[accuracy\] auc_tier = .*: expected 99 or 99\.9"):
        load_profile(str(path))
