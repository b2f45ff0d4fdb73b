"""``prepare`` with a user's SavedModel and eval.csv, end to end: real CSV reader, real TensorFlow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from widedeep_bench.__main__ import main
from widedeep_bench.data.criteo_csv import load_eval_tensors
from widedeep_bench.metrics import accuracy
from widedeep_bench.model.saved_model import write_saved_model
from widedeep_bench.model.weights import WideDeepWeights
from widedeep_bench.synthetic.criteo_rows import write_criteo_csv


def test_prepare_reports_the_tf_original_on_a_user_csv_as_the_numpy_forward_does(cache, tmp_path, capsys,
                                                                                   monkeypatch):
    weights = WideDeepWeights.random(seed=11)
    saved_model = write_saved_model(weights, tmp_path / "saved_model")
    eval_csv = write_criteo_csv(tmp_path / "eval.csv", 2 * 1024 + 300, world_seed=3, row_seed=4)
    monkeypatch.setenv("WIDEDEEP_SAVED_MODEL", str(saved_model))
    monkeypatch.setenv("WIDEDEEP_EVAL_CSV", str(eval_csv))

    assert main(["prepare"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert result["provenance"] == "user"
    assert result["origins"] == {"saved_model": "env", "eval_csv": "env", "onnx": "absent"}
    scored = load_eval_tensors(eval_csv).head(2048)
    expected = accuracy(weights.probabilities(scored.categorical, scored.numeric), scored.labels)
    metrics = result["metrics"]
    assert metrics["rows"] == 2048
    assert metrics["positive_rate"] == expected.positive_rate
    assert metrics["top1"] == pytest.approx(expected.top1, abs=1 / 2048)
    assert metrics["auc"] == pytest.approx(expected.auc, abs=1e-4)
    assert np.isfinite(metrics["logloss"])
    assert abs(metrics["top1"] - (1 - metrics["positive_rate"])) > 0.01  # not a constant predictor
