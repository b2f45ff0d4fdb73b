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
from widedeep_bench.precision import onnx_evidence, same_as_fp32
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
    assert evidence.shown and evidence.counts.get("QGemm nodes", 0) + evidence.counts.get("QuantizeLinear nodes", 0) > 0
    assert evidence.counts["int8 initializers"] > 0
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
    with FakeInt8Runner(converted_onnx, int8(calibration_rows)) as fake, \
            make_runner("onnxruntime", converted_onnx) as fp32:
        evidence = fake.precision_evidence()
        probabilities = fake.infer(engine_rows.categorical, engine_rows.numeric)
        reference = fp32.infer(engine_rows.categorical, engine_rows.numeric)
    assert same_as_fp32(probabilities, reference)
    differing = int(np.count_nonzero(probabilities != reference))
    evidence_gate, differs_gate = gates.precision_gates("onnxruntime-int8", evidence, differing=differing,
                                                        elements=probabilities.size, method="test rows")
    assert not evidence_gate.passed and "no integer" in evidence.detail
    assert not differs_gate.passed and "ran FP32" in differs_gate.method


def test_onnx_evidence_reads_the_model_not_the_label(converted_onnx):
    assert onnx_evidence(converted_onnx, "fp32").shown
    for claimed in ("int8", "fp16", "bf16"):
        assert not onnx_evidence(converted_onnx, claimed).shown


def test_onnxruntime_has_no_bf16_and_says_so():
    reason = OnnxruntimeRunner.unavailable_reason(EngineOptions(precision="bf16"))
    assert reason == "onnxruntime runs fp32/fp16/int8 only, not bf16"
