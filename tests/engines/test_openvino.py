"""OpenVINO specifics: the exported blob is the artifact, and the precision asked for is the one used."""

from __future__ import annotations

import pytest

from widedeep_bench.engines import EngineOptions, make_runner
from widedeep_bench.engines.openvino import OpenvinoRunner
from widedeep_bench.errors import WidedeepError

ov = pytest.importorskip("openvino", reason="openvino not importable")


def test_the_artifact_is_the_exported_compiled_blob_and_is_reused(private_cache, converted_onnx):
    with make_runner("openvino", converted_onnx) as first:
        pass
    with make_runner("openvino", converted_onnx) as second:
        assert second.request.get_compiled_model().get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert first.build_record.artifact.name == "model.blob" and first.build_record.artifact.stat().st_size > 0
    assert (first.build_record.cached, second.build_record.cached) == (False, True)


def test_fp16_is_offered_only_where_the_cpu_reports_it():
    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    reason = OpenvinoRunner.unavailable_reason(EngineOptions(precision="fp16"))
    if "FP16" in capabilities:
        assert reason is None
    else:
        assert reason == f"the CPU has no FP16 inference (OPTIMIZATION_CAPABILITIES: {capabilities})"


def test_providers_are_refused_since_openvino_has_none(converted_onnx):
    with pytest.raises(WidedeepError, match="openvino has no providers"):
        make_runner("openvino", converted_onnx, EngineOptions(providers=("CUDAExecutionProvider",)))
