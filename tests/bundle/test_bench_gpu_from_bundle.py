"""``bench gpu --bundle DIR`` as the device runs it: without TensorFlow and pyfarmhash, the rows read from the
bundle's ``eval-tensors.npz`` and each case checked against the bundle's saved TF probabilities; the GPU tests
(tests/gpu) collect and skip with their reason there; a bad carried input is one line naming the file and the
field (exit 2)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from widedeep_bench.__main__ import main
from widedeep_bench.bundle import load_bundle
from widedeep_bench.data.eval_tensors_file import load_eval_tensors_file
from widedeep_bench.errors import WidedeepError

from .conftest import REPO, run_cli, user_environment

QUICK = ("--cpu", "--precisions", "fp32", "--levers", "none", "--rounds", "2", "--warmup", "1", "--duration", "0",
         "--warmup-s", "0")


def test_bench_gpu_from_a_bundle_needs_neither_tensorflow_nor_pyfarmhash(made_bundle, no_tensorflow_no_farmhash,
                                                                        tmp_path):
    log = tmp_path / "blocked_imports.log"
    json_path = tmp_path / "out" / "gpu.json"
    # 2100: more rows than the saved reference's 2048 (whole batches of 1024): checked on those it covers.
    done = run_cli("bench", "gpu", "--bundle", made_bundle["path"], "--batches", "1024", "2100", *QUICK,
                   "--json", json_path, cache=tmp_path / "device_cache", blocked=no_tensorflow_no_farmhash,
                   env={"BLOCKED_IMPORT_LOG": str(log)}, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not log.exists(), log.read_text()  # nothing even tried to import them
    assert not (tmp_path / "device_cache" / "tensors").exists()  # no eval.csv was preprocessed here
    report = json.loads(json_path.read_text())
    assert report["complete"] is True and report["onnx"] == str(made_bundle["path"] / "widedeep.onnx")
    assert report["rows"].startswith(f"{made_bundle['path'] / 'eval-tensors.npz'} (2148 rows")
    b1024, b2100 = report["cases"]
    assert b1024["agreement"]["tensorflow"]["passed"] is True and b1024["agreement"]["tensorflow"]["rows"] == 1024
    assert b2100["agreement"]["tensorflow"] | {"max_abs": None} == {
        "source": f"{made_bundle['path'] / 'reference.npz'} (tensorflow, rows 0..2048)", "rows": 2048,
        "max_abs": None, "atol": 1e-5, "rtol": 0.0, "passed": True,
        "note": "the saved reference covers rows 0..2048, fewer than the batch's 2100; those 2048 rows were checked"}
    assert {c["agreement"]["onnxruntime-fp32"]["passed"] for c in report["cases"]} == {True}
    table = json_path.with_suffix(".txt").read_text()
    assert "agreement with the TF original: every case (the saved reference covers rows 0..2048" in table


def test_the_profile_is_a_run_of_its_own_that_splits_the_time_and_times_no_figure(made_bundle,
                                                                                  no_tensorflow_no_farmhash, tmp_path):
    log = tmp_path / "blocked_imports.log"
    figures = tmp_path / "out" / "gpu_throughput.json"
    figures.parent.mkdir()
    figures.write_text('{"benchmark": "gpu_throughput", "cases": []}')
    done = run_cli("bench", "gpu", "--bundle", made_bundle["path"], "--batches", "128", *QUICK, "--torch-profile",
                   cache=tmp_path / "device_cache", blocked=no_tensorflow_no_farmhash,
                   env={"BLOCKED_IMPORT_LOG": str(log)}, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not log.exists(), log.read_text()
    assert figures.read_text() == '{"benchmark": "gpu_throughput", "cases": []}'  # the figures are left alone
    report = json.loads((tmp_path / "out" / "gpu_profile.json").read_text())
    assert report["benchmark"] == "gpu_profile" and report["complete"] is True and report["targets"] == []
    (case,) = report["cases"]
    assert "compute" not in case and "end_to_end" not in case  # no figure
    assert case["agreement"]["tensorflow"]["passed"] is True
    split = case["split"]
    assert split["gemms_us"] > 0 and split["gathers_us"] > 0 and split["graph_gaps_us"] is None  # no graph on a CPU
    assert split["compute_median_us"] > 0 and split["end_to_end_median_us"] > 0
    assert split["profiled_calls"] == 5 and split["split_valid"] is True  # a handful of calls on the CPU
    assert split["profiler_environment"] == {}  # TEARDOWN_CUPTI is for CUDA
    assert "(5 on the CPU, --cpu" in report["method"]["split"]
    table = (tmp_path / "out" / "gpu_profile.txt").read_text()
    assert "where the time goes" in table and "not figures" in table and "compute samples/s" not in table
    assert "(CPU aten ops (self CPU time) over 5 calls a case;" in table


def test_the_gpu_tests_collect_without_tensorflow_or_pyfarmhash_and_skip_with_the_reason(
        made_bundle, no_tensorflow_no_farmhash, tmp_path):
    log = tmp_path / "blocked_imports.log"
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "tests/gpu", "-p", "no:cacheprovider", "-rs"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=user_environment(tmp_path / "cache", blocked=no_tensorflow_no_farmhash,
                                               env={"BLOCKED_IMPORT_LOG": str(log),
                                                    "WIDEDEEP_GPU_BUNDLE": str(made_bundle["path"])}))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert not log.exists(), log.read_text()
    cuda = "passed" in done.stdout and "skipped" not in done.stdout  # on a machine with a CUDA device: they run
    assert cuda or "SKIPPED" in done.stdout and "no CUDA device" in done.stdout, done.stdout[-3000:]


def rewrite_tensors(bundle, change) -> None:
    """Write the bundle's eval-tensors.npz again with ``change(arrays)`` applied, and its manifest entry to match:
    a file the manifest vouches for whose contents are wrong."""
    path = bundle / "eval-tensors.npz"
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    reseal(bundle)


def reseal(bundle) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    path = bundle / "eval-tensors.npz"
    manifest["files"]["eval-tensors.npz"] = {"bytes": path.stat().st_size,
                                             "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def garble(bundle) -> None:
    (bundle / "eval-tensors.npz").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    reseal(bundle)


def truncate(bundle) -> None:
    path = bundle / "eval-tensors.npz"
    path.write_bytes(path.read_bytes()[:-100])


def version_1(bundle) -> None:
    """A bundle as version 1 wrote it: no eval-tensors.npz."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["files"]["eval-tensors.npz"]
    manifest["bundle_version"] = 1
    (bundle / "eval-tensors.npz").unlink()
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _set(name, value):
    return lambda bundle: rewrite_tensors(bundle, lambda arrays: arrays.__setitem__(name, value(arrays)))


BAD_BUNDLES = {
    "garbled": (garble, "eval-tensors.npz: not a readable eval-tensors .npz (BadZipFile: "),
    "truncated": (truncate, "eval-tensors.npz has "),
    "buckets_int32": (_set("buckets", lambda a: a["buckets"].astype(np.int32)),
                      "eval-tensors.npz: field buckets is int32 [2148, 26], expected uint16 [N, 26]"),
    "bucket_1000": (_set("buckets", lambda a: np.where(np.arange(26) == 3, 1000, a["buckets"]).astype(np.uint16)),
                    "eval-tensors.npz: field buckets: row 0 field 3 holds 1000, outside 0..999"),
    "numeric_short": (_set("numeric", lambda a: a["numeric"][:-1]),
                      "eval-tensors.npz: field numeric is float32 [2147, 13], expected float32 [2148, 13]"),
    "numeric_range_nan": (_set("numeric_range", lambda a: np.where(np.eye(2, 13, 4) == 1, np.nan, a["numeric_range"])),
                          "eval-tensors.npz: field numeric_range: min of column 4 is nan, not a finite number"),
    "numeric_range_min_above_max": (_set("numeric_range", lambda a: a["numeric_range"][::-1].copy()),
                                    "eval-tensors.npz: field numeric_range: column 0 has min "),
    "another_eval_set": (_set("eval_sha256", lambda a: np.array("0" * 64)),
                         f"eval-tensors.npz: field eval_sha256 is {'0' * 64}, but the eval set has "),
    "version_1": (version_1, "has no eval-tensors.npz: it was written before bundle version 2 (bundle_version 1); "
                             "write it again with `widedeep-bench bundle`"),
}


def one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("widedeep-bench bench gpu: error: "), err
    return err[0].removeprefix("widedeep-bench bench gpu: error: ")


@pytest.mark.parametrize("damage", sorted(BAD_BUNDLES))
def test_a_bad_eval_tensors_file_is_one_line_naming_the_file_and_the_field(bundle_copy, tmp_path, capsys, damage):
    change, words = BAD_BUNDLES[damage]
    change(bundle_copy)
    assert main(["bench", "gpu", "--bundle", str(bundle_copy), *QUICK, "--json", str(tmp_path / "gpu.json")]) == 2
    line = one_line(capsys)
    assert words in line and str(bundle_copy) in line, line
    assert not (tmp_path / "gpu.json").exists()


def test_a_version_1_bundle_still_loads_for_what_does_not_need_the_tensors(bundle_copy):
    version_1(bundle_copy)
    bundle = load_bundle(bundle_copy)
    assert bundle.manifest["bundle_version"] == 1 and bundle.onnx.is_file() and bundle.eval_csv.is_file()


def test_rows_of_the_wrong_shape_are_one_line_naming_the_file_and_the_field(made_bundle, tmp_path, capsys):
    with np.load(made_bundle["path"] / "eval-tensors.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays["numeric"] = arrays["numeric"][:, :12]
    rows = tmp_path / "rows.npz"
    np.savez(rows, **arrays)
    assert main(["bench", "gpu", "--onnx", str(made_bundle["path"] / "widedeep.onnx"), "--rows", str(rows), *QUICK,
                 "--json", str(tmp_path / "gpu.json")]) == 2
    assert one_line(capsys) == (f"--rows {rows}: field numeric is float32 [2148, 12], expected float32 [2148, 13] "
                                f"(buckets has 2148 rows)")


def test_rows_and_a_reference_carried_without_a_bundle_are_read_as_the_bundle_s(made_bundle):
    from widedeep_bench.bench.inputs import saved_tf_probabilities

    rows = load_eval_tensors_file(made_bundle["path"] / "eval-tensors.npz")
    reference = saved_tf_probabilities(made_bundle["path"] / "reference.npz", rows.sha256)
    assert rows.rows == 2148 and reference.shape == (2048, 2)
    with pytest.raises(WidedeepError, match="made from an eval file with SHA-256 "):
        saved_tf_probabilities(made_bundle["path"] / "reference.npz", "0" * 64)
