"""Throughput of every engine, the TF original (the baseline peer) and the null runner (the harness floor).

pytest-benchmark ``pedantic``: warm-up rounds untimed, then one batch per timed round, real eval rows
rotated across rounds (never one repeated batch, never all-zero indices). samples/s = batch size /
median round time, counting samples (not the 26x categorical rows).
"""

import itertools

import numpy as np
import pytest

from widedeep_bench.suite.rows import real_rows

pytestmark = pytest.mark.perf

ROTATION = 8  # distinct real batches cycled through the rounds
METHOD = ("pytest-benchmark pedantic, 1 batch per round, warm-up rounds excluded, {rotation} real eval "
          "batches rotated; samples/s = batch / median round time (time.perf_counter)")


def test_throughput(perf_case, batch_size, benchmark, engine_pool, eval_tensors, wd_config, wd_results):
    if benchmark.disabled:
        pytest.skip("pytest-benchmark is disabled (--benchmark-disable or xdist): nothing would be measured")
    missing = engine_pool.unavailable(perf_case.backend)
    if missing:
        pytest.skip(missing)
    runner = engine_pool.get(perf_case.backend, perf_case.precision)
    batches = itertools.cycle([real_rows(eval_tensors, batch_size, start=i * batch_size)[:2]
                               for i in range(ROTATION)])
    benchmark.pedantic(runner.infer, setup=lambda: (next(batches), {}), rounds=wd_config.perf_rounds,
                       warmup_rounds=wd_config.perf_warmup)
    seconds = np.asarray(benchmark.stats.stats.data)
    measured = {
        "backend": perf_case.backend, "version": runner.version(), "precision": perf_case.precision,
        "batch_size": batch_size, "samples_per_s": batch_size / float(np.median(seconds)),
        "p50_ms": 1e3 * float(np.percentile(seconds, 50)), "p99_ms": 1e3 * float(np.percentile(seconds, 99)),
        "rounds": int(seconds.size), "engine_key": engine_pool.engine_key(perf_case.backend, perf_case.precision),
        "method": METHOD.format(rotation=ROTATION)}
    benchmark.extra_info.update(measured)
    case = f"{perf_case.id}/b{batch_size}"
    wd_results.throughput[case] = measured
    if perf_case.backend in ("tensorflow", "null"):
        return  # the baseline peer and the harness floor are measured, not gated
    checked, missing_peer = [], None
    for gate in wd_config.profile.perf_gates(perf_case.backend, perf_case.precision, batch_size):
        if gate.min_samples_per_s is not None:
            checked.append(wd_results.gates.check(
                f"perf {case}: samples/s >= profile minimum ({gate.backend or 'any backend'})",
                measured["samples_per_s"], ">=",
                gate.min_samples_per_s, unit="samples/s", method=measured["method"]))
        if gate.min_ratio_vs_tensorflow is None:
            continue
        peer = wd_results.throughput.get(f"tensorflow-fp32/b{batch_size}")
        if peer is None:
            missing_peer = (f"{case}: the relative gate needs the TF original measured at batch {batch_size} in "
                            f"the same run, and it was not (deselected, or no TF original)")
            continue
        checked.append(wd_results.gates.check(
            f"perf {case}: samples/s / TF original's >= profile ratio ({gate.backend or 'any backend'})",
            measured["samples_per_s"] / peer["samples_per_s"], ">=", gate.min_ratio_vs_tensorflow, unit="x",
            method=f"{measured['method']}; both measured in this run"))
    failed = [g.line() for g in checked if not g.passed]
    assert not failed, "\n".join(failed)
    if missing_peer:
        pytest.skip(missing_peer)
