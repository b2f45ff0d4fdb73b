"""Every engine labelled BF16, FP16 or INT8 proves it runs that precision (the seed's "FP16" ran FP32).

Two gates per reduced-precision engine (``widedeep_bench.gates.precision_gates``): the runtime's own
account of what it runs (``Runner.precision_evidence``: layer precisions, op and weight types read from
the built engine, never from the options that asked for it), and outputs on real rows that differ from
its own FP32 engine's, since an engine that rounds nothing ran FP32. The evidence, and for INT8 the
calibration rows, go into the report.
"""

import pytest

from widedeep_bench import gates
from widedeep_bench.compare import TOLERANCES
from widedeep_bench.precision import REDUCED_PRECISIONS, prove_precision
from widedeep_bench.suite.rows import real_rows

# Whatever else a run selects, a reduced-precision engine it measures proves what it runs: the proof carries
# every marker an engine's gates can be selected by.
pytestmark = [pytest.mark.parity, pytest.mark.accuracy, pytest.mark.perf]

ROWS = 1024


def test_engine_runs_its_precision(engine_case, engine_pool, reference_rows, calibration, wd_results):
    if engine_case.precision not in REDUCED_PRECISIONS:
        pytest.skip(f"{engine_case.precision} is the precision every other is compared with: nothing to prove")
    runner = engine_pool.get(engine_case.backend, engine_case.precision)
    categorical, numeric, _ = real_rows(reference_rows, ROWS)
    proof = prove_precision(runner, engine_pool.get(engine_case.backend, "fp32"), categorical, numeric)
    wd_results.precision[engine_case.id] = {
        **proof.as_dict(), "calibration": calibration.as_dict() if runner.options.calibrated else None}
    results = wd_results.gates.record(*gates.precision_gates(
        engine_case.id, proof, fp32_atol=TOLERANCES["fp32"].atol,
        method=f"{ROWS} real eval rows through this engine and {engine_case.backend}-fp32"))
    failed = [f"{g.line()} ({g.method})" for g in results if not g.passed]
    assert not failed, f"{engine_case.id} does not prove it runs {engine_case.precision}:\n" + "\n".join(failed)
