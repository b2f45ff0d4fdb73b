"""The two-machine workflow as users meet it: a bundle written by the CLI on this (reference) machine, and
the suite run from it on a simulated device without TensorFlow, each in a subprocess with its own cache
and none of the caller's ``WIDEDEEP_*`` settings.

"Without TensorFlow" is a directory first on ``PYTHONPATH`` whose ``tensorflow``, ``tf2onnx`` and
``onnxsim`` packages raise ``ImportError`` when imported, and append their name to the file named by
``BLOCKED_IMPORT_LOG``: a run that must not touch them can prove it never even tried.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("tensorflow", "tf2onnx", "onnxsim")
EVAL_ROWS = 2 * 1024 + 100  # two accuracy batches and a partial one the run drops
BLOCKER = """import os
if os.environ.get("BLOCKED_IMPORT_LOG"):
    with open(os.environ["BLOCKED_IMPORT_LOG"], "a") as log:
        log.write("{name}\\n")
raise ImportError("{name} is blocked: a simulated machine without TensorFlow")
"""


# The device (../shared/SPEC.md section 11) has neither TensorFlow nor pyfarmhash. A sitecustomize first on
# PYTHONPATH makes them absent as an uninstalled package is: importing one (or a submodule) raises
# ModuleNotFoundError, and is logged to BLOCKED_IMPORT_LOG; a probe (importlib.util.find_spec, as torch._dynamo
# makes for optional packages) answers None, unlogged.
DEVICE_BLOCKED = ("tensorflow", "farmhash", "tf2onnx", "onnxsim")
DEVICE_SITECUSTOMIZE = f"""import importlib.abc
import importlib.util
import os
import sys

BLOCKED = {DEVICE_BLOCKED!r}


def blocked(name):
    return name.split(".")[0] in BLOCKED


class DeviceImports(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if not blocked(name):
            return None
        if os.environ.get("BLOCKED_IMPORT_LOG"):
            with open(os.environ["BLOCKED_IMPORT_LOG"], "a") as log:
                log.write(name + "\\n")
        raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: a simulated device without TensorFlow "
                                  f"and pyfarmhash)", name=name)


_find_spec = importlib.util.find_spec


def find_spec(name, package=None):
    absolute = importlib.util.resolve_name(name, package) if name.startswith(".") else name
    return None if blocked(absolute) else _find_spec(name, package)


importlib.util.find_spec = find_spec
sys.meta_path.insert(0, DeviceImports())
"""


@pytest.fixture(scope="session")
def no_tensorflow_no_farmhash(tmp_path_factory) -> Path:
    """A directory that, first on ``PYTHONPATH``, makes tensorflow, farmhash, tf2onnx and onnxsim absent, as on the
    device (its ``sitecustomize``: ``DEVICE_SITECUSTOMIZE``)."""
    directory = tmp_path_factory.mktemp("device_imports")
    (directory / "sitecustomize.py").write_text(DEVICE_SITECUSTOMIZE)
    return directory


@pytest.fixture(scope="session")
def no_tensorflow(tmp_path_factory) -> Path:
    """A directory that, first on ``PYTHONPATH``, makes tensorflow, tf2onnx and onnxsim unimportable."""
    directory = tmp_path_factory.mktemp("no_tensorflow")
    for name in BLOCKED:
        (directory / name).mkdir()
        (directory / name / "__init__.py").write_text(BLOCKER.format(name=name))
    return directory


def user_environment(cache: Path, *, blocked: Path | None = None, env: dict | None = None) -> dict:
    """The environment of a user's shell: this one without ``WIDEDEEP_*``, a private cache, quiet; with
    ``blocked`` first on ``PYTHONPATH`` (a machine without TensorFlow); ``env`` on top."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("WIDEDEEP_")}
    environment.update({"WIDEDEEP_CACHE": str(cache), "WIDEDEEP_QUIET": "1"})
    if blocked is not None:
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocked), os.environ.get("PYTHONPATH")]))
    environment.update(env or {})
    return environment


def run_cli(*args, cache: Path, blocked: Path | None = None, env: dict | None = None, cwd: Path = REPO):
    """``python -m widedeep_bench ARGS`` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "widedeep_bench", *map(str, args)], cwd=cwd,
                          env=user_environment(cache, blocked=blocked, env=env), capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="session")
def bundle_inputs(tmp_path_factory, tiny_weights, tiny_saved_model) -> dict:
    """``tiny_saved_model`` and an eval.csv of ``EVAL_ROWS`` synthetic rows labelled by that model itself
    (label = its p1 > 0.5), so that its Top-1 and AUC pass the cpu-default profile's gates."""
    from widedeep_bench.data.criteo_csv import read_eval_csv
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    root = tmp_path_factory.mktemp("bundle_inputs")
    unlabelled = write_criteo_csv(root / "rows.csv", EVAL_ROWS, world_seed=11, row_seed=3)
    tensors = read_eval_csv(unlabelled)
    labels = tiny_weights.probabilities(tensors.categorical, tensors.numeric)[:, 1] > 0.5
    lines = unlabelled.read_text().splitlines()
    eval_csv = root / "eval.csv"
    eval_csv.write_text("".join(f"{int(label)},{line.split(',', 1)[1]}\n" for label, line in zip(labels, lines)))
    return {"saved_model": tiny_saved_model, "eval_csv": eval_csv}


@pytest.fixture(scope="session")
def reference_cache(tmp_path_factory) -> Path:
    """The reference machine's cache: its conversions and references, reused by later bundle writes."""
    return tmp_path_factory.mktemp("reference_cache")


@pytest.fixture(scope="session")
def made_bundle(tmp_path_factory, bundle_inputs, reference_cache) -> dict:
    """The bundle written by ``widedeep-bench bundle`` on the reference machine: its path and the command's
    result."""
    out = tmp_path_factory.mktemp("made") / "bundle"
    done = run_cli("bundle", "--saved-model", bundle_inputs["saved_model"], "--eval-csv", bundle_inputs["eval_csv"],
                   "--out", out, cache=reference_cache)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return {"path": out, "done": done}


@pytest.fixture
def bundle_copy(made_bundle, tmp_path) -> Path:
    """A copy of the bundle this test may damage."""
    return Path(shutil.copytree(made_bundle["path"], tmp_path / "bundle"))


@pytest.fixture
def run_device(tmp_path, no_tensorflow):
    """``run_device(*pytest_args, env=None)`` -> CompletedProcess: the conformance suite on a machine without
    TensorFlow (fresh cache, nothing from the reference machine). ``.imports_tried`` lists the blocked
    modules something tried to import."""
    def run(*args, env=None):
        log = tmp_path / "blocked_imports.log"
        log.unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-m", "pytest", "widedeep_bench/conformance", "-p", "no:cacheprovider",
                               *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=600,
                              env=user_environment(tmp_path / "device_cache", blocked=no_tensorflow,
                                                   env={"BLOCKED_IMPORT_LOG": str(log), **(env or {})}))
        done.imports_tried = log.read_text().split() if log.exists() else []
        return done
    return run


def one_error_line(done) -> str:
    """The one line a run refused at configuration printed (pytest's usage error, exit 4); no traceback."""
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), output[-3000:]
    return lines[0].removeprefix("ERROR: ")
