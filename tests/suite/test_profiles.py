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
    assert profile.perf_gate("ixrt", "fp16", 1024).min_samples_per_s == pytest.approx(77073.93)
    assert profile.perf_gate("ixrt", "fp16", 4096) is None


def test_a_perf_gate_naming_a_backend_applies_to_that_backend_only():
    profile = load_profile("cpu-default")
    assert profile.perf_gate("onnxruntime", "fp32", 1024).min_ratio_vs_tensorflow is not None
    assert profile.perf_gate("openvino", "fp32", 1024) is None
    assert profile.top1_floor == 0.745 and profile.auc_margin > 0


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
])
def test_malformed_profile_names_file_and_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(WidedeepError, match=message) as info:
        load_profile(str(path))
    assert str(path) in str(info.value)


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(WidedeepError, match="cpu-default"):
        load_profile("no-such-profile")
