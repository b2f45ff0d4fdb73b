"""ONNX Runtime INT8: static QDQ quantization calibrated on the calibration rows, and its proof of precision."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench import gates
from widedeep_bench.calibration import CalibrationSet
from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.data.criteo_csv import read_eval_csv
from widedeep_bench.engines import EngineOptions, make_runner
from widedeep_bench.engines.onnxruntime import OnnxruntimeRunner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.precision import differing_elements, onnx_evidence, prove_precision
from widedeep_bench.synthetic.criteo_rows import write_criteo_csv


@pytest.fixture(scope="module")
def calibration_rows(tmp_path_factory) -> CalibrationSet:
    """512 synthetic rows drawn with a row seed the engine rows never use."""
    path = write_criteo_csv(tmp_path_factory.mktemp("calibration") / "calibration.csv", 512, row_seed=7)
    return CalibrationSet(read_eval_csv(path), "test rows (row seed 7)")


def int8(calibration) -> EngineOptions:
    return EngineOptions(precision="int8", calibration=calibration)


def test_int8_runs_integer_gemms_and_stays_near_fp32_and_the_tf_original(converted_onnx, engine_rows,
                                                                          tf_probabilities, calibration_rows):
    with make_runner("onnxruntime", converted_onnx, int8(calibration_rows)) as runner:
        probabilities = runner.infer(engine_rows.categorical, engine_rows.numeric)
        evidence = runner.precision_evidence()
    assert evidence.shown and evidence.counts["8-bit weights"] == evidence.counts["Gemm/MatMul nodes"] == 4
    assert evidence.counts["QGemm nodes"] == 4  # optimized: each QDQ-Gemm fused into an integer Gemm
    result = compare(probabilities, tf_probabilities, atol=TOLERANCES["int8"].atol)
    assert result, str(result)
    assert result.max_abs > TOLERANCES["fp32"].atol  # it rounds: not FP32 under another name


def test_int8_without_calibration_rows_is_refused_naming_them(private_cache, converted_onnx):
    with pytest.raises(WidedeepError, match="int8 needs calibration rows"):
        make_runner("onnxruntime", converted_onnx, EngineOptions(precision="int8")).build()


def test_other_calibration_rows_build_another_engine_and_fp32_ignores_them(private_cache, converted_onnx, engine_rows,
                                                                           calibration_rows):
    other = CalibrationSet(engine_rows.head(256), "other rows")
    keys = {make_runner("onnxruntime", converted_onnx, int8(rows)).engine_key() for rows in (calibration_rows, other)}
    assert len(keys) == 2 and {key.calibration for key in keys} == {calibration_rows.digest, other.digest}
    assert make_runner("onnxruntime", converted_onnx, EngineOptions()).engine_key().calibration == ""


class FakeInt8Runner(OnnxruntimeRunner):
    """Says INT8, builds FP32: the seed's failure ("FP16" from an engine built in FP32), in INT8."""

    def _quantized(self, roles, path):
        return self.model


def test_an_int8_engine_that_is_really_fp32_fails_both_precision_gates(private_cache, converted_onnx, engine_rows,
                                                                       calibration_rows):
    """The proof the conformance suite runs (``prove_precision``, then ``gates.precision_gates``), on an
    engine labelled INT8 that builds FP32."""
    with FakeInt8Runner(converted_onnx, int8(calibration_rows)) as fake, \
            make_runner("onnxruntime", converted_onnx) as fp32:
        proof = prove_precision(fake, fp32, engine_rows.categorical, engine_rows.numeric)
    assert proof.differing == 0 and proof.max_abs_vs_fp32 == 0.0  # bit for bit FP32's outputs
    evidence_gate, differs_gate = gates.precision_gates("onnxruntime-int8", proof, fp32_atol=TOLERANCES["fp32"].atol,
                                                        method="test rows")
    assert not evidence_gate.passed and "4 float32" in proof.evidence.detail
    assert not differs_gate.passed and "ran FP32" in differs_gate.method


def test_quantize_dequantize_pairs_around_other_ops_are_not_int8_gemms(private_cache, tmp_path, converted_onnx,
                                                                        calibration_rows):
    """Q/DQ around the concat and the softmax rounds the outputs (so they differ from FP32) but leaves every
    Gemm in float32: the evidence looks at the Gemms' weights, not at the presence of integer ops."""
    from onnxruntime.quantization import QuantFormat, quantize_static

    from widedeep_bench.onnx_roles import input_roles

    roles = input_roles(converted_onnx)

    class Rows:
        def __init__(self):
            self.batches = calibration_rows.batches()

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else roles.feeds(batch.categorical, batch.numeric)

    decoy = tmp_path / "decoy.onnx"
    quantize_static(str(converted_onnx), str(decoy), Rows(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Concat", "Add", "Softmax"])
    evidence = onnx_evidence(decoy, "int8")
    assert not evidence.shown and evidence.counts["Gemm/MatMul nodes"] == 4


def test_an_unused_float16_initializer_does_not_make_an_fp32_model_fp16(tmp_path, converted_onnx):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(converted_onnx))
    model.graph.initializer.append(numpy_helper.from_array(np.ones(4, np.float16), "decoy"))
    decoy = tmp_path / "decoy.onnx"
    onnx.save(model, str(decoy))
    assert not onnx_evidence(decoy, "fp16").shown and onnx_evidence(decoy, "fp32").shown


def test_outputs_are_compared_bit_for_bit_as_float32_only():
    a = np.array([[0.25, 0.75]], np.float32)
    assert differing_elements(a, a.copy()) == 0
    assert differing_elements(a, np.nextafter(a, 1, dtype=np.float32)) == 2
    with pytest.raises(WidedeepError, match="expected two float32 arrays of one shape"):
        differing_elements(a.astype(np.float64), a)


def test_onnx_evidence_reads_the_model_not_the_label(converted_onnx):
    assert onnx_evidence(converted_onnx, "fp32").shown
    for claimed in ("int8", "fp16", "bf16"):
        assert not onnx_evidence(converted_onnx, claimed).shown


def test_onnxruntime_has_no_bf16_and_says_so():
    reason = OnnxruntimeRunner.unavailable_reason(EngineOptions(precision="bf16"))
    assert reason == "onnxruntime runs fp32/fp16/int8 only, not bf16"
