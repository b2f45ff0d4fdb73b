"""Hardware profiles: the committed ones load, and a malformed one is refused with its file and field named."""

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.profiles import available_profiles, load_profile


def test_committed_profiles_all_load():
    assert {"cpu-default", "mr-v100-ixrt-fp16"} <= set(available_profiles())
    for name in available_profiles():
        assert load_profile(name).name == name


def test_seed_profile_gates_fp16_at_batch_1024_with_the_published_figure():
    profile = load_profile("mr-v100-ixrt-fp16")
    assert profile.backends == ("ixrt",)
    (gate,) = profile.perf_gates("ixrt", "fp16", 1024)
    assert gate.min_samples_per_s == pytest.approx(77073.93)
    assert profile.perf_gates("ixrt", "fp16", 4096) == []
    assert profile.top1_floor == 0.745 and profile.auc_margin > 0


def test_a_perf_gate_naming_a_backend_applies_to_that_backend_only():
    profile = load_profile("cpu-default")
    assert [g.min_ratio_vs_tensorflow for g in profile.perf_gates("onnxruntime", "fp32", 1024)] == [0.85]
    assert profile.perf_gates("openvino", "fp32", 1024) == []


HEAD = 'name = "x"\nbackends = []\nprecisions = ["fp32"]\nbatch_sizes = [1]\n' \
       '[accuracy]\ntop1_floor = 0.7\ntop1_max_drop = 0.001\nauc_margin = 0.05\n'


def test_a_general_gate_and_a_backends_own_gate_both_apply(tmp_path):
    path = tmp_path / "both.toml"
    path.write_text(HEAD + '[[perf]]\nprecision = "fp32"\nbatch = 1024\nmin_ratio_vs_tensorflow = 0.5\n'
                           '[[perf]]\nbackend = "onnxruntime"\nprecision = "fp32"\nbatch = 1024\n'
                           'min_samples_per_s = 1e9\n')
    gates = load_profile(str(path)).perf_gates("onnxruntime", "fp32", 1024)
    assert sorted((g.backend or "", g.min_samples_per_s or 0) for g in gates) == [("", 0), ("onnxruntime", 1e9)]


def test_profile_by_path(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text('name = "lab"\nbackends = ["onnxruntime"]\nprecisions = ["fp32"]\nbatch_sizes = [64]\n'
                    '[accuracy]\ntop1_floor = 0.7\ntop1_max_drop = 0.002\nauc_margin = 0.1\n')
    profile = load_profile(str(path))
    assert (profile.batch_sizes, profile.top1_floor, profile.perf) == ((64,), 0.7, ())


@pytest.mark.parametrize("text, message", [
    ("name = ", "not valid TOML"),
    ('name = "x"\nbackends = []\nprecisions = ["fp8"]\nbatch_sizes = [1]\n', "fp8"),
    ('name = "x"\nbackends = []\nprecisions = ["fp32"]\nbatch_sizes = [0]\n', "batch_sizes"),
    ('name = "x"\nbackends = []\nprecisions = ["fp32"]\nbatch_sizes = [1]\n[accuracy]\ntop1_floor = "high"\n',
     "top1_floor"),
    ('name = "x"\nbackends = []\nprecisions = ["fp32"]\nbatch_sizes = [1]\n[accuracy]\ntop1_floor = 0.7\n'
     'top1_max_drop = 0.001\nauc_margin = 0.05\n[[perf]]\nprecision = "fp16"\nbatch = 1024\n', "min_samples_per_s"),
    (HEAD + '[[perf]]\nprecision = "FP16"\nbatch = 1024\nmin_samples_per_s = 5.0\n', "precision 'FP16'"),
    (HEAD + '[[perf]]\nbackend = "onnxrt"\nprecision = "fp16"\nbatch = 1024\nmin_samples_per_s = 5.0\n',
     "backend 'onnxrt' is not a runner"),
    (HEAD + '[[perf]]\nprecision = "fp16"\nbatch = 1024\nmin_samples_per_s = -5.0\n', "positive number"),
    (HEAD + '[[perf]]\nprecision = "fp16"\nbatch = 1024\nmin_ratio_vs_tensorflow = "1.2"\n', "positive number"),
    (HEAD + '[[perf]]\nprecision = "fp16"\nbatch = 1024\nmin_samples_per_s = 5.0\n'
            '[[perf]]\nprecision = "fp16"\nbatch = 1024\nmin_ratio_vs_tensorflow = 1.0\n', "a second gate"),
    (HEAD.replace("backends = []", 'backends = ["tensorrt", "cuda"]'), r"backends \['cuda'\]"),
])
def test_malformed_profile_names_file_and_field(tmp_path, text, message):
    """Every field that would make a gate silently never apply is refused at load time."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(WidedeepError, match=message) as info:
        load_profile(str(path))
    assert str(path) in str(info.value)


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(WidedeepError, match="cpu-default"):
        load_profile("no-such-profile")
