"""TensorRT / IxRT without the module: the optimization profile's shapes, the batch bounds, the key
(the GPU model included, read through a fake of cuda-python's runtime API).

Building and running need ``tensorrt`` or ``ixrt`` and a device; the contract tests cover them where
those are present and skip with "tensorrt not importable" / "ixrt not importable" elsewhere.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import widedeep_bench.engines.tensorrt as tensorrt_module
from widedeep_bench.engines.base import EngineOptions
from widedeep_bench.engines.onnxruntime import OnnxruntimeRunner
from widedeep_bench.engines.tensorrt import IxrtRunner, TensorrtRunner, check_profile_batch, profile_shapes
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles

TWO_INPUTS = Roles(categorical="new_categorical_placeholder:0", numeric="new_numeric_placeholder:0",
                   zeros_like=None, output="import/head/predictions/probabilities:0")
VENDOR = Roles(categorical="new_categorical_placeholder0", numeric="new_numeric_placeholder0",
               zeros_like="import/head/predictions/zeros_like0", output="import/head/predictions/probabilities:0")


def test_the_default_profile_is_1_1024_16384_samples_with_26_categorical_rows_each():
    shapes = profile_shapes(VENDOR, EngineOptions())
    assert shapes == {
        "new_categorical_placeholder0": ((26, 2), (26 * 1024, 2), (26 * 16384, 2)),
        "new_numeric_placeholder0": ((1, 13), (1024, 13), (16384, 13)),
        "import/head/predictions/zeros_like0": ((1, 1), (1024, 1), (16384, 1)),
    }


def test_the_profile_follows_the_options_and_omits_a_zeros_like_input_the_model_lacks():
    shapes = profile_shapes(TWO_INPUTS, EngineOptions(min_batch=4, opt_batch=16, max_batch=2048))
    assert shapes == {"new_categorical_placeholder:0": ((104, 2), (416, 2), (53248, 2)),
                      "new_numeric_placeholder:0": ((4, 13), (16, 13), (2048, 13))}


@pytest.mark.parametrize("samples", [3, 2049])
def test_a_batch_outside_the_profile_is_refused_with_how_to_rebuild(samples):
    with pytest.raises(WidedeepError, match=f"batch of {samples} samples is outside .* 4..2048; rebuild with"):
        check_profile_batch(samples, EngineOptions(min_batch=4, opt_batch=16, max_batch=2048))


def test_batches_at_the_profile_bounds_are_accepted():
    options = EngineOptions(min_batch=4, opt_batch=16, max_batch=2048)
    check_profile_batch(4, options)
    check_profile_batch(2048, options)


class FakeCudart:
    """cuda-python's runtime API, as much of it as ``TensorrtRunner.device()`` calls, for one pretend GPU."""

    class cudaError_t:  # noqa: N801 - cuda-python's name
        cudaSuccess = 0
        cudaErrorInvalidDevice = 101

    def __init__(self, name: bytes | str, major: int, minor: int, device: int = 0, fail: bool = False):
        self.name, self.major, self.minor, self.device, self.fail = name, major, minor, device, fail

    def cudaGetDevice(self):  # noqa: N802
        return (self.cudaError_t.cudaSuccess, self.device)

    def cudaGetDeviceProperties(self, device):  # noqa: N802
        if self.fail:
            return (self.cudaError_t.cudaErrorInvalidDevice, None)
        assert device == self.device
        return (self.cudaError_t.cudaSuccess, SimpleNamespace(name=self.name, major=self.major, minor=self.minor))

    def cudaGetErrorString(self, err):  # noqa: N802
        return (self.cudaError_t.cudaSuccess, b"invalid device ordinal")


H100 = FakeCudart(b"NVIDIA H100 80GB HBM3" + b"\0" * 235, 9, 0)


@pytest.fixture
def pretend_gpu(monkeypatch):
    """Set the pretend GPU the TensorRT key is computed for (no CUDA here)."""
    def use(cudart: FakeCudart) -> None:
        monkeypatch.setattr(tensorrt_module, "cuda_runtime", lambda: cudart)

    use(H100)
    return use


@pytest.fixture
def pretend_versions(monkeypatch, pretend_gpu):
    """Versions for runtimes that are absent here: the key is computed without importing them."""
    monkeypatch.setattr(TensorrtRunner, "version", classmethod(lambda cls: "10.3.0"))
    monkeypatch.setattr(OnnxruntimeRunner, "version", classmethod(lambda cls: "1.32.0"))


def test_the_engine_key_includes_the_batch_profile_where_the_engine_is_compiled_for_it(pretend_versions, converted_onnx):
    default = TensorrtRunner(converted_onnx, EngineOptions()).engine_key()
    larger = TensorrtRunner(converted_onnx, EngineOptions(max_batch=32768)).engine_key()
    assert default.batch_profile == (1, 1024, 16384)
    assert str(default) != str(larger)
    assert str(default).startswith("tensorrt-fp32-")
    ort_default = OnnxruntimeRunner(converted_onnx, EngineOptions()).engine_key()
    ort_larger = OnnxruntimeRunner(converted_onnx, EngineOptions(max_batch=32768)).engine_key()
    assert ort_default.batch_profile is None and str(ort_default) == str(ort_larger)


def test_tensorrt_and_ixrt_engines_never_share_a_key(pretend_versions, converted_onnx):
    assert str(TensorrtRunner(converted_onnx).engine_key()) != str(IxrtRunner(converted_onnx).engine_key())


def test_ixrt_is_the_same_runner_under_another_module_name():
    assert issubclass(IxrtRunner, TensorrtRunner)
    assert (IxrtRunner.name, IxrtRunner.module_name) == ("ixrt", "ixrt")
    assert TensorrtRunner.uses_batch_profile and TensorrtRunner.artifact_name == "engine.plan"


def test_the_engine_key_names_the_gpu_model_and_compute_capability(pretend_versions, converted_onnx):
    key = TensorrtRunner(converted_onnx).engine_key()
    assert key.device == "NVIDIA H100 80GB HBM3 sm_90"
    assert IxrtRunner(converted_onnx).engine_key().device == "NVIDIA H100 80GB HBM3 sm_90"
    assert OnnxruntimeRunner(converted_onnx).engine_key().device == ""  # a CPU artifact loads anywhere


@pytest.mark.parametrize("other", [FakeCudart("NVIDIA A100-SXM4-80GB", 8, 0), FakeCudart(b"NVIDIA H200", 9, 0),
                                   FakeCudart(b"NVIDIA H100 80GB HBM3", 8, 9)],
                         ids=["other-model", "same-capability", "other-capability"])
def test_a_plan_built_on_one_gpu_model_is_never_keyed_for_another(pretend_versions, pretend_gpu, converted_onnx, other):
    h100 = TensorrtRunner(converted_onnx).engine_key()
    pretend_gpu(other)
    elsewhere = TensorrtRunner(converted_onnx).engine_key()
    assert elsewhere.device != h100.device and str(elsewhere) != str(h100)
    assert {**elsewhere.fields(), "device": h100.device} == h100.fields()  # only the device moved


def test_the_same_gpu_model_on_another_ordinal_shares_the_key(pretend_versions, pretend_gpu, converted_onnx):
    first = TensorrtRunner(converted_onnx).engine_key()
    pretend_gpu(FakeCudart(b"NVIDIA H100 80GB HBM3", 9, 0, device=3))
    assert TensorrtRunner(converted_onnx).engine_key() == first


def test_a_device_query_that_fails_says_so(pretend_versions, pretend_gpu, converted_onnx):
    pretend_gpu(FakeCudart(b"NVIDIA H100 80GB HBM3", 9, 0, fail=True))
    with pytest.raises(WidedeepError, match=r"CUDA cudaGetDeviceProperties\(0\) failed: invalid device ordinal"):
        TensorrtRunner(converted_onnx).engine_key()
