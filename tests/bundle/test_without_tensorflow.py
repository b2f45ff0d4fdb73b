"""On a machine without TensorFlow, what needs it says so in one line that names the bundle workflow, at
configuration (pytest exit 4) or before a command does anything (exit 2); what does not need it runs."""

from __future__ import annotations

import pytest

from .conftest import one_error_line, run_cli

REMEDY = ("install widedeep-bench[reference], or run from a bundle made on a machine with TensorFlow: "
          "--wd-bundle DIR (widedeep-bench bundle)")
CLI_REMEDY = ("run `widedeep-bench test --bundle DIR` here")


def test_the_default_run_says_it_needs_tensorflow_and_names_the_bundle(run_device):
    line = one_error_line(run_device("-m", "parity or accuracy"))
    assert line == ("this run needs TensorFlow to build the synthetic default model and eval set, convert the "
                    "SavedModel and compute the TF reference, and tensorflow is not importable here (tensorflow is "
                    f"blocked: a simulated machine without TensorFlow): {REMEDY}")


def test_a_saved_model_without_its_reference_needs_tensorflow(made_bundle, run_device, tmp_path):
    (tmp_path / "model").mkdir()
    line = one_error_line(run_device("--wd-saved-model", tmp_path / "model", "--wd-eval-csv",
                                     made_bundle["path"] / "eval.csv"))
    assert line.startswith("this run needs TensorFlow to convert the SavedModel and compute the TF reference, ")
    assert line.endswith(REMEDY)


def test_an_onnx_and_reference_without_an_eval_set_need_tensorflow_for_the_synthetic_default(made_bundle,
                                                                                           run_device):
    bundle = made_bundle["path"]
    line = one_error_line(run_device("--wd-onnx", bundle / "widedeep.onnx", "--wd-reference",
                                     bundle / "reference.npz"))
    assert line.startswith("this run needs TensorFlow to build the synthetic default eval set, and tensorflow is not "
                           "importable here") and line.endswith(REMEDY)


@pytest.mark.parametrize("with_reference", [True, False], ids=["with-reference", "onnx-only"])
def test_an_onnx_with_its_eval_set_needs_no_tensorflow(made_bundle, run_device, with_reference):
    bundle = made_bundle["path"]
    reference = ("--wd-reference", bundle / "reference.npz") if with_reference else ()
    done = run_device("--wd-onnx", bundle / "widedeep.onnx", "--wd-eval-csv", bundle / "eval.csv", *reference,
                      "--collect-only", "-q")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "needs TensorFlow" not in done.stdout + done.stderr
    assert "tensorflow" in done.imports_tried  # collection probes it (the perf peer), and the block holds


@pytest.mark.parametrize("command", [
    ["bundle", "--out", "{tmp}/bundle"],
    ["convert", "--saved-model", "{tmp}", "--out", "{tmp}/converted"],
    ["prepare"],
], ids=["bundle", "convert", "prepare"])
def test_a_command_that_needs_tensorflow_says_so_in_one_line(command, tmp_path, no_tensorflow):
    done = run_cli(*(part.format(tmp=tmp_path) for part in command), cache=tmp_path / "cache", blocked=no_tensorflow)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith(f"widedeep-bench {command[0]}: error: ")
    assert "needs TensorFlow to" in lines[0] and "tensorflow is not importable here" in lines[0]
    assert "install widedeep-bench[reference]" in lines[0]
    assert ("`widedeep-bench bundle`" if command[0] == "bundle" else CLI_REMEDY) in lines[0]
    assert not (tmp_path / "bundle").exists() and not (tmp_path / "converted").exists()


def test_prepare_of_a_user_onnx_and_eval_set_needs_no_tensorflow(made_bundle, tmp_path, no_tensorflow):
    bundle = made_bundle["path"]
    done = run_cli("prepare", "--onnx", bundle / "widedeep.onnx", "--eval-csv", bundle / "eval.csv",
                   cache=tmp_path / "cache", blocked=no_tensorflow)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"metrics": null' in done.stdout.splitlines()[-1]
