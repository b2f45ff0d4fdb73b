"""A bundle is checked against its manifest before anything runs from it: each problem is one line naming
the file and what differs (pytest's usage error, exit 4), on a machine without TensorFlow as on any."""

from __future__ import annotations

import json

import pytest

from .conftest import one_error_line


def edit_manifest(bundle, change) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def flip_one_byte(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_changed_byte_in_the_onnx_is_named_with_both_digests(bundle_copy, run_device):
    recorded = json.loads((bundle_copy / "manifest.json").read_text())["files"]["widedeep.onnx"]["sha256"]
    flip_one_byte(bundle_copy / "widedeep.onnx", 5000)  # a weight's byte: same size, another model
    line = one_error_line(run_device("--wd-bundle", bundle_copy))
    assert line.startswith(f"--wd-bundle='{bundle_copy}': widedeep.onnx has SHA-256 ")
    assert line.endswith(f", manifest.json records {recorded} (changed after the bundle was written)")


def test_a_changed_eval_row_is_named(bundle_copy, run_device):
    flip_one_byte(bundle_copy / "eval.csv", 100)
    assert "eval.csv has SHA-256" in one_error_line(run_device("--wd-bundle", bundle_copy))


def test_a_truncated_reference_is_named_with_both_sizes(bundle_copy, run_device):
    path = bundle_copy / "reference.npz"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-10])
    line = one_error_line(run_device("--wd-bundle", bundle_copy))
    assert f"reference.npz has {size - 10} bytes, manifest.json records {size}" in line


def test_a_missing_file_is_named(bundle_copy, run_device):
    (bundle_copy / "widedeep-ixrt.onnx").unlink()
    assert "widedeep-ixrt.onnx is missing; manifest.json lists it" in one_error_line(
        run_device("--wd-bundle", bundle_copy))


@pytest.mark.parametrize("extra", ["notes.txt", "subdir"])
def test_an_extra_file_is_named(bundle_copy, run_device, extra):
    if extra == "subdir":
        (bundle_copy / extra).mkdir()
    else:
        (bundle_copy / extra).write_text("x")
    line = one_error_line(run_device("--wd-bundle", bundle_copy))
    assert line.endswith(f"{extra} is not listed in manifest.json; a bundle holds only the files its manifest lists")


@pytest.mark.parametrize("damage, expected", [
    (lambda text: text[:len(text) // 2], "manifest.json is not readable JSON"),
    (lambda text: "[1, 2, 3]", "manifest.json has no bundle_version: not a bundle manifest"),
    (lambda text: "", "manifest.json is not readable JSON"),
], ids=["truncated", "garbled", "empty"])
def test_a_damaged_manifest_is_named(bundle_copy, run_device, damage, expected):
    path = bundle_copy / "manifest.json"
    path.write_text(damage(path.read_text()))
    assert expected in one_error_line(run_device("--wd-bundle", bundle_copy))


def test_a_missing_manifest_says_it_is_no_bundle(bundle_copy, run_device):
    (bundle_copy / "manifest.json").unlink()
    assert "no manifest.json: not a bundle" in one_error_line(run_device("--wd-bundle", bundle_copy))


def test_an_unknown_bundle_version_is_named(bundle_copy, run_device):
    edit_manifest(bundle_copy, lambda manifest: manifest.update(bundle_version=3, widedeep_bench="9.0"))
    line = one_error_line(run_device("--wd-bundle", bundle_copy))
    assert "manifest.json has bundle_version 3; widedeep-bench" in line and "reads bundle_version 1 and 2 only" in line
    assert "written by widedeep-bench 9.0" in line


@pytest.mark.parametrize("table", ["made_from", "machine", "files"])
def test_a_manifest_table_of_the_wrong_type_is_one_line(bundle_copy, run_device, table):
    edit_manifest(bundle_copy, lambda manifest: manifest.update({table: "oops"}))
    assert f"manifest.json: {table} is not a table: 'oops'" in one_error_line(run_device("--wd-bundle", bundle_copy))


def test_a_manifest_listing_a_path_outside_the_bundle_is_refused(bundle_copy, run_device):
    edit_manifest(bundle_copy, lambda manifest: manifest["files"].update({"../x": {"bytes": 1, "sha256": "0"}}))
    assert "manifest.json lists '../x', which is not a bundle file" in one_error_line(
        run_device("--wd-bundle", bundle_copy))


def test_a_bundle_that_is_a_file_or_absent_is_one_line(tmp_path, run_device):
    a_file = tmp_path / "bundle.tar"
    a_file.write_text("x")
    assert one_error_line(run_device("--wd-bundle", a_file)) == (
        f"--wd-bundle='{a_file}': is not a directory; expected a bundle directory written by `widedeep-bench bundle`")
    absent = tmp_path / "absent"
    assert one_error_line(run_device(f"--wd-bundle={absent}")) == (
        f"--wd-bundle='{absent}': no such directory; expected a bundle directory written by `widedeep-bench bundle`")


def test_the_variable_is_named_when_it_gave_the_bundle(bundle_copy, run_device):
    flip_one_byte(bundle_copy / "widedeep.onnx", 5000)
    line = one_error_line(run_device(env={"WIDEDEEP_BUNDLE": str(bundle_copy)}))
    assert line.startswith(f"WIDEDEEP_BUNDLE='{bundle_copy}': widedeep.onnx has SHA-256")


@pytest.mark.parametrize("other, env", [
    (("--wd-onnx", "model.onnx"), {}),
    (("--wd-eval-csv", "eval.csv"), {}),
    (("--wd-reference", "ref.npz"), {}),
    (("--wd-saved-model", "model"), {}),
    ((), {"WIDEDEEP_EVAL_CSV": "eval.csv"}),
])
def test_a_bundle_with_another_source_of_the_same_files_is_refused(made_bundle, run_device, other, env):
    line = one_error_line(run_device("--wd-bundle", made_bundle["path"], *other, env=env))
    named = f"{other[0]}={other[1]!r}" if other else "WIDEDEEP_EVAL_CSV='eval.csv'"
    assert line == (f"--wd-bundle={str(made_bundle['path'])!r} and {named} cannot be given together: a bundle "
                    f"brings its own ONNX, reference probabilities and eval set (one source of truth); give one "
                    f"or the other")


def test_a_bundle_with_rows_is_refused(made_bundle, run_device):
    line = one_error_line(run_device("--wd-bundle", made_bundle["path"], "--wd-rows", "4096"))
    assert "--wd-rows='4096' cannot be given together: it shapes the synthetic default" in line


def test_an_empty_bundle_variable_is_an_error_not_the_default_run(run_device):
    # An unfilled shell variable must not turn a device's acceptance run into the exploratory default.
    assert one_error_line(run_device(env={"WIDEDEEP_BUNDLE": ""})) == (
        "WIDEDEEP_BUNDLE is set but empty: give it a value, or unset it for the exploratory default run")
    assert one_error_line(run_device("--wd-bundle=")) == \
        "--wd-bundle='': expected a bundle directory (written by `widedeep-bench bundle`)"
