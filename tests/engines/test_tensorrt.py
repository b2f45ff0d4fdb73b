"""TensorRT / IxRT without the module: the optimization profile's shapes, the batch bounds, the key.

Building and running need ``tensorrt`` or ``ixrt`` and a device; the contract tests cover them where
those are present and skip with "tensorrt not importable" / "ixrt not importable" elsewhere.
"""

from __future__ import annotations

import pytest

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


@pytest.fixture
def pretend_versions(monkeypatch):
    """Versions for runtimes that are absent here: the key is computed without importing them."""
    monkeypatch.setattr(TensorrtRunner, "version", classmethod(lambda cls: "10.3.0"))
    monkeypatch.setattr(OnnxruntimeRunner, "version", classmethod(lambda cls: "1.32.0"))


def test_the_engine_key_includes_the_batch_profile_where_the_engine_is_compiled_for_it(pretend_versions, engine_onnx):
    default = TensorrtRunner(engine_onnx, EngineOptions()).engine_key()
    larger = TensorrtRunner(engine_onnx, EngineOptions(max_batch=32768)).engine_key()
    assert default.batch_profile == (1, 1024, 16384)
    assert str(default) != str(larger)
    assert str(default).startswith("tensorrt-fp32-")
    ort_default = OnnxruntimeRunner(engine_onnx, EngineOptions()).engine_key()
    ort_larger = OnnxruntimeRunner(engine_onnx, EngineOptions(max_batch=32768)).engine_key()
    assert ort_default.batch_profile is None and str(ort_default) == str(ort_larger)


def test_tensorrt_and_ixrt_engines_never_share_a_key(pretend_versions, engine_onnx):
    assert str(TensorrtRunner(engine_onnx).engine_key()) != str(IxrtRunner(engine_onnx).engine_key())


def test_ixrt_is_the_same_runner_under_another_module_name():
    assert issubclass(IxrtRunner, TensorrtRunner)
    assert (IxrtRunner.name, IxrtRunner.module_name) == ("ixrt", "ixrt")
    assert TensorrtRunner.uses_batch_profile and TensorrtRunner.artifact_name == "engine.plan"
