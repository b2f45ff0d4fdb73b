"""The conformance suite run as a user runs it (pytest in a subprocess) on a model and eval set the
project has never seen: its Top-1 equals an independent computation, a weak model fails with the gate
named, perf writes the benchmark JSON and every timed round to the report, parity its error histogram, JUnit
carries every gate's numbers, and under xdist every engine is built once."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from widedeep_bench.model.saved_model import write_saved_model
from widedeep_bench.model.weights import WideDeepWeights

pytestmark = pytest.mark.slow

UNSEEN_MODEL_SEED = 8675325  # no other test uses it; random weights with AUC 0.535 on the rows below
UNSEEN_WORLD_SEED = 77  # a synthetic world nobody else draws from
ROWS = 3 * 1024 + 200  # three accuracy batches and a partial one the run must drop
PERMISSIVE = """name = "permissive"
backends = ["onnxruntime"]
precisions = ["fp32"]
batch_sizes = [1024]
[accuracy]
top1_floor = 0.01
top1_max_drop = 0.01
auc_margin = 0.01
"""


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    """A random-weight SavedModel, the same model made useless (always predicts a click), an eval set."""
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    root = tmp_path_factory.mktemp("unseen")
    weights = WideDeepWeights.random(UNSEEN_MODEL_SEED)
    always_click = WideDeepWeights.random(UNSEEN_MODEL_SEED)
    always_click.wide_bias[:] = 40.0
    (root / "permissive.toml").write_text(PERMISSIVE)
    return {"weights": weights, "model": write_saved_model(weights, root / "model"),
            "always_click": write_saved_model(always_click, root / "always_click"),
            "eval_csv": write_criteo_csv(root / "eval.csv", ROWS, world_seed=UNSEEN_WORLD_SEED, row_seed=5),
            "profile": root / "permissive.toml", "root": root}


def independent_top1(weights, eval_csv):
    """Top-1 from the NumPy forward pass and plain ``p1 > 0.5``, over whole batches of 1024."""
    from widedeep_bench.data.criteo_csv import read_eval_csv

    tensors = read_eval_csv(eval_csv)
    rows = tensors.rows - tensors.rows % 1024
    p1 = weights.probabilities(tensors.categorical[:26 * rows], tensors.numeric[:rows])[:, 1]
    return float(np.mean((p1 > 0.5).astype(np.int64) == tensors.labels[:rows])), rows


def junit_gates(junit_xml) -> dict[str, tuple[str, str]]:
    """The gate properties of a JUnit XML: "gate: NAME" -> (the test case's name, the property's value)."""
    return {prop.get("name"): (case.get("name"), prop.get("value"))
            for case in ET.parse(junit_xml).getroot().iter("testcase")
            for prop in case.iter("property") if prop.get("name").startswith("gate: ")}


def test_reported_top1_equals_an_independent_computation(unseen, tmp_path, run_suite):
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    done = run_suite("-m", "accuracy", "--wd-saved-model", str(unseen["model"]),
                     "--wd-eval-csv", str(unseen["eval_csv"]), "--wd-profile", str(unseen["profile"]),
                     "--wd-report", str(report), "--junitxml", str(junit))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    saved = json.loads(report.read_text())
    expected, rows = independent_top1(unseen["weights"], unseen["eval_csv"])
    for case in ("tensorflow-fp32", "onnxruntime-fp32"):
        assert saved["accuracy"][case]["rows"] == rows
        assert round(saved["accuracy"][case]["top1"], 5) == round(expected, 5)
    assert "widedeep_bench gates" in done.stdout and "Top-1 >= profile floor" in done.stdout
    assert saved["passed"] is True and saved["versions"]["onnxruntime"] and saved["machine"]["cpu"]
    assert saved["report_version"] == 3 and isinstance(saved["machine"]["accelerators"], list)
    # JUnit carries each gate's verdict, measured value, threshold and method, on the test case that judged it.
    properties = junit_gates(junit)
    judged = [gate for gate in saved["gates"] if gate["status"] in ("PASS", "FAIL")]  # not the deselected ones
    assert set(properties) == {f"gate: {gate['name']}" for gate in judged} and len(judged) >= 6
    for gate in judged:
        case, value = properties[f"gate: {gate['name']}"]
        assert case == ("test_tf_original_accuracy" if "tensorflow-fp32" in gate["name"]
                        else "test_engine_accuracy[onnxruntime-fp32]")
        assert value.startswith(f"{gate['status']}: measured {gate['measured']:.6g} {gate['op']} "
                                f"threshold {gate['threshold']:.6g}") and value.endswith(f"; method: {gate['method']}")


def test_a_model_below_the_floor_fails_the_run_with_the_gate_named(unseen, tmp_path, run_suite, run_report):
    report = tmp_path / "report.json"
    done = run_suite("-m", "accuracy", "--wd-saved-model", str(unseen["always_click"]),
                     "--wd-eval-csv", str(unseen["eval_csv"]), "--wd-profile", "cpu-default",
                     "--wd-backend", "onnxruntime", "--wd-precision", "fp32", "--wd-report", str(report))
    assert done.returncode == 1, done.stdout[-3000:]
    assert "FAIL  accuracy onnxruntime-fp32: Top-1 >= profile floor" in done.stdout
    assert "AUC >= 0.5 + margin" in done.stdout
    failed = {gate["name"] for gate in json.loads(report.read_text())["gates"] if not gate["passed"]}
    assert "accuracy tensorflow-fp32: Top-1 >= profile floor" in failed
    report_cli = run_report(report)
    assert report_cli.returncode == 1 and "gate(s) failed" in report_cli.stderr


def test_perf_writes_samples_per_second_per_backend_and_batch(unseen, tmp_path, run_suite):
    bench, report = tmp_path / "bench.json", tmp_path / "report.json"
    done = run_suite("-m", "perf", "--wd-saved-model", str(unseen["model"]),
                     "--wd-eval-csv", str(unseen["eval_csv"]), "--wd-profile", str(unseen["profile"]),
                     "--wd-backend", "onnxruntime", "--wd-batch-sizes", "256,1024", "--wd-perf-rounds", "5",
                     "--wd-perf-warmup", "1", "--wd-perf-duration", "0.2", "--benchmark-json", str(bench),
                     "--wd-report", str(report))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    measured = {(b["extra_info"]["backend"], b["extra_info"]["precision"], b["extra_info"]["batch_size"]):
                b for b in json.loads(bench.read_text())["benchmarks"]}
    for backend in ("tensorflow", "onnxruntime", "null"):
        for batch in (256, 1024):
            entry = measured[(backend, "fp32", batch)]
            info = entry["extra_info"]
            # rounds are planned from the warm-up to fill --wd-perf-duration: about 0.2 s measured, at least 5 rounds
            assert info["rounds"] == len(entry["stats"]["data"]) >= 5 and info["measured_s"] > 0.1
            assert info["samples_per_s"] == pytest.approx(batch / entry["stats"]["median"], rel=1e-9)
            assert info["tail_statistic"] == ("p99" if info["rounds"] >= 100 else "max")
            assert "median" in info["method"]
    # Each engine is timed interleaved with the TF original: the paired ratio is recorded with the case.
    ratio = measured[("onnxruntime", "fp32", 1024)]["extra_info"]["ratio_vs_tensorflow"]
    assert ratio["pairs"] == measured[("onnxruntime", "fp32", 1024)]["extra_info"]["rounds"] and ratio["ratio"] > 0
    assert measured[("tensorflow", "fp32", 1024)]["extra_info"]["ratio_vs_tensorflow"] is None
    # The null runner measures the harness alone: it must be far faster than a real engine.
    assert measured[("null", "fp32", 1024)]["extra_info"]["samples_per_s"] > \
        5 * measured[("onnxruntime", "fp32", 1024)]["extra_info"]["samples_per_s"]
    # The report keeps every timed round of every case, the TF original's and the null runner's included:
    # their median gives back samples/s, and they are pytest-benchmark's rounds (to the nanosecond).
    throughput = json.loads(report.read_text())["throughput"]
    assert set(throughput) == {f"{backend}-fp32/b{batch}" for backend in ("tensorflow", "onnxruntime", "null")
                               for batch in (256, 1024)}
    for case, t in throughput.items():
        assert len(t["round_seconds"]) == t["rounds"] and min(t["round_seconds"]) > 0
        assert t["samples_per_s"] == pytest.approx(t["batch_size"] / np.median(t["round_seconds"]), rel=1e-5)
        entry = measured[(t["backend"], "fp32", t["batch_size"])]
        assert t["round_seconds"] == pytest.approx(entry["stats"]["data"], abs=1e-9)
        assert "round_seconds" not in entry["extra_info"]  # pytest-benchmark's JSON has them once, as its data


def test_xdist_run_passes_and_builds_each_engine_once(unseen, tmp_path, run_suite):
    pytest.importorskip("openvino")
    cache, junit = tmp_path / "cache", tmp_path / "junit.xml"
    done = run_suite("-n", "2", "-m", "parity or accuracy or perf", "--wd-saved-model", str(unseen["model"]),
                     "--wd-eval-csv", str(unseen["eval_csv"]), "--wd-profile", str(unseen["profile"]),
                     "--wd-backend", "onnxruntime,openvino", "--wd-precision", "fp32",
                     "--wd-batch-sizes", "512,1024", "--junitxml", str(junit), cache=cache)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    # The gates' JUnit properties travel from the workers with their tests' reports.
    properties = junit_gates(junit)
    assert properties["gate: parity openvino-fp32/b512 vs tensorflow: smallest atol that passes"][1].startswith(
        "PASS: measured ")
    assert properties["gate: accuracy openvino-fp32: Top-1 >= profile floor"][0] == "test_engine_accuracy[openvino-fp32]"
    assert "perf tests are skipped under pytest-xdist" in done.stdout
    builds = [json.loads(line) for line in (cache / "builds.log").read_text().splitlines()]
    assert sorted(b["runner"] for b in builds) == ["onnxruntime", "openvino"]


def test_saved_reference_checks_an_engine_without_the_tf_original(unseen, tmp_path, run_suite):
    """Machine A saves the references; machine B has only the converted ONNX and the reference file."""
    cache, reference = tmp_path / "cache", tmp_path / "reference.npz"
    common = ["--wd-eval-csv", str(unseen["eval_csv"]), "--wd-profile", str(unseen["profile"]),
              "--wd-backend", "onnxruntime", "--wd-batch-sizes", "1024"]
    saved = run_suite("-m", "parity", "--wd-saved-model", str(unseen["model"]), "--wd-precision", "fp32",
                      "--wd-save-reference", str(reference), *common, cache=cache)
    assert saved.returncode == 0, saved.stdout[-3000:] + saved.stderr[-2000:]
    (converted,) = (cache / "onnx").glob("*/widedeep.onnx")
    report = tmp_path / "report.json"
    checked = run_suite("-m", "parity", "--wd-onnx", str(converted), "--wd-reference", str(reference),
                        "--wd-precision", "fp16", "--wd-report", str(report), *common, cache=tmp_path / "cache-b")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    parity = json.loads(report.read_text())["parity"]
    assert set(parity) == {"onnxruntime-fp16/b1024 vs tensorflow", "onnxruntime-fp16/b1024 vs onnxruntime-fp32"}
    assert all(0 < p["max_abs"] <= 5e-3 for p in parity.values())
    for p in parity.values():  # the error distribution, every element in a log10 bin or counted as exactly 0
        histogram = p["histogram"]
        assert sum(histogram["counts"]) + histogram["zeros"] == p["elements"] == 2 * 1024
        assert len(histogram["edges"]) == len(histogram["counts"]) + 1 and histogram["edges"][-1] >= p["max_abs"]
    # Without the TF original, the relative perf gate cannot be judged: it is NOT RUN and fails the run.
    # --wd-allow-missing lists it as NOT RUN, but a run whose every engine gate went unjudged still fails.
    perf_args = ["-m", "perf", "--wd-onnx", str(converted), "--wd-eval-csv", str(unseen["eval_csv"]),
                 "--wd-backend", "onnxruntime", "--wd-precision", "fp32", "--wd-batch-sizes", "1024",
                 "--wd-perf-rounds", "3", "--wd-perf-warmup", "1", "--wd-perf-duration", "0.1", "-rs"]
    perf = run_suite(*perf_args, cache=tmp_path / "cache-b")
    assert perf.returncode == 1, perf.stdout[-3000:]
    assert "NOT RUN: the relative gate needs the TF original timed in the same rounds: no TF original in this run" \
        in perf.stdout
    junit = tmp_path / "junit.xml"
    allowed = run_suite(*perf_args, "--wd-allow-missing", "--wd-report", str(report), "--junitxml", str(junit),
                        cache=tmp_path / "cache-b")
    assert allowed.returncode == 1 and "no engine gate was evaluated" in allowed.stdout, allowed.stdout[-3000:]
    ((case, value),) = junit_gates(junit).values()  # the gate its test could not judge, and why
    assert case == "test_throughput[onnxruntime-fp32-b1024]"
    assert value.startswith("NOT RUN: the relative gate needs the TF original timed in the same rounds: "
                            "no TF original in this run")
    saved = json.loads(report.read_text())
    assert saved["passed"] is False and [g["status"] for g in saved["gates"] if g["name"].startswith("perf")] == \
        ["NOT RUN"]


def test_an_unlabelled_eval_set_still_checks_parity(unseen, tmp_path, run_suite):
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    unlabelled = write_criteo_csv(tmp_path / "test.csv", 2048, world_seed=UNSEEN_WORLD_SEED, row_seed=6, labelled=False)
    done = run_suite("-m", "parity or accuracy", "--wd-saved-model", str(unseen["model"]),
                     "--wd-eval-csv", str(unlabelled), "--wd-profile", str(unseen["profile"]),
                     "--wd-backend", "onnxruntime", "--wd-precision", "fp32,fp16", "--wd-batch-sizes", "1024")
    assert "parity onnxruntime-fp16/b1024 vs tensorflow" in done.stdout and "FAIL  parity" not in done.stdout
    # Accuracy cannot be scored without labels: those tests error with the reason, the parity ones (and FP16's
    # precision proof, which needs no labels either) pass.
    assert done.returncode == 1 and "no label column" in done.stdout
    assert "4 passed" in done.stdout.splitlines()[-1], done.stdout[-2000:]
    proof = [line for line in done.stdout.splitlines() if "precision onnxruntime-fp16: the runtime shows" in line]
    assert proof and proof[0].rstrip().endswith("PASS")


def test_allow_missing_runs_what_it_can_and_lists_the_rest_as_not_run(unseen, tmp_path, run_suite, run_report):
    report = tmp_path / "report.json"
    done = run_suite("-m", "accuracy", "--wd-saved-model", str(unseen["model"]),
                     "--wd-eval-csv", str(unseen["eval_csv"]), "--wd-profile", str(unseen["profile"]),
                     "--wd-backend", "onnxruntime,tensorrt", "--wd-precision", "fp32", "--wd-allow-missing",
                     "--wd-report", str(report))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "NOT RUN: tensorrt not importable" in done.stdout
    saved = json.loads(report.read_text())
    statuses = {g["name"]: g["status"] for g in saved["gates"]}
    assert statuses["accuracy onnxruntime-fp32: Top-1 >= profile floor"] == "PASS"
    assert statuses["accuracy tensorrt-fp32: Top-1 >= profile floor"] == "NOT RUN"
    assert saved["passed"] is False  # an exploratory run is never an acceptance
    shown = run_report(report)
    assert shown.returncode == 1 and "did not run" in shown.stderr
