"""Runner names -> runner classes; optional runtimes are imported only when asked about."""

from __future__ import annotations

import importlib
from pathlib import Path

from widedeep_bench.engines.base import CompiledRunner, EngineOptions, Runner
from widedeep_bench.engines.store import EngineStore
from widedeep_bench.errors import WidedeepError

RUNNERS = {  # name -> (module, class); each module imports its runtime lazily
    "tensorflow": ("widedeep_bench.engines.tensorflow", "TensorflowRunner"),
    "onnxruntime": ("widedeep_bench.engines.onnxruntime", "OnnxruntimeRunner"),
    "openvino": ("widedeep_bench.engines.openvino", "OpenvinoRunner"),
    "tensorrt": ("widedeep_bench.engines.tensorrt", "TensorrtRunner"),
    "ixrt": ("widedeep_bench.engines.tensorrt", "IxrtRunner"),
    "torch": ("widedeep_bench.engines.torch", "TorchRunner"),
    "null": ("widedeep_bench.engines.null", "NullRunner"),
}


def runner_class(name: str) -> type[Runner]:
    if name not in RUNNERS:
        raise WidedeepError(f"unknown runner {name!r}; known runners: {sorted(RUNNERS)}")
    module, cls = RUNNERS[name]
    return getattr(importlib.import_module(module), cls)


def available_runners(options: EngineOptions | None = None) -> dict[str, str | None]:
    """``{name: None}`` for each runner that can run ``options`` here, ``{name: reason}`` for the others."""
    options = options or EngineOptions()
    return {name: runner_class(name).unavailable_reason(options) for name in RUNNERS}


def make_runner(name: str, model: Path | None, options: EngineOptions | None = None,
                store: EngineStore | None = None) -> Runner:
    """The runner ``name`` for ``model`` (an ONNX file; a SavedModel directory for tensorflow).

    Raises ``WidedeepError`` saying why if the runner cannot run here, with what can.
    """
    options = options or EngineOptions()
    cls = runner_class(name)
    reason = cls.unavailable_reason(options)
    if reason is not None:
        others = available_runners(options)
        usable = sorted(n for n, why in others.items() if why is None)
        unusable = "; ".join(f"{n}: {why}" for n, why in sorted(others.items()) if why is not None)
        raise WidedeepError(f"runner {name!r} is not available for {options.precision}: {reason}. "
                            f"Available: {usable}; not available: {unusable}")
    if issubclass(cls, CompiledRunner):
        return cls(model, options, store)
    return cls(model, options)
