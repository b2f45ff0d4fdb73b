"""Reference probabilities for parity and accuracy: computed once (cached), or saved and loaded.

A reference file (``--wd-save-reference`` / ``--wd-reference``) carries them to a machine without
TensorFlow: an ``.npz`` with one ``[N, 2]`` array per reference name plus the eval file's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from widedeep_bench.cache import atomic_file
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.engines.base import EngineOptions
from widedeep_bench.engines.registry import runner_class
from widedeep_bench.errors import WidedeepError
from widedeep_bench.metrics import ACCURACY_BATCH
from widedeep_bench.probabilities import cached_probabilities, run_batches, tensors_identity


def _array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes: what a reference file records for each array."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}|{list(array.shape)}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def save_reference(path: Path, references: dict[str, np.ndarray], *, eval_sha256: str) -> None:
    """Write the references, the eval file's SHA-256 and each array's SHA-256 (checked when loaded)."""
    digests = json.dumps({name: _array_digest(array) for name, array in references.items()}, sort_keys=True)
    with atomic_file(Path(path)) as tmp, tmp.open("wb") as handle:
        np.savez(handle, eval_sha256=np.array(eval_sha256), digests=np.array(digests), **references)


def load_reference(path: Path, *, eval_sha256: str, rows: int) -> dict[str, np.ndarray]:
    """The references saved in ``path`` on this run's first ``rows`` rows; refuses a file made from another
    eval set or from fewer rows, and one whose arrays are not the bytes that were saved (columns swapped, rows
    edited, arrays added). A file saved on more rows of the same eval set (a run without a held-out
    calibration slice) serves its first ``rows``."""
    path = Path(path)
    try:
        with np.load(path) as data:
            saved = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise WidedeepError(f"{path}: not a reference file written by --wd-save-reference ({exc})") from exc
    made_from = str(saved.pop("eval_sha256", ""))
    if made_from != eval_sha256:
        raise WidedeepError(f"{path}: made from an eval file with SHA-256 {made_from or '(none recorded)'}, "
                            f"but this run's eval file has {eval_sha256}")
    try:
        recorded = json.loads(str(saved.pop("digests")))
    except (KeyError, ValueError) as exc:
        raise WidedeepError(f"{path}: records no digests of its arrays (written by an older version, or not by "
                            f"--wd-save-reference); save it again") from exc
    if sorted(recorded) != sorted(saved):
        raise WidedeepError(f"{path}: holds arrays {sorted(saved)} but recorded {sorted(recorded)} when it was saved")
    for name, array in saved.items():
        if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < rows:
            raise WidedeepError(f"{path}: reference {name!r} has shape {list(array.shape)}, "
                                f"expected [N, 2] with N >= {rows}, this run's rows")
        if _array_digest(array) != recorded[name]:
            raise WidedeepError(f"{path}: reference {name!r} is not the array that was saved (SHA-256 differs); "
                                f"the file was changed after --wd-save-reference wrote it")
    # The same eval file (its SHA-256 checked above) scored up to a held-out calibration slice: the rows
    # are the saved rows' first ``rows``, in the same order.
    return {name: array[:rows] for name, array in saved.items()}


class ReferenceSet:
    """Reference probabilities on the suite's reference rows (whole batches of 1024), by name: loaded, or
    computed once and cached.

    ``"tensorflow"`` is the TF original (FP32); ``"onnxruntime-fp32"`` is the converted model on ONNX
    Runtime's CPU provider, the reference for a machine without TensorFlow.
    """

    NAMES = ("tensorflow", "onnxruntime-fp32")

    def __init__(self, assets, tensors: EvalTensors, onnx: Path, pool, *, source: str | None = None) -> None:
        """``source``: a reference file to load (``--wd-reference``, a bundle's), instead of computing."""
        self.assets, self.tensors, self.onnx, self.pool = assets, tensors, Path(onnx), pool
        self.source = source
        self.loaded = load_reference(Path(source), eval_sha256=tensors.sha256, rows=tensors.rows) if source else {}

    def unavailable(self, name: str) -> str | None:
        """Why reference ``name`` cannot be had in this run, or None."""
        if name in self.loaded:
            return None
        if self.source:
            return f"{self.source} holds no {name!r} reference (it has {sorted(self.loaded)})"
        if name == "tensorflow" and self.assets.saved_model is None:
            return "no TF original in this run (an ONNX was given without --wd-saved-model); use --wd-reference"
        return runner_class(name.split("-")[0]).unavailable_reason(EngineOptions(precision="fp32"))

    def get(self, name: str) -> np.ndarray:
        """``[rows, 2]`` float32 probabilities of reference ``name`` on the accuracy rows."""
        if name in self.loaded:
            return self.loaded[name]
        reason = self.unavailable(name)
        if reason is not None:
            raise WidedeepError(f"reference {name!r} is not available: {reason}")
        if name == "tensorflow":
            from widedeep_bench.tf_reference import tf_reference_probabilities

            probabilities = tf_reference_probabilities(self.assets.saved_model, self.tensors)
        else:
            from widedeep_bench.digests import file_sha256

            backend = name.split("-")[0]
            identity = {"reference": name, "model": file_sha256(self.onnx),
                        "runner_version": runner_class(backend).version(), **tensors_identity(self.tensors)}
            probabilities = cached_probabilities(
                identity, lambda: run_batches(self.pool.cpu_reference(), self.tensors, ACCURACY_BATCH))
        self.loaded[name] = probabilities
        return probabilities

    def save(self, path: Path) -> None:
        available = {name: self.get(name) for name in self.NAMES if self.unavailable(name) is None}
        if not available:
            raise WidedeepError(f"--wd-save-reference {path}: no reference can be computed here "
                                f"({'; '.join(f'{n}: {self.unavailable(n)}' for n in self.NAMES)})")
        save_reference(path, available, eval_sha256=self.tensors.sha256)
