"""The torch runner's speed levers (``LEVERS``), its FP16 numerics and its compute-only timing, on the CPU.

Every lever and every combination must compute what the baseline computes (FP32's tolerance on the
converted model's rows), keep refusing bad feeds as ``check_feed`` does, and keep the precision evidence
honest. The CUDA timing loop (``time_replays``) is checked here against a simulated device; the graphs
themselves run only where a GPU is (``tests/gpu``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from widedeep_bench import layout
from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.engines import make_runner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.layout import check_feed
from widedeep_bench.measure import TimingPlan
from widedeep_bench.model.weights import WideDeepWeights

torch = pytest.importorskip("torch")

from widedeep_bench.engines.torch import (  # noqa: E402
    DEFAULT_LEVERS, LEVERS, MAX_REPLAYS_PER_PAIR, TorchRunner, TorchWideDeep, gemm_evidence, levers_label,
    parse_levers, time_replays)

LEVER_ROWS = 32  # rows per lever combination: 16 combinations stay well under a second
EVERY_COMBINATION = [frozenset(chosen) for n in range(len(LEVERS) + 1) for chosen in itertools.combinations(LEVERS, n)]
UNTIMED_1_TIMED_3 = TimingPlan(warmup_s=0.0, min_warmup_rounds=1, min_rounds=3, min_duration_s=0.0)


@pytest.fixture(scope="module")
def lever_rows(parity_tensors):
    return parity_tensors.head(LEVER_ROWS)


@pytest.fixture(scope="module")
def baseline_probabilities(converted_onnx, lever_rows) -> np.ndarray:
    with TorchRunner(converted_onnx, levers=frozenset()) as runner:
        return runner.infer(lever_rows.categorical, lever_rows.numeric)


# --- naming levers -----------------------------------------------------------------------------------------

def test_a_lever_label_reads_back_as_the_same_levers_in_levers_order():
    assert [levers_label(levers) for levers in EVERY_COMBINATION[:2]] == ["none", "split_first_layer"]
    assert levers_label(LEVERS) == "all" and parse_levers("all") == frozenset(LEVERS)
    assert parse_levers("none") == frozenset() == DEFAULT_LEVERS
    assert levers_label({"f32_head", "split_first_layer"}) == "split_first_layer+f32_head"
    assert parse_levers("f32_head+split_first_layer") == {"split_first_layer", "f32_head"}
    for levers in EVERY_COMBINATION:
        assert parse_levers(levers_label(levers)) == levers


@pytest.mark.parametrize("text, unknown", [("split_first_layer+turbo", "turbo"), ("", ""), ("All", "All"),
                                           ("none+f32_head", "none")])
def test_an_unknown_lever_is_refused_naming_it_and_listing_the_levers(text, unknown):
    with pytest.raises(WidedeepError) as raised:
        parse_levers(text)
    assert str(raised.value) == (f"unknown torch lever {unknown!r} in {text!r}; the levers are split_first_layer, "
                                 f"fused_epilogue, narrow_indices, f32_head (or none, or all; join several with +)")


def test_a_runner_takes_its_levers_as_names_or_a_label_and_defaults_to_default_levers(converted_onnx):
    assert make_runner("torch", converted_onnx).levers == DEFAULT_LEVERS
    assert TorchRunner(converted_onnx, levers="all").levers == frozenset(LEVERS)
    assert TorchRunner(converted_onnx, levers=["f32_head"]).levers == {"f32_head"}
    with pytest.raises(WidedeepError, match=r"unknown torch lever 'turbo'; the levers are split_first_layer, "):
        TorchRunner(converted_onnx, levers={"turbo"})
    with pytest.raises(WidedeepError, match="unknown torch lever 'turbo'"):
        levers_label({"turbo"})


# --- same results --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("levers", EVERY_COMBINATION, ids=levers_label)
def test_every_lever_combination_gives_the_baseline_probabilities_within_the_fp32_tolerance(
        converted_onnx, lever_rows, baseline_probabilities, levers):
    with TorchRunner(converted_onnx, levers=levers) as runner:
        probabilities = runner.infer(lever_rows.categorical, lever_rows.numeric)
        with torch.inference_mode():  # what compute_seconds runs: the inputs device_batch made
            eager = runner.forward(*runner.device_batch(lever_rows.categorical, lever_rows.numeric)).numpy()
    assert probabilities.dtype == np.float32
    np.testing.assert_array_equal(eager, probabilities)
    result = compare(probabilities, baseline_probabilities, atol=TOLERANCES["fp32"].atol)
    assert result, str(result)


def test_fused_epilogue_is_addmm_then_relu_on_this_cpu():
    rng = np.random.default_rng(3)
    x, w = (torch.from_numpy(rng.normal(size=shape).astype(np.float32)) for shape in ((8, 32), (32, 16)))
    for bias in (torch.from_numpy(rng.normal(size=16).astype(np.float32)),  # a vector: cuBLASLt's epilogue
                 torch.from_numpy(rng.normal(size=(8, 16)).astype(np.float32))):  # split_first_layer's sum
        assert torch.equal(torch._addmm_activation(bias, x, w, use_gelu=False), torch.addmm(bias, x, w).relu_())


def test_the_f32_head_is_the_cat_head_bit_for_bit_without_cancellation(tiny_weights):
    logit = torch.tensor([[-80.0], [-30.0], [-1e-3], [0.0], [2.5], [30.0], [80.0]])
    with_sign = TorchWideDeep(tiny_weights, "cpu", torch.float32, levers={"f32_head"})
    plain = TorchWideDeep(tiny_weights, "cpu", torch.float32)
    probabilities = with_sign.head(torch, logit)
    assert torch.equal(probabilities, plain.head(torch, logit))
    assert 0 < probabilities[5, 0] < 1e-12  # sigmoid(-30) = 9.4e-14, where 1 - sigmoid(30) would be 0


def test_narrow_indices_send_int16_buckets_and_the_forward_adds_the_field_offsets(tiny_weights, lever_rows):
    forward = TorchWideDeep(tiny_weights, "cpu", torch.float32, levers={"narrow_indices"})
    buckets = forward.host_indices(lever_rows.categorical)
    assert buckets.dtype == np.int16 and buckets.shape == (LEVER_ROWS, layout.NUM_FIELDS)
    np.testing.assert_array_equal(buckets.reshape(-1), lever_rows.categorical[:, 1])
    staging = np.full_like(buckets, -1)
    assert forward.host_indices(lever_rows.categorical, out=staging) is staging
    np.testing.assert_array_equal(staging, buckets)
    flat = forward.flat_indices(torch.from_numpy(buckets))
    assert flat.dtype == torch.int32
    expected = lever_rows.categorical[:, 0] * layout.BUCKETS + lever_rows.categorical[:, 1]
    np.testing.assert_array_equal(flat.numpy(), expected)


@pytest.mark.parametrize("row, column, value", [(5, 1, 1000), (27, 0, 2), (3, 1, -1)],
                         ids=["bucket_1000", "wrong_field", "negative_bucket"])
def test_narrow_indices_refuse_a_bad_feed_with_check_feeds_message(converted_onnx, lever_rows, row, column, value):
    categorical = lever_rows.categorical.copy()
    categorical[row, column] = value
    with pytest.raises(WidedeepError) as expected:
        check_feed(categorical, lever_rows.numeric)
    with TorchRunner(converted_onnx, levers={"narrow_indices"}) as runner:
        for call in (runner.infer, runner.device_batch):
            with pytest.raises(WidedeepError) as raised:
                call(categorical, lever_rows.numeric)
            assert str(raised.value) == str(expected.value)


# --- precision evidence --------------------------------------------------------------------------------------

def test_fp32_evidence_with_every_lever_counts_four_layers_from_five_gemm_calls(converted_onnx):
    with TorchRunner(converted_onnx, levers="all") as runner:
        evidence = runner.precision_evidence()
    assert evidence.shown, str(evidence)
    assert evidence.counts == {"_addmm_activation float32 outputs": 3, "addmm float32 outputs": 2,
                               "float32 tower weights": 4}
    assert evidence.detail.startswith("4 of 4 tower layers output float32 from every GEMM (5 GEMM calls; ")
    assert "levers: all" in evidence.method


def test_evidence_is_not_shown_when_one_gemm_of_a_layer_or_a_stray_gemm_is_in_another_dtype():
    forward = SimpleNamespace(kernels=[torch.zeros(1, dtype=torch.float16)] * 4, autocast=None)
    fp16_layers = Counter({(0, "addmm", "float16"): 1, (0, "_addmm_activation", "float16"): 1,
                           (1, "_addmm_activation", "float16"): 1, (2, "_addmm_activation", "float16"): 1,
                           (3, "addmm", "float16"): 1})
    assert gemm_evidence(fp16_layers, "fp16", forward, "probe").shown
    one_layer_split = fp16_layers + Counter({(0, "addmm", "float32"): 1})
    evidence = gemm_evidence(one_layer_split, "fp16", forward, "probe")
    assert not evidence.shown and evidence.detail.startswith("3 of 4 tower layers output float16")
    missing_layer = Counter({key: n for key, n in fp16_layers.items() if key[0] != 3})
    assert not gemm_evidence(missing_layer, "fp16", forward, "probe").shown
    stray = gemm_evidence(fp16_layers + Counter({(None, "addmm", "float16"): 1}), "fp16", forward, "probe")
    assert not stray.shown and "1 GEMM(s) on no tower weight" in stray.detail


# --- FP16 numerics -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("levers", [frozenset(), frozenset(LEVERS)], ids=levers_label)
def test_fp16_sums_the_wide_terms_adds_the_wide_bias_and_adds_wide_and_deep_in_float32(tiny_weights, lever_rows,
                                                                                        levers):
    """Wide terms near 1 sum to about 26, where float16's spacing is 2^-6: a float16 sum, bias add or final add
    would miss the float64 logit by up to 8e-3; float32 misses it by about 1e-6."""
    rng = np.random.default_rng(11)
    wide = rng.uniform(0.5, 1.5, tiny_weights.wide.shape).astype(np.float16).astype(np.float32)
    deep_logit = np.float16(0.1)  # the tower's kernels are zero: the deep logit is its last bias, in float16
    weights = WideDeepWeights(
        wide=wide, wide_bias=np.array([1e-3], np.float32), embeddings=tiny_weights.embeddings,
        kernels=[np.zeros_like(kernel) for kernel in tiny_weights.kernels],
        biases=[np.zeros_like(bias) for bias in tiny_weights.biases[:-1]] + [np.array([deep_logit], np.float32)])
    rows = lever_rows.head(8)
    forward = TorchWideDeep(weights, "cpu", torch.float16, levers=levers)
    with torch.inference_mode():
        indices = torch.from_numpy(np.array(forward.host_indices(rows.categorical)))
        logit = forward.logit(torch, indices, torch.from_numpy(rows.numeric.copy())).numpy()[:, 0]
    flat = rows.categorical[:, 0] * layout.BUCKETS + rows.categorical[:, 1]
    expected = (wide.reshape(-1)[flat].astype(np.float64).reshape(8, layout.NUM_FIELDS).sum(1)
                + np.float64(np.float32(1e-3)) + np.float64(deep_logit))
    assert logit.dtype == np.float32 and forward.wide.dtype == torch.float16
    assert np.abs(expected.astype(np.float16) - expected).max() > 1e-3  # float16 anywhere would show
    np.testing.assert_allclose(logit, expected, rtol=0, atol=1e-5)


# --- timing --------------------------------------------------------------------------------------------------

class SimulatedGpu:
    """A device for ``time_replays``: each queued pair takes ``launch_s`` + replays x ``replay_s`` of event
    time; ``log`` records the queueing and the waiting in order."""

    def __init__(self, replay_s: float, launch_s: float = 0.0):
        self.replay_s, self.launch_s, self.log = replay_s, launch_s, []

    def enqueue(self, replays: int) -> int:
        self.log.append(("queue", replays))
        return replays

    def seconds_of(self, replays: int) -> float:
        self.log.append(("wait", replays))
        return self.launch_s + replays * self.replay_s


def test_replays_are_timed_k_per_event_pair_after_a_warm_up_by_time_all_pairs_queued_before_any_wait():
    gpu = SimulatedGpu(replay_s=20e-6, launch_s=50e-6)
    plan = TimingPlan(warmup_s=0.3, min_warmup_rounds=3, min_rounds=20, min_duration_s=1.0)
    timing = time_replays(gpu.enqueue, gpu.seconds_of, plan)
    assert timing.replays_per_pair == 50  # 1 ms / 20 us, the launch cost amortised over the largest chunk
    assert timing.warmup_s >= 0.3 and timing.warmup_replays >= 0.3 / 20e-6 * 0.99
    warm_up = gpu.log[:-2 * timing.seconds.size][::2]
    assert [n for _, n in warm_up[:5]] == [1, 2, 4, 8, 16] and max(n for _, n in warm_up) == 4096
    timed = gpu.log[-2 * timing.seconds.size:]
    assert timed == [("queue", 50)] * timing.seconds.size + [("wait", 50)] * timing.seconds.size
    assert timing.seconds.size == 1000  # plan.rounds_for(20 us) = 50,000 replays, 50 per pair
    np.testing.assert_allclose(timing.seconds, 21e-6)  # (50 x 20 us + 50 us) / 50


@pytest.mark.parametrize("replay_s, replays_per_pair", [(1e-7, MAX_REPLAYS_PER_PAIR), (5e-3, 1), (3e-4, 4)])
def test_k_spans_a_millisecond_between_1_and_the_cap_and_pairs_are_at_least_min_rounds(replay_s, replays_per_pair):
    gpu = SimulatedGpu(replay_s)
    plan = TimingPlan(warmup_s=0.0, min_warmup_rounds=5, min_rounds=20, min_duration_s=0.0)
    timing = time_replays(gpu.enqueue, gpu.seconds_of, plan)
    assert timing.replays_per_pair == replays_per_pair and timing.warmup_replays == 5
    assert timing.seconds.size == 20
    np.testing.assert_allclose(timing.seconds, replay_s)


def test_a_cold_plan_times_single_replays_with_no_warm_up():
    gpu = SimulatedGpu(1e-4)
    timing = time_replays(gpu.enqueue, gpu.seconds_of, TimingPlan(warmup_s=0.0, min_warmup_rounds=0, min_rounds=4,
                                                                  min_duration_s=0.0, cold=True))
    assert gpu.log == [("queue", 1)] * 4 + [("wait", 1)] * 4
    assert (timing.replays_per_pair, timing.warmup_replays, timing.seconds.size) == (1, 0, 4)


def test_on_the_cpu_compute_seconds_times_the_eager_forward_of_device_batches_with_every_lever(converted_onnx,
                                                                                              lever_rows):
    with TorchRunner(converted_onnx, levers="all") as runner:
        batches = [runner.device_batch(lever_rows.categorical, lever_rows.numeric)]
        assert batches[0][0].dtype == torch.int16
        timing = runner.compute_seconds(batches, UNTIMED_1_TIMED_3)
        method = runner.compute_method()
    assert timing.seconds.shape == (3,) and timing.batch_size == LEVER_ROWS
    assert method.startswith("CPU wall time") and "eager forward pass" in method
    assert runner.last_replays_per_pair is None
