"""The torch runner on a CUDA device: graphs captured once per batch size with pinned staging, the output within
the precision's tolerance of the TF original, and compute-only seconds from events around the replays. Inputs
from a bundle (``conftest.py``); every test skips with the reason where there is no CUDA device or no bundle."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.engines import EngineOptions, make_runner
from widedeep_bench.measure import TimingPlan

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_on_cuda_each_batch_size_is_captured_once_with_pinned_staging(gpu_bundle, gpu_rows, tf_probabilities,
                                                                      precision):
    tolerance = TOLERANCES[precision]
    with make_runner("torch", gpu_bundle.onnx, EngineOptions(precision=precision)) as runner:
        assert runner.device_name().startswith("cuda")
        full = runner.infer(gpu_rows.categorical, gpu_rows.numeric)
        graph = runner.captured[gpu_rows.rows].graph
        small = runner.infer(gpu_rows.head(7).categorical, gpu_rows.head(7).numeric)
        again = runner.infer(gpu_rows.categorical, gpu_rows.numeric)
        assert sorted(runner.captured) == [7, gpu_rows.rows]
        assert runner.captured[gpu_rows.rows].graph is graph
        batch = runner.captured[gpu_rows.rows]
        assert batch.host_categorical.is_pinned() and batch.host_probabilities.is_pinned()
        assert batch.categorical.is_cuda and batch.probabilities.is_cuda
    np.testing.assert_array_equal(full, again)
    assert compare(full, tf_probabilities, atol=tolerance.atol)
    assert compare(small, tf_probabilities[:7], atol=tolerance.atol)


def test_on_cuda_compute_seconds_are_event_times_of_the_graph_replay(gpu_bundle, gpu_rows):
    with make_runner("torch", gpu_bundle.onnx, EngineOptions(precision="fp16")) as runner:
        batches = [runner.device_batch(b.categorical, b.numeric) for b in gpu_rows.batches(256)]
        timing = runner.compute_seconds(batches, TimingPlan(warmup_s=0.0, min_warmup_rounds=5, min_rounds=20,
                                                            min_duration_s=0.0))
        assert list(runner.captured) == [256]
    assert timing.seconds.shape == (20,) and np.all((timing.seconds > 0) & (timing.seconds < 0.1))


LEVER_SETS = ["none", "split_first_layer", "fused_epilogue", "narrow_indices", "f32_head", "all"]
SMALL_BATCH = 64


@pytest.mark.parametrize("levers", LEVER_SETS)
@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_on_cuda_each_lever_set_is_captured_and_agrees_with_the_tf_original(gpu_bundle, gpu_rows, tf_probabilities,
                                                                            precision, levers):
    """Each lever set the benchmark times (none, each lever alone, all) captured as a CUDA graph at a small batch
    and within the precision's tolerance of the TF original: a lever that fails to capture, or computes
    something else, fails here, before any timed run."""
    from widedeep_bench.engines.torch import LEVERS, TorchRunner, parse_levers

    assert set(LEVER_SETS[1:-1]) == set(LEVERS)  # every lever alone
    tolerance = TOLERANCES[precision]
    rows = gpu_rows.head(SMALL_BATCH)
    with TorchRunner(gpu_bundle.onnx, EngineOptions(precision=precision), levers=levers) as runner:
        assert runner.levers == parse_levers(levers) and runner.uses_cuda
        probabilities = runner.infer(rows.categorical, rows.numeric)
        assert list(runner.captured) == [SMALL_BATCH]  # replayed from a captured graph, not run eagerly
    result = compare(probabilities, tf_probabilities[:SMALL_BATCH], atol=tolerance.atol, rtol=tolerance.rtol)
    assert result, f"{precision} {levers}: max |p - p_tf| {result.max_abs:.2e} > atol {tolerance.atol:g}"
