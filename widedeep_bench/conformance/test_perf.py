"""Throughput of every engine, the TF original (the baseline peer) and the null runner (the harness floor).

Timing is ``widedeep_bench.measure``: warm-up by time, then at least ``--wd-perf-rounds`` rounds and
``--wd-perf-duration`` seconds of pytest-benchmark ``pedantic`` rounds, one real batch per round,
real eval batches rotated (never one repeated batch, never all-zero indices). Each engine is timed
interleaved with the TF original on the same batches, round by round, and the relative gate judges
the paired ratio (median over rounds of TF time / engine time), which load on the machine cannot
move much: both sides of every pair see the same load. samples/s = batch size / median round time,
counting samples (not the 26x categorical rows). The report keeps every timed round (``round_seconds``).
"""

import pytest

from widedeep_bench import gates
from widedeep_bench.measure import TimingPlan, paired_ratio, pedantic_interleaved
from widedeep_bench.suite.engines import OVERHEAD_RUNNER, REFERENCE_RUNNER
from widedeep_bench.suite.rows import real_rows

pytestmark = pytest.mark.perf

ROTATION = 8  # distinct real batches cycled through the rounds


def test_throughput(perf_case, batch_size, benchmark, engine_pool, eval_tensors, wd_config, wd_results):
    if benchmark.disabled:
        pytest.skip("pytest-benchmark is disabled (--benchmark-disable or xdist): nothing would be measured")
    missing = engine_pool.unavailable(perf_case.backend)
    if missing:
        pytest.skip(missing)
    runner = engine_pool.get(perf_case.backend, perf_case.precision)
    gated = perf_case.backend not in (REFERENCE_RUNNER, OVERHEAD_RUNNER)
    peer_missing = engine_pool.unavailable(REFERENCE_RUNNER) if gated else "not compared"
    peer = None if peer_missing else engine_pool.get(REFERENCE_RUNNER, "fp32")
    plan = TimingPlan(min_warmup_rounds=wd_config.perf_warmup, min_rounds=wd_config.perf_rounds,
                      min_duration_s=wd_config.perf_duration_s)
    batches = [real_rows(eval_tensors, batch_size, start=i * batch_size)[:2] for i in range(ROTATION)]
    timing, peer_timing = pedantic_interleaved(benchmark, runner.infer, peer.infer if peer else None, batches,
                                               batch_size, plan)
    ratio = paired_ratio(timing, peer_timing) if peer_timing is not None else None
    method = (f"pytest-benchmark pedantic, 1 infer() per round (feed validation included), {plan.describe()}, "
              f"{ROTATION} real eval batches rotated; samples/s = batch / median round time (time.perf_counter)"
              + ("; the TF original timed in alternate rounds on the same batches" if ratio else ""))
    summary = timing.summary()
    measured = {"backend": perf_case.backend, "version": runner.version(), "precision": perf_case.precision,
                **summary, "p50_ms": summary["median_ms"], "method": method,
                "engine_key": engine_pool.engine_key(perf_case.backend, perf_case.precision),
                "ratio_vs_tensorflow": ratio.as_dict() if ratio else None,
                "tensorflow_samples_per_s_paired": peer_timing.samples_per_s if peer_timing else None}
    benchmark.extra_info.update(measured)
    case = f"{perf_case.id}/b{batch_size}"
    # The rounds themselves go to the report only (pytest-benchmark's JSON already holds them as stats.data):
    # what `compare` tests for noise and the report draws as a latency distribution.
    wd_results.throughput[case] = {**measured, "round_seconds": timing.round_seconds()}
    if not gated:
        return  # the baseline peer and the harness floor are measured, not gated
    evaluated, without_peer = gates.perf_gates(
        perf_case.id, batch_size, wd_config.profile.perf_gates(perf_case.backend, perf_case.precision, batch_size),
        samples_per_s=timing.samples_per_s, ratio_vs_tensorflow=ratio.ratio if ratio else None, method=method,
        ratio_method=f"{ratio.METHOD if ratio else ''}; {method}")
    failed = [g.line() for g in wd_results.gates.record(*evaluated) if not g.passed]
    for name in without_peer:
        wd_results.gates.could_not_run(name, f"the relative gate needs the TF original timed in the same rounds: "
                                             f"{peer_missing}")
    assert not failed, "\n".join(failed)
    if without_peer:
        pytest.skip(f"{case}: the relative gate needs the TF original timed in the same rounds: {peer_missing}")
