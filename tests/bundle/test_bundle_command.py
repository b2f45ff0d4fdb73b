"""``widedeep-bench bundle`` on the reference machine: one directory holding every file a device needs, a
manifest that vouches for each of them, and a write that never replaces what it should not."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

from widedeep_bench import __version__
from widedeep_bench.bundle import BUNDLE_FILES, BUNDLE_VERSION, MANIFEST, load_bundle

from .conftest import REPO, one_error_line, run_cli, user_environment


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_bundle_holds_every_file_and_a_manifest_whose_digests_match(made_bundle, bundle_inputs):
    bundle = made_bundle["path"]
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert sorted(path.name for path in bundle.iterdir()) == sorted([*BUNDLE_FILES, MANIFEST])
    assert sorted(manifest["files"]) == sorted(BUNDLE_FILES)
    for name, recorded in manifest["files"].items():
        assert recorded == {"bytes": (bundle / name).stat().st_size, "sha256": sha256(bundle / name)}, name
    assert manifest["bundle_version"] == BUNDLE_VERSION and manifest["widedeep_bench"] == __version__
    assert manifest["packages"]["onnxruntime"] and manifest["packages"]["tf2onnx"] and manifest["machine"]["cpu"]
    assert manifest["command"][1:3] == ["bundle", "--saved-model"] and manifest["created"].endswith("+00:00")
    made_from = manifest["made_from"]
    assert made_from["eval_csv"]["sha256"] == sha256(bundle_inputs["eval_csv"])
    assert made_from["eval_csv"]["rows"] == 2148 and made_from["reference_rows"] == 2048
    assert len(made_from["saved_model"]["tree_sha256"]) == 64 and made_from["provenance"] == "user"
    # The last stdout line names the bundle and its files.
    printed = json.loads(made_bundle["done"].stdout.strip().splitlines()[-1])
    assert printed["bundle"] == str(bundle) and printed["files"] == manifest["files"]


def test_the_bundle_files_are_the_eval_bytes_both_models_and_both_references(made_bundle, bundle_inputs):
    from widedeep_bench.suite.reference import load_reference

    bundle = made_bundle["path"]
    assert (bundle / "eval.csv").read_bytes() == bundle_inputs["eval_csv"].read_bytes()
    plain, ixrt = (onnx.load(str(bundle / name)) for name in ("widedeep.onnx", "widedeep-ixrt.onnx"))
    assert len(plain.graph.input) == 2 and len(ixrt.graph.input) == 3
    assert not any(":" in tensor.name for tensor in ixrt.graph.input)
    references = load_reference(bundle / "reference.npz", eval_sha256=sha256(bundle / "eval.csv"), rows=2048)
    assert sorted(references) == ["onnxruntime-fp32", "tensorflow"]
    np.testing.assert_allclose(references["onnxruntime-fp32"], references["tensorflow"], atol=1e-5)


def test_the_bundle_carries_the_eval_rows_preprocessed_and_narrow(made_bundle):
    from widedeep_bench.data.criteo_csv import read_eval_csv

    bundle = load_bundle(made_bundle["path"])
    carried, read = bundle.tensors(), read_eval_csv(made_bundle["path"] / "eval.csv")
    for name in ("categorical", "numeric", "labels", "numeric_range"):
        np.testing.assert_array_equal(getattr(carried, name), getattr(read, name), err_msg=name)
        assert getattr(carried, name).dtype == getattr(read, name).dtype, name
    assert carried.sha256 == read.sha256 and carried.source == str(made_bundle["path"] / "eval-tensors.npz")
    with np.load(made_bundle["path"] / "eval-tensors.npz") as data:
        arrays = {name: data[name] for name in data.files}
    assert {name: ("str" if a.dtype.kind == "U" else a.dtype.name, a.shape) for name, a in arrays.items()} == {
        "format": ("str", ()), "buckets": ("uint16", (2148, 26)), "numeric": ("float32", (2148, 13)),
        "labels": ("int8", (2148,)), "numeric_range": ("float64", (2, 13)), "eval_sha256": ("str", ())}
    assert str(arrays["eval_sha256"]) == sha256(made_bundle["path"] / "eval.csv")


def test_out_onto_a_directory_that_is_not_a_bundle_is_refused_and_left_as_it_was(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    done = run_cli("bundle", "--out", out, cache=tmp_path / "cache")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip() == (f"widedeep-bench bundle: error: --out {out}: exists, is not empty and holds no "
                                   f"bundle manifest.json; refusing to replace it (choose another --out)")
    assert [path.name for path in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"


def test_out_onto_a_file_is_refused(tmp_path):
    out = tmp_path / "bundle"
    out.write_text("not a directory")
    done = run_cli("bundle", "--out", out, cache=tmp_path / "cache")
    assert done.returncode == 2 and "exists and is not a directory" in done.stderr
    assert out.read_text() == "not a directory"


def test_an_earlier_bundle_is_replaced_only_with_force(bundle_copy, bundle_inputs, reference_cache):
    inputs = ("--saved-model", bundle_inputs["saved_model"], "--eval-csv", bundle_inputs["eval_csv"])
    before = (bundle_copy / MANIFEST).read_text()
    done = run_cli("bundle", *inputs, "--out", bundle_copy, cache=reference_cache)
    assert done.returncode == 2 and "holds a bundle already; add --force to replace it" in done.stderr
    assert (bundle_copy / MANIFEST).read_text() == before

    done = run_cli("bundle", *inputs, "--out", bundle_copy, "--force", cache=reference_cache)
    assert done.returncode == 0, done.stderr[-2000:]
    after = json.loads((bundle_copy / MANIFEST).read_text())
    assert after["files"] == json.loads(before)["files"]  # the same inputs make the same bytes
    assert "--force" in after["command"]


@pytest.mark.slow  # converts twice in a cache of its own (about 20 s), so that the write can be caught
def test_a_killed_bundle_write_leaves_nothing_a_later_run_trusts(tmp_path, bundle_inputs, reference_cache,
                                                                run_device):
    out = tmp_path / "bundle"
    command = [sys.executable, "-m", "widedeep_bench", "bundle", "--saved-model", str(bundle_inputs["saved_model"]),
               "--eval-csv", str(bundle_inputs["eval_csv"]), "--out", str(out)]
    # A cache of its own: the conversions are made again, so the write is seconds long and can be caught.
    writer = subprocess.Popen(command, cwd=REPO, env=user_environment(tmp_path / "fresh_cache"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = None
    deadline = time.monotonic() + 300
    while staging is None and writer.poll() is None and time.monotonic() < deadline:
        staging = next((path for path in tmp_path.glob(".bundle.*.tmp") if (path / "eval.csv").exists()), None)
        time.sleep(0.02)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert staging is not None and staging.is_dir(), "the write finished before it could be killed"

    assert not out.exists()
    assert one_error_line(run_device("--wd-bundle", out)).endswith("no such directory; expected a bundle "
                                                                  "directory written by `widedeep-bench bundle`")
    assert "no manifest.json" in one_error_line(run_device("--wd-bundle", staging))

    # The next write to the same --out removes what the killed one left, and completes.
    done = run_cli("bundle", "--saved-model", bundle_inputs["saved_model"], "--eval-csv", bundle_inputs["eval_csv"],
                   "--out", out, cache=reference_cache)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not staging.exists() and (out / MANIFEST).is_file()
