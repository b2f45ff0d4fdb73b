"""Every engine labelled BF16, FP16 or INT8 proves it runs that precision (the seed's "FP16" ran FP32).

Two gates per reduced-precision engine (``widedeep_bench.gates.precision_gates``): the runtime's own
account of what it runs (``Runner.precision_evidence``: layer precisions, op and weight types read from
the built engine, never from the options that asked for it), and outputs on real rows that differ from
its own FP32 engine's, since an engine that rounds nothing ran FP32. The evidence, and for INT8 the
calibration rows, go into the report.
"""

import numpy as np
import pytest

from widedeep_bench import gates
from widedeep_bench.precision import REDUCED_PRECISIONS
from widedeep_bench.suite.rows import real_rows

pytestmark = pytest.mark.parity

ROWS = 1024


def test_engine_runs_its_precision(engine_case, engine_pool, reference_rows, calibration, wd_results):
    if engine_case.precision not in REDUCED_PRECISIONS:
        pytest.skip(f"{engine_case.precision} is the precision every other is compared with: nothing to prove")
    runner = engine_pool.get(engine_case.backend, engine_case.precision)
    evidence = runner.precision_evidence()
    categorical, numeric, _ = real_rows(reference_rows, ROWS)
    reduced = runner.infer(categorical, numeric)
    fp32 = engine_pool.get(engine_case.backend, "fp32").infer(categorical, numeric)
    differing = int(np.count_nonzero(np.ascontiguousarray(reduced).view(np.uint32)
                                     != np.ascontiguousarray(fp32).view(np.uint32)))
    wd_results.precision[engine_case.id] = {
        "evidence": evidence.as_dict(), "differing_elements": differing, "elements": int(reduced.size),
        "max_abs_vs_fp32": float(np.abs(reduced.astype(np.float64) - fp32).max()),
        "calibration": calibration.as_dict() if runner.options.calibrated else None}
    results = wd_results.gates.record(*gates.precision_gates(
        engine_case.id, evidence, differing=differing, elements=int(reduced.size),
        method=f"{ROWS} real eval rows through this engine and {engine_case.backend}-fp32, float32 bits compared"))
    failed = [f"{g.line()} ({g.method})" for g in results if not g.passed]
    assert not failed, f"{engine_case.id} does not prove it runs {engine_case.precision}:\n" + "\n".join(failed)
