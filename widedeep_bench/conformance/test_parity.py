"""Every engine agrees with the TF original (and with ONNX Runtime FP32) on the same real rows."""

import pytest

from widedeep_bench import gates
from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.suite.rows import real_rows

pytestmark = pytest.mark.parity


@pytest.mark.parametrize("reference", ["tensorflow", "onnxruntime-fp32"])
def test_engine_matches_reference(engine_case, batch_size, reference, engine_pool, references,
                                  reference_rows, wd_results):
    if engine_case.id == reference:
        pytest.skip(f"{reference} is the reference itself")
    missing = references.unavailable(reference)
    if missing:
        pytest.skip(f"no {reference} reference: {missing}")
    runner = engine_pool.get(engine_case.backend, engine_case.precision)
    categorical, numeric, index = real_rows(reference_rows, batch_size)
    tolerance = TOLERANCES[engine_case.precision]
    result = compare(runner.infer(categorical, numeric), references.get(reference)[index],
                     atol=tolerance.atol, rtol=tolerance.rtol)
    wd_results.parity[f"{engine_case.id}/b{batch_size} vs {reference}"] = result.as_dict()
    (gate,) = wd_results.gates.record(gates.parity_gate(
        engine_case.id, batch_size, reference, result, tolerance,
        method=f"{batch_size} real eval rows in one batch, |a-b| <= atol + rtol*|b| elementwise "
               f"(atol {tolerance.atol:g}, rtol {tolerance.rtol:g}: {tolerance.why})"))
    assert gate.passed, f"{gate.name}: {result}"
