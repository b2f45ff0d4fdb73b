"""The dynamic batcher under LoadGen: no batch above ``max_batch``, every issued sample answered exactly once,
an Offline query cut into ``max_batch`` pieces shared by every instance, and a runner's failure raised once
LoadGen returns, naming the runner."""

from __future__ import annotations

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen import logs
from widedeep_bench.loadgen.scenarios import ScenarioSettings, run_scenario

from .runners import local


def issued_samples(directory) -> int:
    entries = logs.detail_entries(directory)
    return int(entries["generated_samples_per_query"]) * int(entries["result_query_count"])


def test_an_offline_query_is_cut_into_max_batch_pieces_that_every_instance_serves(make_runners, tensors, tmp_path):
    runners = make_runners(2)
    settings = ScenarioSettings("Offline", duration_s=0.5, max_batch=500)
    result = run_scenario(local(*runners), tensors, settings, tmp_path, label="sigmoid-test")
    assert result.valid, result.line()

    sizes = [size for runner in runners for size in runner.loadgen_batches()]
    issued = issued_samples(tmp_path)
    assert sum(sizes) == issued == result.batcher["samples"]  # every sample answered, none twice
    assert len(sizes) == result.batcher["batches"] == -(-issued // 500)
    assert sorted(sizes, reverse=True) == [500] * (issued // 500) + ([issued % 500] if issued % 500 else [])
    assert all(runner.loadgen_batches() for runner in runners), [len(r.loadgen_batches()) for r in runners]


def test_server_batches_fill_up_to_max_batch_and_never_beyond(runner, tensors, tmp_path):
    # 3000 queries/s of one sample each, 10 ms to fill a batch: ~30 arrive per window, 8 are taken.
    settings = ScenarioSettings("Server", duration_s=0.5, target_qps=3000, max_batch=8, max_wait_ms=10)
    result = run_scenario(local(runner), tensors, settings, tmp_path, label=runner.name)

    sizes = runner.loadgen_batches()
    assert max(sizes) == 8  # reached, so the bound is the batcher's and not the traffic's
    assert sum(sizes) == issued_samples(tmp_path) == result.batcher["samples"]
    assert result.batcher["mean_batch"] == pytest.approx(sum(sizes) / len(sizes))


def test_single_stream_answers_one_sample_per_batch(runner, tensors, tmp_path):
    result = run_scenario(local(runner), tensors, ScenarioSettings("SingleStream", duration_s=0.3), tmp_path,
                          label=runner.name)
    assert result.valid, result.line()
    assert set(runner.loadgen_batches()) == {1}
    assert len(runner.loadgen_batches()) == issued_samples(tmp_path) == result.batcher["batches"] \
        == result.batcher["samples"]


def test_a_runner_failing_one_batch_fails_the_run_after_loadgen_returns_naming_the_runner(make_runners, tensors,
                                                                                          tmp_path):
    (failing,) = make_runners(fail_on_batch=1)
    # An expected 2000 samples/s: one query of ~1100 samples in 11 pieces (no estimate first: the first
    # batch the runner ever sees is LoadGen's).
    settings = ScenarioSettings("Offline", duration_s=0.5, target_qps=2000, max_batch=100)
    with pytest.raises(WidedeepError, match=r"^1 batch\(es\) failed under LoadGen; first: sigmoid-test: "
                                            r"RuntimeError: injected failure on batch 1$"):
        run_scenario(local(failing), tensors, settings, tmp_path, label=failing.name)
    # LoadGen finished (every sample answered, the failed ones empty) and wrote its verdict
    assert len(failing.loadgen_batches()) == -(-issued_samples(tmp_path) // 100) > 1


def test_a_queued_query_that_does_not_fit_is_split_and_its_rest_starts_the_next_batch(runner, tensors):
    from widedeep_bench.loadgen.sut import SampleLibrary, SystemUnderTest

    sut = SystemUnderTest(local(runner), SampleLibrary(tensors), max_batch=4, max_wait_ms=0)
    for ids in ([1], [2, 3, 4, 5, 6], [7]):  # queries of several samples, as coalesced Server queries come
        sut.queue.put((ids, [i * 10 for i in ids]))
    assert sut._next_batch() == ([1, 2, 3, 4], [10, 20, 30, 40])
    assert sut._next_batch() == ([5, 6, 7], [50, 60, 70])
