"""``python -m widedeep_bench prepare`` and ``fetch``: the JSON last line, the metrics, the errors.

The synthetic default, the CSV reader and the TF run are replaced by fakes: these tests are about
resolution and reporting, not about training or TensorFlow.
"""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from widedeep_bench import layout, tf_reference
from widedeep_bench.__main__ import main
from widedeep_bench.assets import download_path, lock_path
from widedeep_bench.digests import file_sha256
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.metrics import accuracy

ROWS = 2 * 1024 + 100  # two whole accuracy batches and a partial one that must be dropped


def labelled_tensors(rows: int = ROWS, labelled: bool = True, sha256: str = "0" * 64,
                     source: str = "fake.csv") -> EvalTensors:
    categorical = np.stack([np.tile(np.arange(layout.NUM_FIELDS), rows),
                            np.arange(layout.NUM_FIELDS * rows) % layout.BUCKETS], axis=1).astype(np.int64)
    labels = (np.arange(rows) % 3 == 0).astype(np.int64) if labelled else None
    return EvalTensors(categorical=categorical, numeric=np.zeros((rows, layout.NUM_NUMERIC), np.float32),
                       labels=labels, source=source, sha256=sha256)


def fake_probabilities(numeric_rows: int) -> np.ndarray:
    """Right on most rows, wrong on every seventh: a Top-1 no constant predictor reaches."""
    labels = (np.arange(numeric_rows) % 3 == 0)
    p1 = np.where(labels, 0.8, 0.3)
    p1[::7] = 1 - p1[::7]
    return np.stack([1 - p1, p1], axis=1).astype(np.float32)


@pytest.fixture
def tf_original(monkeypatch):
    """Fakes the CSV reader and the TF run; records which (saved_model, rows) were evaluated."""
    calls = []
    tensors = {"labelled": True}
    from widedeep_bench.data.criteo_csv import PREPROCESS_VERSION

    reader = types.ModuleType("widedeep_bench.data.criteo_csv")
    reader.PREPROCESS_VERSION = PREPROCESS_VERSION  # part of the cached-probabilities key
    # Like the real reader, the tensors carry their file's path and digest (the digest keys the cache).
    reader.load_eval_tensors = lambda path: labelled_tensors(labelled=tensors["labelled"], sha256=file_sha256(path),
                                                             source=str(path))
    monkeypatch.setitem(sys.modules, "widedeep_bench.data.criteo_csv", reader)

    def tf_probabilities(saved_model_dir, categorical, numeric):
        calls.append((str(saved_model_dir), numeric.shape[0]))
        return fake_probabilities(numeric.shape[0])

    monkeypatch.setattr(tf_reference, "tf_probabilities", tf_probabilities)
    return types.SimpleNamespace(calls=calls, tensors=tensors)


def run_cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    return code, (json.loads(lines[-1]) if lines else None), captured.err


def user_model_and_csv(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"user graph")
    csv = tmp_path / "eval.csv"
    csv.write_text("1" + ",0" * 39 + "\n")
    return model, csv


def test_prepare_reports_the_synthetic_default_and_its_metrics(cache, capsys, synthetic_default, tf_original):
    code, result, _ = run_cli(capsys, "prepare", "--rows", "4096", "--seed", "3")

    assert code == 0
    assert result["provenance"] == "synthetic"
    assert result["saved_model"] == str(synthetic_default.directory / "saved_model")
    assert result["eval_csv"] == str(synthetic_default.directory / "eval.csv")
    assert result["onnx"] is None
    assert result["origins"] == {"saved_model": "synthetic", "eval_csv": "synthetic", "onnx": "absent"}
    assert result["metrics"] == synthetic_default.metrics
    assert synthetic_default.calls == [{"rows": 4096, "seed": 3}]
    assert tf_original.calls == []


def test_prepare_scores_user_assets_on_whole_batches_with_the_tf_original(cache, capsys, tmp_path, monkeypatch,
                                                                          synthetic_default, tf_original):
    model, csv = user_model_and_csv(tmp_path)
    monkeypatch.setenv("WIDEDEEP_SAVED_MODEL", str(model))

    code, result, err = run_cli(capsys, "prepare", "--eval-csv", str(csv))

    assert code == 0
    assert result["provenance"] == "user"
    assert result["origins"] == {"saved_model": "env", "eval_csv": "option", "onnx": "absent"}
    expected = accuracy(fake_probabilities(2048), labelled_tensors().labels[:2048]).as_dict()
    metrics = result["metrics"]
    assert {key: metrics[key] for key in expected} == pytest.approx(expected)
    assert metrics["rows"] == 2048
    assert metrics["all_negative_top1"] == pytest.approx(1 - expected["positive_rate"])
    assert tf_original.calls == [(str(model), 2048)]
    assert synthetic_default.calls == []


def test_prepare_reuses_cached_metrics_until_the_csv_changes(cache, capsys, tmp_path, synthetic_default,
                                                             tf_original):
    model, csv = user_model_and_csv(tmp_path)
    first = run_cli(capsys, "prepare", "--saved-model", str(model), "--eval-csv", str(csv))[1]
    second = run_cli(capsys, "prepare", "--saved-model", str(model), "--eval-csv", str(csv))[1]
    assert second["metrics"] == first["metrics"]
    assert len(tf_original.calls) == 1

    csv.write_text("0" + ",0" * 39 + "\n")
    run_cli(capsys, "prepare", "--saved-model", str(model), "--eval-csv", str(csv))
    assert len(tf_original.calls) == 2


def test_prepare_refuses_an_unlabelled_csv_for_metrics(cache, capsys, tmp_path, synthetic_default, tf_original):
    model, csv = user_model_and_csv(tmp_path)
    tf_original.tensors["labelled"] = False

    code, result, err = run_cli(capsys, "prepare", "--saved-model", str(model), "--eval-csv", str(csv))

    assert code == 2 and result is None
    assert f"{csv}: no label column" in err


def test_prepare_with_only_a_user_onnx_has_no_tf_metrics(cache, capsys, tmp_path, monkeypatch,
                                                         synthetic_default, tf_original):
    onnx = tmp_path / "vendor.onnx"
    onnx.write_bytes(b"onnx")
    monkeypatch.setenv("WIDEDEEP_ONNX", str(onnx))

    code, result, _ = run_cli(capsys, "prepare")

    assert code == 0
    assert result["saved_model"] is None and result["onnx"] == str(onnx) and result["metrics"] is None
    assert tf_original.calls == []


def test_prepare_with_a_bad_env_path_exits_2_naming_the_variable(cache, capsys, tmp_path, monkeypatch,
                                                                 synthetic_default):
    monkeypatch.setenv("WIDEDEEP_SAVED_MODEL", str(tmp_path / "missing"))

    code, result, err = run_cli(capsys, "prepare")

    assert code == 2 and result is None
    assert f"WIDEDEEP_SAVED_MODEL={tmp_path / 'missing'}" in err


def test_fetch_from_a_mirror_prints_the_pins_as_json(cache, capsys, server):
    server.files["eval.csv"] = b"1" + b",0" * 39 + b"\n"
    server.files["widedeep_dynamicshape_new.onnx"] = b"onnx bytes"

    code, result, _ = run_cli(capsys, "fetch", "--base-url", server.url(""), "--only", "eval_csv", "--only", "onnx")

    assert code == 0
    assert result["lock"] == str(lock_path())
    assert set(result["assets"]) == {"eval_csv", "onnx"}
    assert result["assets"]["onnx"]["path"] == str(download_path("onnx"))
    assert result["assets"]["eval_csv"]["status"] == "downloaded"
    assert sorted(path for path, _ in server.requests) == ["eval.csv", "widedeep_dynamicshape_new.onnx"]


def test_fetch_url_override_beats_the_base_url(cache, capsys, server):
    server.files["elsewhere.onnx"] = b"onnx bytes"

    code, _, _ = run_cli(capsys, "fetch", "--only", "onnx", "--base-url", server.url("mirror"),
                         "--url", f"onnx={server.url('elsewhere.onnx')}")

    assert code == 0
    assert server.requests == [("elsewhere.onnx", None)]


@pytest.mark.parametrize("override, expected", [
    ("onnx", "expected NAME=URL"),
    ("model=http://x/y", "expected NAME=URL with NAME one of saved_model, eval_csv, onnx"),
    ("eval_csv=http://x/y", "eval_csv is not among the assets to fetch (onnx)"),
])
def test_fetch_rejects_malformed_url_overrides(cache, capsys, override, expected):
    code, result, err = run_cli(capsys, "fetch", "--only", "onnx", "--url", override)

    assert code == 2 and result is None
    assert expected in err


def test_fetch_offline_exits_2_with_the_cache_paths(cache, capsys, closed_port):
    code, result, err = run_cli(capsys, "fetch", "--base-url", f"http://127.0.0.1:{closed_port}", "--only", "eval_csv")

    assert code == 2 and result is None
    assert "cannot reach" in err and str(download_path("eval_csv")) in err
