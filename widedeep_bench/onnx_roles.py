"""Which input of a Wide & Deep model is which, whatever its exact names.

A converted model names its inputs after the TF tensors (``new_categorical_placeholder:0``), the
tf2onnx CLI writes ``new_categorical_placeholder_0``, the vendor's IxRT file
``new_categorical_placeholder0``. Roles are therefore decided by dtype and shape first:

=============  =======  ==============  ============================================
role           dtype    shape           meaning
=============  =======  ==============  ============================================
categorical    int64    ``[26*N, 2]``   row ``26*r + j`` is ``(j, bucket)``
numeric        float32  ``[N, 13]``     min-max normalised
zeros_like     float32  ``[N, 1]``      only after ``--cut-zeros-like``; fed zeros
output         float32  ``[N, 2]``      ``softmax([0, logit])``
=============  =======  ==============  ============================================

An input whose rank or last dimension is unknown is matched by its name stem instead (the name
without a trailing ``:0``, ``_0`` or ``0``), its dtype still checked. Every input must get exactly
one role, and every role but ``zeros_like`` exactly one input, else the error lists what was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError

Dim = Union[int, str, None]  # concrete size, symbolic name, or unknown


@dataclass(frozen=True)
class TensorDescription:
    """What a model declares about one of its inputs or outputs; ``shape`` is None for unknown rank."""

    name: str
    dtype: str  # numpy name: "int64", "float32", ...
    shape: tuple[Dim, ...] | None

    def __str__(self) -> str:
        dims = "unknown rank" if self.shape is None else "[" + ", ".join(
            "?" if d is None else str(d) for d in self.shape) + "]"
        return f"{self.name}: {self.dtype} {dims}"


@dataclass(frozen=True)
class _Rule:
    role: str
    dtype: str
    last_dim: int
    stem: str


def _stem(name: str) -> str:
    return re.sub(r"(:0|_0|0)$", "", name)


_INPUT_RULES = (
    _Rule("categorical", "int64", 2, _stem(layout.CATEGORICAL_KEY)),
    _Rule("numeric", "float32", layout.NUM_NUMERIC, _stem(layout.NUMERIC_KEY)),
    _Rule("zeros_like", "float32", 1, _stem(layout.ZEROS_LIKE_KEY)),
)
_OUTPUT_RULE = _Rule("output", "float32", 2, _stem(layout.OUTPUT_KEY))


def _matches(rule: _Rule, tensor: TensorDescription) -> bool:
    if tensor.dtype != rule.dtype:
        return False
    shape_known = tensor.shape is not None and len(tensor.shape) > 0 and isinstance(tensor.shape[-1], int)
    if shape_known:
        return len(tensor.shape) == 2 and tensor.shape[-1] == rule.last_dim
    return _stem(tensor.name) == rule.stem


@dataclass(frozen=True)
class Roles:
    """Names of the model's inputs and output by role; ``zeros_like`` is None for a 2-input model."""

    categorical: str
    numeric: str
    zeros_like: str | None
    output: str

    def feeds(self, categorical: np.ndarray, numeric: np.ndarray) -> dict[str, np.ndarray]:
        """The feed dict for ``categorical [26*N, 2] int64`` and ``numeric [N, 13] float32``.

        A ``zeros_like`` input gets ``zeros [N, 1] float32``, which is what the cut subgraph computed.
        """
        feeds = {self.categorical: categorical, self.numeric: numeric}
        if self.zeros_like is not None:
            feeds[self.zeros_like] = np.zeros((numeric.shape[0], 1), np.float32)
        return feeds


def roles_from_descriptions(inputs: Sequence[TensorDescription], outputs: Sequence[TensorDescription],
                            *, where: str) -> Roles:
    """Assign roles to declared inputs and outputs; ``where`` names the model in error messages."""
    found = "; ".join(str(t) for t in inputs) or "none"
    chosen: dict[str, str] = {}
    for rule in _INPUT_RULES:
        candidates = [t.name for t in inputs if _matches(rule, t)]
        if len(candidates) > 1:
            raise WidedeepError(f"{where}: inputs {candidates} all look like the {rule.role} input "
                                f"({rule.dtype} [?, {rule.last_dim}]); inputs found: {found}")
        if not candidates and rule.role != "zeros_like":
            raise WidedeepError(f"{where}: no input has the {rule.role} role ({rule.dtype} "
                                f"[?, {rule.last_dim}], or named {rule.stem}:0); inputs found: {found}")
        if candidates:
            chosen[rule.role] = candidates[0]
    unassigned = [str(t) for t in inputs if t.name not in chosen.values()]
    if unassigned:
        raise WidedeepError(f"{where}: inputs {unassigned} have no role (expected only categorical, "
                            f"numeric and optionally zeros_like); inputs found: {found}")
    matching = [t.name for t in outputs if _matches(_OUTPUT_RULE, t)]
    if len(matching) > 1:
        matching = [name for name in matching if _stem(name) == _OUTPUT_RULE.stem] or matching
    if len(matching) != 1:
        listed = "; ".join(str(t) for t in outputs) or "none"
        raise WidedeepError(f"{where}: expected exactly one float32 [?, 2] probabilities output, "
                            f"found {len(matching)}; outputs: {listed}")
    return Roles(categorical=chosen["categorical"], numeric=chosen["numeric"],
                 zeros_like=chosen.get("zeros_like"), output=matching[0])


def describe_value(value) -> TensorDescription:
    """``TensorDescription`` of an ``onnx.ValueInfoProto``."""
    import onnx

    tensor_type = value.type.tensor_type
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name \
        if tensor_type.elem_type else "undefined"
    if not tensor_type.HasField("shape"):
        return TensorDescription(value.name, dtype, None)
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in tensor_type.shape.dim)
    return TensorDescription(value.name, dtype, dims)


def input_roles(model_or_path) -> Roles:
    """Roles of an ONNX model (a ``ModelProto`` or a path to one); initializers are not inputs."""
    if isinstance(model_or_path, (str, Path)):
        from widedeep_bench.onnx_graph import read_onnx  # imports onnx: not at import time

        model, where = read_onnx(Path(model_or_path)), str(model_or_path)
    else:
        model, where = model_or_path, f"ONNX model {model_or_path.graph.name!r}"
    initializers = {init.name for init in model.graph.initializer}
    inputs = [describe_value(v) for v in model.graph.input if v.name not in initializers]
    outputs = [describe_value(v) for v in model.graph.output]
    return roles_from_descriptions(inputs, outputs, where=where)
