"""benchmarks/preprocess_speed.py on a tiny CSV: its timings come from the timing module, its checks still hold."""

from __future__ import annotations

import json

import pytest



@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("preprocess_speed")


def test_a_tiny_run_times_both_readers_in_the_planned_rounds_and_their_outputs_agree(bench, tiny_csv, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("WIDEDEEP_CACHE", str(tmp_path / "cache"))  # the script removes its tensor entry
    json_path = tmp_path / "pre.json"
    status = bench.main(["--csv", str(tiny_csv), "--baseline-rows", "64", "--rounds", "2", "--json", str(json_path)])
    report = json.loads(json_path.read_text())
    methods = [result["method"] for result in report["results"]]
    assert methods[:2] == ["vectorised, cold (read_eval_csv, no cache), median of 2",
                           "per-row ByteMLPerf (1 TF hash call per row), median of 2"]
    assert report["results"][1]["rows"] == 64 and report["rows"] == len(tiny_csv.read_text().splitlines())
    assert all(result["wall_s"] > 0 and result["cpu_s"] >= 0 for result in report["results"])
    assert report["targets"]["per-row output equals vectorised output"] is True
    assert status == (0 if all(report["targets"].values()) else 1)
    assert "timed rounds >= 2" in report["method"] and report["machine"]["cpu_flags"] is not None


def test_a_duration_without_a_warm_up_to_plan_from_is_refused(bench, capsys):
    with pytest.raises(SystemExit) as raised:
        bench.main(["--duration", "1"])
    assert raised.value.code == 2 and "--duration needs --warmup 1 or more" in capsys.readouterr().err
