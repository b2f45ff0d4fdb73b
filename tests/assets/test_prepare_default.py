"""``prepare`` on the embedded default, end to end: trains (or reuses) it and reports the TF original.

Uses the suite's own cache root and default row count, so the default built here is the one the
conformance tests use: on a fresh machine it is built once, by whichever runs first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from widedeep_bench.__main__ import main
from widedeep_bench.assets import fetched_asset


@pytest.mark.slow
def test_prepare_builds_the_default_and_reports_a_tf_original_that_beats_all_negative(capsys, monkeypatch):
    for variable in ("WIDEDEEP_SAVED_MODEL", "WIDEDEEP_EVAL_CSV", "WIDEDEEP_ONNX"):
        monkeypatch.delenv(variable, raising=False)
    if fetched_asset("saved_model") or fetched_asset("eval_csv") or fetched_asset("onnx"):
        pytest.skip("real assets fetched into this cache take precedence over the default")

    assert main(["prepare"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert result["provenance"] == "synthetic"
    assert result["origins"] == {"saved_model": "synthetic", "eval_csv": "synthetic", "onnx": "absent"}
    provenance = json.loads((Path(result["saved_model"]).parent / "provenance.json").read_text())
    metrics = result["metrics"]
    assert metrics == provenance["metrics"]
    assert metrics["rows"] % 1024 == 0 and metrics["rows"] >= 1024
    assert metrics["top1"] > metrics["all_negative_top1"] + 0.01
    assert metrics["auc"] > 0.6
    assert 0.1 < metrics["positive_rate"] < 0.5
