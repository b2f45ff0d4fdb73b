"""The torch runner: weights read from the ONNX by structure (``model.onnx_weights``), the forward pass, CPU
behaviour, CUDA where present.

The runner contract (parity with the TF original within 1e-5 in FP32 at any batch size, bad feeds
refused, the 3-input IxRT model) is ``test_runner_contract.py``, which includes ``torch`` once it is
importable. This file covers what is particular to torch. The CUDA tests are ``tests/gpu`` (inputs from a bundle).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.conversion import ConversionResult
from widedeep_bench.engines import EngineOptions, make_runner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.measure import Timing, TimingPlan
from widedeep_bench.model.onnx_weights import weights_from_onnx

torch = pytest.importorskip("torch")

from widedeep_bench.engines.torch import CPU_NO_FP16, TorchRunner, TorchWideDeep  # noqa: E402

NO_CUDA = not torch.cuda.is_available()
cpu_only = pytest.mark.skipif(not NO_CUDA, reason="a CUDA device is present: the runner uses it")
FP16_EMULATED_ROWS = 256  # float16 GEMMs on the CPU run about 1 GFLOP/s: a few hundred rows only
UNTIMED_2_TIMED_5 = TimingPlan(warmup_s=0.0, min_warmup_rounds=2, min_rounds=5, min_duration_s=0.0)


def _assert_same_weights(actual, expected) -> None:
    for name, array in expected.arrays().items():
        np.testing.assert_array_equal(actual.arrays()[name], array, err_msg=name)


def test_weights_read_from_the_converted_onnx_are_the_weights_the_saved_model_was_written_with(converted_onnx,
                                                                                             tiny_weights):
    roles, weights = weights_from_onnx(converted_onnx)
    _assert_same_weights(weights, tiny_weights)
    assert roles.zeros_like is None


def test_weights_are_read_from_the_3_input_ixrt_model(ixrt_onnx, tiny_weights):
    roles, weights = weights_from_onnx(ixrt_onnx)
    _assert_same_weights(weights, tiny_weights)
    assert roles.zeros_like is not None


@pytest.mark.parametrize("stage", ["export", "simplify", "deploy"])
def test_weights_are_read_from_every_conversion_stage_matmul_add_or_gemm(converted_onnx, tiny_weights, stage):
    onnx_path = ConversionResult.load(converted_onnx.parent).path(stage)
    _assert_same_weights(weights_from_onnx(onnx_path)[1], tiny_weights)


def _mutated(converted_onnx, tmp_path, mutate) -> Path:
    model = onnx.load(str(converted_onnx))
    mutate(model.graph)
    path = tmp_path / "mutated.onnx"
    onnx.save(model, str(path))
    return path


def _gemms(graph):
    return [node for node in graph.node if node.op_type == "Gemm"]


def _set_attribute(node, name: str, value) -> None:
    for attribute in node.attribute:
        if attribute.name == name:
            attribute.CopyFrom(onnx.helper.make_attribute(name, value))


def _transpose_initializer(graph, name: str) -> None:
    init = next(i for i in graph.initializer if i.name == name)
    init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(init).T), name))


def _vendor_transb_defect(graph):
    """What the vendor's deploy did: transB=1 on every new Gemm, TF's [in, out] kernel left as it was."""
    for gemm in _gemms(graph):
        _set_attribute(gemm, "transB", 1)


def _relu_to_sigmoid(graph):
    next(node for node in graph.node if node.op_type == "Relu").op_type = "Sigmoid"


def _numeric_first_in_the_deep_input(graph):
    concat = next(node for node in graph.node if node.op_type == "Concat" and "numeric" in "".join(node.input))
    concat.input[:] = list(reversed(concat.input))


def _smaller_wide_table(graph):
    init = next(i for i in graph.initializer if list(i.dims) == [26, 1000, 1])
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init)[:, :999], init.name))


def _head_without_softmax(graph):
    next(node for node in graph.node if node.op_type == "Softmax").op_type = "Sigmoid"


WRONG_ARCHITECTURES = {
    "vendor_transb_defect": (_vendor_transb_defect, r"dense layer 0 \(\[845, 1024\]\) Gemm .*kernel \(transB=1\) "
                                                    r"multiplies as \[1024, 845\], expected \[845, 1024\]"),
    "relu_to_sigmoid": (_relu_to_sigmoid, r"dense layer 0 activation: expected .* read by one Relu, found \[\"Sigmoid"),
    "numeric_first": (_numeric_first_in_the_deep_input,
                      r"deep input Concat .* \(embeddings first, then the numeric input\)"),
    "smaller_wide_table": (_smaller_wide_table, r"table has shape \[26, 999, 1\]"),
    "no_softmax": (_head_without_softmax, r"head: expected .* read by one Softmax, found \[\"Sigmoid"),
}


@pytest.mark.parametrize("case", sorted(WRONG_ARCHITECTURES))
def test_an_onnx_that_is_not_this_architecture_is_refused_naming_the_file_and_the_node(converted_onnx, tmp_path, case):
    mutate, message = WRONG_ARCHITECTURES[case]
    path = _mutated(converted_onnx, tmp_path, mutate)
    with pytest.raises(WidedeepError, match=message) as raised:
        weights_from_onnx(path)
    assert str(raised.value).startswith(f"{path}: not the Wide & Deep architecture: ")
    with pytest.raises(WidedeepError, match=message):
        make_runner("torch", path).activate()


def test_a_gemm_with_transb_and_a_transposed_kernel_gives_the_same_weights(converted_onnx, tiny_weights, tmp_path):
    def transposed_kernels(graph):
        for gemm in _gemms(graph):
            _set_attribute(gemm, "transB", 1)
            _transpose_initializer(graph, gemm.input[1])

    _assert_same_weights(weights_from_onnx(_mutated(converted_onnx, tmp_path, transposed_kernels))[1], tiny_weights)


def test_a_missing_or_foreign_onnx_file_is_a_clear_error(tmp_path):
    with pytest.raises(WidedeepError, match="no such ONNX file"):
        weights_from_onnx(tmp_path / "absent.onnx")
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 4])
    path = tmp_path / "relu.onnx"
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "relu",
                                                             [x], [y])), str(path))
    with pytest.raises(WidedeepError, match="no input has the categorical role"):
        make_runner("torch", path).activate()


def test_the_fp16_forward_pass_matches_the_tf_original_within_the_fp16_tolerance(tiny_weights, engine_rows,
                                                                                 tf_probabilities, record_property):
    """The CUDA path's FP16 arithmetic, emulated with CPU float16 kernels (tables, tower and activations in FP16)."""
    rows = engine_rows.head(FP16_EMULATED_ROWS)
    forward = TorchWideDeep(tiny_weights, "cpu", torch.float16)
    with torch.inference_mode():
        probabilities = forward(torch.from_numpy(np.array(rows.categorical)), torch.from_numpy(np.array(rows.numeric)))
    assert probabilities.dtype == torch.float32 and forward.kernels[0].dtype == torch.float16
    tolerance = TOLERANCES["fp16"]
    result = compare(probabilities.numpy(), tf_probabilities[:FP16_EMULATED_ROWS], atol=tolerance.atol)
    record_property("achieved_error", str(result))
    assert result, str(result)
    fp32 = compare(probabilities.numpy(), tf_probabilities[:FP16_EMULATED_ROWS], atol=TOLERANCES["fp32"].atol)
    assert not fp32, "FP16 weights should differ from the TF original by more than FP32 rounding"


@cpu_only
def test_fp16_without_cuda_is_refused_with_the_reason(converted_onnx):
    assert TorchRunner.unavailable_reason(EngineOptions(precision="fp16")) == CPU_NO_FP16
    with pytest.raises(WidedeepError, match=r"torch on CPU runs fp32 .*, not fp16 \(no CUDA device\)"):
        make_runner("torch", converted_onnx, EngineOptions(precision="fp16"))
    with pytest.raises(WidedeepError, match=r"torch on CPU runs fp32 .*, not fp16 \(no CUDA device\)"):
        TorchRunner(converted_onnx, EngineOptions(precision="fp16")).activate()


def test_execution_providers_are_refused(converted_onnx):
    options = EngineOptions(providers=("CUDAExecutionProvider",))
    assert "torch has no providers" in TorchRunner.unavailable_reason(options)
    with pytest.raises(WidedeepError, match="torch has no providers"):
        make_runner("torch", converted_onnx, options)


@cpu_only
def test_on_the_cpu_the_thread_count_is_set_from_the_options(converted_onnx):
    before = torch.get_num_threads()
    try:
        with make_runner("torch", converted_onnx, EngineOptions(threads=1)) as runner:
            assert torch.get_num_threads() == 1 and runner.device_name() == "cpu"
    finally:
        torch.set_num_threads(before)


def test_read_only_memory_mapped_feeds_give_the_same_output_without_warnings(converted_onnx, engine_rows):
    rows = engine_rows.head(16)
    categorical, numeric = rows.categorical.copy(), rows.numeric.copy()
    with make_runner("torch", converted_onnx) as runner:
        writable = runner.infer(categorical, numeric)
        categorical.setflags(write=False)
        numeric.setflags(write=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            read_only = runner.infer(categorical, numeric)
    np.testing.assert_array_equal(read_only, writable)


def test_an_output_is_not_overwritten_by_the_next_call(converted_onnx, engine_rows):
    with make_runner("torch", converted_onnx) as runner:
        first = runner.infer(engine_rows.head(8).categorical, engine_rows.head(8).numeric)
        kept = first.copy()
        runner.infer(engine_rows.slice(8, 16).categorical, engine_rows.slice(8, 16).numeric)
    np.testing.assert_array_equal(first, kept)


def test_compute_seconds_times_the_planned_rounds_on_device_batches(converted_onnx, engine_rows):
    with make_runner("torch", converted_onnx) as runner:
        batches = [runner.device_batch(b.categorical, b.numeric) for b in engine_rows.batches(64)][:3]
        timing = runner.compute_seconds(batches, UNTIMED_2_TIMED_5)
    assert isinstance(timing, Timing) and timing.batch_size == 64
    assert timing.seconds.shape == (5,) and np.all(timing.seconds > 0)


def test_compute_seconds_refuses_mixed_batch_sizes_and_an_inactive_runner(converted_onnx, engine_rows):
    runner = make_runner("torch", converted_onnx)
    with pytest.raises(WidedeepError, match="not active: activate it before you time it"):
        runner.compute_seconds([], UNTIMED_2_TIMED_5)
    with pytest.raises(WidedeepError, match="not active: activate it before you make device batches"):
        runner.device_batch(engine_rows.head(4).categorical, engine_rows.head(4).numeric)
    with runner:
        batches = [runner.device_batch(engine_rows.head(n).categorical, engine_rows.head(n).numeric) for n in (4, 8)]
        with pytest.raises(WidedeepError, match=r"batches of one size, got sizes \[4, 8\]"):
            runner.compute_seconds(batches, UNTIMED_2_TIMED_5)


def test_a_device_batch_is_validated_like_a_feed(converted_onnx, engine_rows):
    categorical = engine_rows.head(4).categorical.copy()
    categorical[5, 1] = 1000
    with make_runner("torch", converted_onnx) as runner:
        with pytest.raises(WidedeepError, match="bucket 1000"):
            runner.device_batch(categorical, engine_rows.head(4).numeric)
