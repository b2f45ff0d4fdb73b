"""The registry: which runners run here, and errors that say why one does not and what does."""

from __future__ import annotations

import importlib.util

import pytest

from widedeep_bench.engines import RUNNERS, EngineOptions, available_runners, make_runner
from widedeep_bench.errors import WidedeepError


def test_every_runner_the_issue_names_is_registered():
    assert set(RUNNERS) == {"tensorflow", "onnxruntime", "openvino", "tensorrt", "ixrt", "torch", "null"}


def test_the_core_runners_are_available_on_every_machine():
    available = available_runners()
    assert {name for name, reason in available.items() if reason is None} >= {"tensorflow", "onnxruntime", "null"}


@pytest.mark.parametrize("name", ["tensorrt", "ixrt"])
def test_a_missing_runtime_is_named_with_the_import_error_and_the_alternatives(name, converted_onnx):
    if importlib.util.find_spec(name) is not None:
        pytest.skip(f"{name} is importable on this machine")
    assert available_runners()[name] == f"{name} not importable: No module named '{name}'"
    with pytest.raises(WidedeepError) as raised:
        make_runner(name, converted_onnx)
    message = str(raised.value)
    assert f"{name} not importable: No module named '{name}'" in message
    assert "Available: [" in message and "'onnxruntime'" in message


def test_an_unknown_runner_lists_the_known_ones():
    with pytest.raises(WidedeepError, match=r"unknown runner 'onnx-runtime'; known runners: \['ixrt', "):
        make_runner("onnx-runtime", None)


def test_the_tf_original_runs_fp32_only(tiny_saved_model):
    assert available_runners(EngineOptions(precision="fp16"))["tensorflow"] == "tensorflow runs fp32 only, not fp16"
    with pytest.raises(WidedeepError, match="tensorflow runs fp32 only, not fp16"):
        make_runner("tensorflow", tiny_saved_model, EngineOptions(precision="fp16"))


@pytest.mark.parametrize("options, words", [
    (dict(precision="fp8"), ["precision 'fp8'", "fp32", "fp16", "bf16", "int8"]),
    (dict(min_batch=0), ["0/1024/16384", "1 <= min <= opt <= max"]),
    (dict(opt_batch=20000), ["1/20000/16384"]),
    (dict(threads=0), ["threads = 0"]),
])
def test_bad_engine_options_are_refused(options, words):
    with pytest.raises(WidedeepError) as raised:
        EngineOptions(**options)
    assert all(word in str(raised.value) for word in words)
