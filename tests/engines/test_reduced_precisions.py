"""BF16 and INT8 in OpenVINO, torch and TensorRT/IxRT, and the evidence each gives of the precision it runs.

OpenVINO INT8 builds here (NNCF on the CPU); BF16 needs a CPU that lists BF16 (AVX512-BF16 or AMX), so on
an AVX2-only machine the tests check the refusal and skip the run. TensorRT cannot run here: its inspector
JSON is parsed by a pure function, tested on a sample in TensorRT's format.
"""

from __future__ import annotations

import ctypes
import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from widedeep_bench.calibration import CalibrationSet
from widedeep_bench.compare import TOLERANCES
from widedeep_bench.engines import EngineOptions, make_runner
from widedeep_bench.engines.registry import runner_class
from widedeep_bench.errors import WidedeepError

INT8_MAX_ABS_DP = TOLERANCES["int8"].atol  # measured 0.028 here (NNCF, random-weight model, 1024 synthetic rows)
BF16_MAX_ABS_DP = TOLERANCES["bf16"].atol
BF16_ROWS = 64  # the CPU without native BF16 emulates it: a few rows only


def _calibration(tmp_path_factory, row_seed: int) -> CalibrationSet:
    from widedeep_bench.data.criteo_csv import read_eval_csv
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    path = write_criteo_csv(tmp_path_factory.mktemp("calibration") / "rows.csv", 512, row_seed=row_seed)
    return CalibrationSet(read_eval_csv(path), source=f"test rows (row seed {row_seed})")


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> CalibrationSet:
    """512 synthetic rows drawn with another row seed than ``engine_rows``: never scored."""
    return _calibration(tmp_path_factory, 7)


@pytest.fixture(scope="module")
def other_calibration(tmp_path_factory) -> CalibrationSet:
    return _calibration(tmp_path_factory, 8)


# --- OpenVINO ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ov():
    return pytest.importorskip("openvino", reason="openvino not importable")


@pytest.fixture(scope="module")
def capabilities(ov) -> list[str]:
    return ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture
def int8_runnable(capabilities):
    from widedeep_bench.engines.openvino import OpenvinoRunner

    reason = OpenvinoRunner.unavailable_reason(EngineOptions(precision="int8"))
    if reason is not None:
        pytest.skip(reason)


def _probabilities(runner, rows) -> np.ndarray:
    return runner.infer(rows.categorical, rows.numeric)


def test_openvino_int8_runs_its_fully_connected_layers_in_8_bit_close_to_fp32(
        int8_runnable, private_cache, converted_onnx, engine_rows, calibration, record_property):
    with make_runner("openvino", converted_onnx) as fp32:
        expected = _probabilities(fp32, engine_rows)
    with make_runner("openvino", converted_onnx, EngineOptions(precision="int8", calibration=calibration)) as int8:
        probabilities = _probabilities(int8, engine_rows)
        evidence = int8.precision_evidence()
        seconds = int8.build_record.build_seconds
    worst = float(np.abs(probabilities - expected).max())
    record_property("achieved_error", f"openvino int8 vs fp32: max |dp| {worst:.4f}, built in {seconds:.1f} s")
    assert 0 < worst < INT8_MAX_ABS_DP
    assert evidence.shown, str(evidence)
    eight_bit = {name: n for name, n in evidence.counts.items() if name.endswith((" u8", " i8"))}
    assert eight_bit and all(name.startswith("FullyConnected") for name in eight_bit), evidence.counts


def test_openvino_int8_engines_calibrated_on_other_rows_are_other_builds(
        int8_runnable, private_cache, converted_onnx, calibration, other_calibration):
    first = make_runner("openvino", converted_onnx, EngineOptions(precision="int8", calibration=calibration))
    other = make_runner("openvino", converted_onnx, EngineOptions(precision="int8", calibration=other_calibration))
    again = make_runner("openvino", converted_onnx, EngineOptions(precision="int8", calibration=calibration))
    assert first.engine_key() != other.engine_key() and first.engine_key() == again.engine_key()
    records = [runner.build() for runner in (first, other, again)]
    assert [record.cached for record in records] == [False, False, True]
    assert records[0].artifact != records[1].artifact and records[2].artifact == records[0].artifact


def test_an_openvino_int8_key_names_the_nncf_that_quantized_it(int8_runnable, converted_onnx, calibration):
    """NNCF decides what an INT8 model holds: another NNCF release must build another engine."""
    import nncf

    key = make_runner("openvino", converted_onnx, EngineOptions(precision="int8", calibration=calibration)).engine_key()
    fp32 = make_runner("openvino", converted_onnx, EngineOptions()).engine_key()
    assert key.runner_version == f"{fp32.runner_version}+nncf-{nncf.__version__}"


def test_openvino_int8_without_calibration_rows_is_refused_naming_them(int8_runnable, private_cache,
                                                                       converted_onnx):
    with pytest.raises(WidedeepError, match="int8 needs calibration rows"):
        make_runner("openvino", converted_onnx, EngineOptions(precision="int8")).build()


def test_openvino_fp32_evidence_would_not_show_int8_or_bf16(private_cache, converted_onnx, ov):
    from widedeep_bench.engines.openvino import layer_precisions, runtime_evidence

    with make_runner("openvino", converted_onnx) as fp32:
        assert fp32.precision_evidence().shown
        counts = layer_precisions(fp32.compiled.get_runtime_model())
    assert counts == {"FullyConnected f32": 4}
    for claimed in ("int8", "bf16", "fp16"):
        evidence = runtime_evidence(counts, claimed, "fp32 runtime graph")
        assert not evidence.shown and evidence.detail.startswith("0 of 4 "), str(evidence)


def test_openvino_evidence_counts_8_bit_layers_of_how_many():
    from widedeep_bench.engines.openvino import runtime_evidence

    evidence = runtime_evidence({"FullyConnected u8": 3, "FullyConnected f32": 1}, "int8", "sample")
    assert evidence.shown and evidence.detail == "3 of 4 matrix-multiplication layers run in u8/i8 (others: f32 1)"
    assert not runtime_evidence({"FullyConnected u8": 3, "FullyConnected f32": 1}, "fp32", "sample").shown
    assert not runtime_evidence({}, "int8", "sample").shown


def test_openvino_bf16_is_offered_only_where_the_cpu_lists_bf16(capabilities):
    from widedeep_bench.engines.openvino import OpenvinoRunner

    reason = OpenvinoRunner.unavailable_reason(EngineOptions(precision="bf16"))
    if "BF16" in capabilities:
        assert reason is None
    else:
        assert reason == f"the CPU has no BF16 inference (OPTIMIZATION_CAPABILITIES: {capabilities})"


def test_openvino_bf16_runs_its_fully_connected_layers_in_bf16(capabilities, private_cache, converted_onnx,
                                                               engine_rows):
    if "BF16" not in capabilities:
        pytest.skip(f"the CPU does not list BF16 (OPTIMIZATION_CAPABILITIES: {capabilities})")
    rows = engine_rows.head(BF16_ROWS)
    with make_runner("openvino", converted_onnx) as fp32:
        expected = _probabilities(fp32, rows)
    with make_runner("openvino", converted_onnx, EngineOptions(precision="bf16")) as bf16:
        probabilities = _probabilities(bf16, rows)
        evidence = bf16.precision_evidence()
    assert evidence.shown and "FullyConnected bf16" in evidence.counts, str(evidence)
    assert np.abs(probabilities - expected).max() < BF16_MAX_ABS_DP


def test_openvino_without_nncf_refuses_int8_saying_how_to_install_it(monkeypatch, capabilities):
    import widedeep_bench.engines.openvino as openvino_module

    if "INT8" not in capabilities:
        pytest.skip(f"the CPU does not list INT8 (OPTIMIZATION_CAPABILITIES: {capabilities})")
    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf raises ImportError
    openvino_module.nncf_unavailable.cache_clear()
    try:
        reason = openvino_module.OpenvinoRunner.unavailable_reason(EngineOptions(precision="int8"))
    finally:
        openvino_module.nncf_unavailable.cache_clear()
    assert reason.startswith("nncf not importable: ") and reason.endswith("; pip install nncf")


# --- torch ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch not importable")


def test_torch_runs_no_int8(torch):
    from widedeep_bench.engines.torch import TorchRunner

    assert TorchRunner.unavailable_reason(EngineOptions(precision="int8")) == \
        "torch runs fp32/fp16/bf16 only, not int8"


def test_a_cpu_without_amx_or_avx512_bf16_refuses_bf16_listing_its_flags(torch):
    from widedeep_bench.engines.torch import cpu_bf16_unsupported

    assert cpu_bf16_unsupported(["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f"]) == (
        "the CPU has no AMX-BF16 or AVX512-BF16 (flags: avx avx2 avx512f f16c fma sse4_2): BF16 would be emulated")
    assert cpu_bf16_unsupported(frozenset({"avx2", "avx512_bf16"})) is None
    assert cpu_bf16_unsupported(frozenset({"avx2", "amx_bf16"})) is None
    assert "none read from /proc/cpuinfo" in cpu_bf16_unsupported(frozenset())


def test_torch_bf16_on_this_machine_is_refused_or_runs_with_evidence(torch, converted_onnx, engine_rows):
    from widedeep_bench.engines.torch import TorchRunner, cpu_bf16_unsupported, cpu_flags

    reason = TorchRunner.unavailable_reason(EngineOptions(precision="bf16"))
    if not torch.cuda.is_available():
        assert reason == cpu_bf16_unsupported(cpu_flags())
    if reason is not None:
        assert "BF16" in reason
        with pytest.raises(WidedeepError, match="BF16"):
            make_runner("torch", converted_onnx, EngineOptions(precision="bf16"))
        pytest.skip(reason)
    _assert_torch_bf16_runs(converted_onnx, engine_rows)


def test_torch_bf16_autocast_on_a_cpu_with_amx_bf16_shows_bfloat16_gemms(torch, monkeypatch, converted_onnx,
                                                                           engine_rows, record_property):
    """The CPU path as a CPU with AMX-BF16 takes it (pretended here: oneDNN emulates BF16 on this CPU)."""
    import widedeep_bench.engines.torch as torch_module

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the runner uses it, not the CPU autocast path")
    monkeypatch.setattr(torch_module, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    worst = _assert_torch_bf16_runs(converted_onnx, engine_rows)
    record_property("achieved_error", f"torch bf16 (CPU autocast) vs fp32: max |dp| {worst:.2e}")


def _assert_torch_bf16_runs(converted_onnx, engine_rows) -> float:
    """Run torch BF16 on a few rows; its max |dp| against torch FP32."""
    from widedeep_bench.engines.torch import addmm_output_dtypes, gemm_evidence

    rows = engine_rows.head(BF16_ROWS)
    with make_runner("torch", converted_onnx) as fp32:
        expected = _probabilities(fp32, rows)
        fp32_as_bf16 = gemm_evidence(addmm_output_dtypes(fp32.forward), "bf16", fp32.forward, "fp32 probe")
    assert not fp32_as_bf16.shown and fp32_as_bf16.detail.startswith("0 of 4 "), str(fp32_as_bf16)
    with make_runner("torch", converted_onnx, EngineOptions(precision="bf16")) as bf16:
        probabilities = _probabilities(bf16, rows)
        evidence = bf16.precision_evidence()
    assert evidence.shown and evidence.counts["addmm bfloat16 outputs"] == 4, str(evidence)
    worst = float(np.abs(probabilities - expected).max())
    assert probabilities.dtype == np.float32 and 0 < worst < BF16_MAX_ABS_DP
    return worst


def test_torch_fp32_evidence_comes_from_the_gemms_that_ran(torch, converted_onnx):
    with make_runner("torch", converted_onnx) as runner:
        evidence = runner.precision_evidence()
    assert evidence.shown and evidence.counts == {"addmm float32 outputs": 4, "float32 tower weights": 4}


# --- TensorRT / IxRT --------------------------------------------------------------------------------------

def _layer(name, layer_type, inputs, outputs):
    def tensors(formats):
        return [{"Name": f"{name}:{i}", "Location": "Device", "Dimensions": [1024, 32], "Format/Datatype": f}
                for i, f in enumerate(formats)]

    return {"Name": name, "LayerType": layer_type, "Inputs": tensors(inputs), "Outputs": tensors(outputs),
            "TacticValue": "0x0000000000000000"}


# The shape of ``get_engine_information(LayerInformationFormat.JSON)`` for a DETAILED build (TensorRT 8.6).
INT8_ENGINE = {"Layers": [
    _layer("gather", "Gather", ["Row major linear FP32", "Row major linear Int32"], ["Row major linear FP32"]),
    _layer("Reformatting CopyNode for Input Tensor 0 to dense_0", "Reformat", ["Row major linear FP32"],
           ["Thirty-two wide channel vectorized row major Int8 format"]),
    _layer("dense_0 + relu", "CaskGemmConvolution", ["Thirty-two wide channel vectorized row major Int8 format"],
           ["Thirty-two wide channel vectorized row major Int8 format"]),
    _layer("dense_1 + relu", "CaskGemmConvolution", ["Thirty-two wide channel vectorized row major Int8 format"],
           ["Row major linear FP16 format"]),
    _layer("logits", "CaskGemmConvolution", ["Row major linear FP16 format"], ["Row major linear FP32"]),
], "Bindings": ["new_categorical_placeholder:0", "new_numeric_placeholder:0", "probabilities"]}
FP32_ENGINE = {"Layers": [
    _layer("gather", "Gather", ["Float", "Int32"], ["Float"]),  # TensorRT 10 names FP32 "Float"
    _layer("dense_0 + relu", "CaskGemmConvolution", ["Float"], ["Float"]),
], "Bindings": []}


def test_tensorrt_evidence_counts_layers_by_the_precision_of_the_tensors_they_read():
    from widedeep_bench.engines.tensorrt import inspector_evidence, layer_precisions

    # The Gemms only: the gather reads FP32 and int32 tensors, which says nothing of the precision claimed.
    assert layer_precisions(json.dumps(INT8_ENGINE)) == {"int8": 2, "fp16": 1}
    evidence = inspector_evidence(json.dumps(INT8_ENGINE), "int8")
    assert evidence.shown and evidence.detail == "2 layers read int8 tensors"
    assert evidence.counts == {"fp16 layers": 1, "int8 layers": 2}
    assert inspector_evidence(INT8_ENGINE, "fp16").shown
    assert not inspector_evidence(INT8_ENGINE, "fp32").shown
    assert not inspector_evidence(INT8_ENGINE, "bf16").shown


def test_tensorrt_fp32_engine_evidence_would_not_show_a_reduced_precision():
    from widedeep_bench.engines.tensorrt import inspector_evidence

    assert inspector_evidence(FP32_ENGINE, "fp32").shown
    for claimed in ("fp16", "bf16", "int8"):
        assert not inspector_evidence(FP32_ENGINE, claimed).shown
    # An FP32 Gemm beside a gather that reads FP16 tensors: the Gemm's precision is the claim, not the gather's.
    half_gather = {"Layers": [_layer("gather", "Gather", ["Row major linear FP16 format"], ["Row major linear FP16 format"]),
                              _layer("dense_0 + relu", "CaskGemmConvolution", ["Float"], ["Float"])]}
    assert not inspector_evidence(half_gather, "fp16").shown and inspector_evidence(half_gather, "fp32").shown


def test_tensorrt_evidence_from_an_engine_without_detailed_layers_shows_nothing():
    from widedeep_bench.engines.tensorrt import inspector_evidence

    names_only = inspector_evidence({"Layers": ["gather", "dense_0 + relu"]}, "fp32")
    assert not names_only.shown and "ProfilingVerbosity.DETAILED" in names_only.detail
    dynamic = {"Layers": [_layer("dense_0", "CaskGemmConvolution", ["N/A due to dynamic shapes"], [])]}
    assert not inspector_evidence(dynamic, "int8").shown


@pytest.mark.parametrize("name", ["tensorrt", "ixrt"])
@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_tensorrt_and_ixrt_without_the_module_are_unavailable_saying_so(name, precision):
    import importlib.util

    if importlib.util.find_spec(name) is not None:
        pytest.skip(f"{name} is importable here")
    reason = runner_class(name).unavailable_reason(EngineOptions(precision=precision))
    assert reason.startswith(f"{name} not importable: No module named '{name}'")


class FakeTrt:
    """As much of ``tensorrt`` as the calibrator uses; network input dtypes are NumPy dtypes here."""

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            pass

    @staticmethod
    def nptype(dtype):
        return dtype


class FakeDeviceMemory:
    """cuda-python's runtime API for the calibrator: device buffers are host bytearrays."""

    class cudaError_t:  # noqa: N801 - cuda-python's name
        cudaSuccess = 0

    class cudaMemcpyKind:  # noqa: N801
        cudaMemcpyHostToDevice = 1

    def __init__(self) -> None:
        self.buffers: dict[int, bytearray] = {}

    def cudaMalloc(self, nbytes):  # noqa: N802
        buffer = bytearray(nbytes)
        pointer = ctypes.addressof((ctypes.c_char * nbytes).from_buffer(buffer))
        self.buffers[pointer] = buffer
        return (self.cudaError_t.cudaSuccess, pointer)

    def cudaMemcpy(self, destination, source, nbytes, kind):  # noqa: N802
        assert kind == self.cudaMemcpyKind.cudaMemcpyHostToDevice and nbytes <= len(self.buffers[destination])
        ctypes.memmove(destination, source, nbytes)
        return (self.cudaError_t.cudaSuccess,)

    def cudaFree(self, pointer):  # noqa: N802
        del self.buffers[pointer]
        return (self.cudaError_t.cudaSuccess,)


def _network(roles, categorical_dtype):
    inputs = [SimpleNamespace(name=roles.categorical, dtype=np.dtype(categorical_dtype)),
              SimpleNamespace(name=roles.numeric, dtype=np.dtype(np.float32))]
    return SimpleNamespace(num_inputs=len(inputs), get_input=inputs.__getitem__)


def test_tensorrt_calibration_feeds_are_whole_batches_in_the_networks_input_dtypes(converted_onnx, engine_rows):
    from widedeep_bench.engines.tensorrt import calibration_feeds
    from widedeep_bench.onnx_roles import input_roles

    roles = input_roles(converted_onnx)
    network = _network(roles, np.int32)  # a TensorRT 8 network takes int32 where the ONNX says int64
    options = EngineOptions(precision="int8", calibration=CalibrationSet(engine_rows.head(600), "600 rows"))
    feeds = calibration_feeds(network, FakeTrt, roles, options)
    assert len(feeds) == 1  # 512 rows; the last 88 would need a calibration profile of their own
    assert feeds[0][roles.categorical].dtype == np.int32 and feeds[0][roles.categorical].shape == (26 * 512, 2)
    np.testing.assert_array_equal(feeds[0][roles.numeric], engine_rows.head(512).numeric)
    few = EngineOptions(precision="int8", calibration=CalibrationSet(engine_rows.head(300), "300 rows"))
    assert [feed[roles.numeric].shape for feed in calibration_feeds(network, FakeTrt, roles, few)] == [(300, 13)]
    with pytest.raises(WidedeepError, match="int8 needs calibration rows"):
        calibration_feeds(network, FakeTrt, roles, EngineOptions(precision="int8"))


def test_the_tensorrt_calibrator_copies_each_batch_to_the_device_and_keeps_its_cache(
        converted_onnx, engine_rows, tmp_path):
    from widedeep_bench.engines.tensorrt import CALIBRATION_CACHE, calibration_feeds, entropy_calibrator
    from widedeep_bench.onnx_roles import input_roles

    roles = input_roles(converted_onnx)
    options = EngineOptions(precision="int8", calibration=CalibrationSet(engine_rows, "1024 rows"))
    feeds = calibration_feeds(_network(roles, np.int64), FakeTrt, roles, options)
    memory = FakeDeviceMemory()
    calibrator = entropy_calibrator(FakeTrt, memory, feeds, tmp_path / CALIBRATION_CACHE)
    names = [roles.numeric, roles.categorical]  # TensorRT asks in its own order
    assert calibrator.get_batch_size() == 1
    for feed in feeds:
        pointers = calibrator.get_batch(names)
        for name, pointer in zip(names, pointers):
            assert bytes(memory.buffers[pointer]) == feed[name].tobytes()
    assert len(feeds) == 2 and calibrator.get_batch(names) is None
    assert calibrator.read_calibration_cache() is None
    calibrator.write_calibration_cache(memoryview(b"TRT-8601-EntropyCalibration2\n"))
    assert calibrator.read_calibration_cache() == b"TRT-8601-EntropyCalibration2\n"
    calibrator.free()
    assert memory.buffers == {}
