"""``python -m widedeep_bench build``: the JSON it prints last, and its errors (exit status 2)."""

from __future__ import annotations

import json

import pytest

from widedeep_bench.__main__ import main


def build(capsys, *args) -> tuple[int, dict | None, str]:
    status = main(["-q", "build", *map(str, args)])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    return status, json.loads(lines[-1]) if status == 0 else None, captured.err


def test_build_prints_the_key_and_then_reports_the_cached_engine(private_cache, converted_onnx, capsys):
    status, first, _ = build(capsys, "--onnx", converted_onnx, "--backend", "onnxruntime", "--precision", "fp32")
    assert status == 0
    assert set(first) == {"key", "cached", "build_seconds", "artifact", "runner", "version", "precision", "calibration"}
    assert first["calibration"] is None  # FP32 calibrates on nothing
    assert first["cached"] is False and first["build_seconds"] > 0
    assert (first["runner"], first["precision"]) == ("onnxruntime", "fp32")
    status, second, _ = build(capsys, "--onnx", converted_onnx, "--backend", "onnxruntime", "--precision", "fp32")
    assert status == 0 and second["cached"] is True
    assert (second["key"], second["artifact"]) == (first["key"], first["artifact"])
    assert len((private_cache / "builds.log").read_text().splitlines()) == 1


def test_another_precision_or_batch_profile_is_another_build(private_cache, converted_onnx, capsys):
    _, fp32, _ = build(capsys, "--onnx", converted_onnx, "--backend", "onnxruntime", "--precision", "fp32")
    _, fp16, _ = build(capsys, "--onnx", converted_onnx, "--backend", "onnxruntime", "--precision", "fp16")
    assert fp16["cached"] is False and fp16["key"] != fp32["key"] and fp16["key"].startswith("onnxruntime-fp16-")


def test_an_int8_build_names_its_calibration_rows_and_needs_them(private_cache, converted_onnx, capsys, tmp_path):
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    rows = write_criteo_csv(tmp_path / "calibration.csv", 512, row_seed=7)
    status, built, _ = build(capsys, "--onnx", converted_onnx, "--backend", "onnxruntime", "--precision", "int8",
                             "--calibration-csv", rows)
    assert status == 0 and built["key"].startswith("onnxruntime-int8-")
    assert built["calibration"]["rows"] == 512 and str(rows) in built["calibration"]["source"]
    status, _, err = build(capsys, "--onnx", converted_onnx, "--backend", "onnxruntime", "--precision", "int8")
    assert status == 2 and "--precision int8 needs --calibration-csv FILE" in err and len(err.strip().splitlines()) == 1
    status, _, err = build(capsys, "--onnx", converted_onnx, "--backend", "onnxruntime", "--calibration-csv", rows)
    assert status == 2 and "--calibration-csv: only int8 engines calibrate" in err


@pytest.mark.parametrize("args, words", [
    (["--backend", "onnxruntime", "--providers", "CUDAExecutionProvider"],
     ["Requested provider CUDAExecutionProvider is not available; available: ["]),
    (["--backend", "tensorflow"], ["--backend tensorflow has nothing to build", "the SavedModel as is"]),
    (["--backend", "null"], ["--backend null has nothing to build"]),
    (["--backend", "tvm"], ["unknown runner 'tvm'"]),
    (["--backend", "onnxruntime", "--min-batch", "2048", "--opt-batch", "1024"], ["2048/1024/16384"]),
])
def test_build_errors_say_what_is_wrong(private_cache, converted_onnx, capsys, args, words):
    status, _, err = build(capsys, "--onnx", converted_onnx, *args)
    assert status == 2
    for word in words:
        assert word in err
    assert not (private_cache / "builds.log").exists()


def test_a_missing_onnx_file_is_named(private_cache, tmp_path, capsys):
    status, _, err = build(capsys, "--onnx", tmp_path / "absent.onnx", "--backend", "onnxruntime")
    assert status == 2 and f"--onnx {tmp_path / 'absent.onnx'}: no such file" in err
