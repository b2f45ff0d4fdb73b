"""Stage 4, dynamic: symbolic batch dims that shape inference carries through every intermediate.

Inputs become ``categorical [cat_rows, 2]`` (``cat_rows`` = 26 x batch), ``numeric [batch, 13]``,
``zeros_like [batch, 1]``; the output ``[batch, 2]``. Stale ``value_info`` is dropped and shape
inference rerun, so the declared shapes are written into the model itself and survive
``onnx.save`` / ``onnx.load`` (the vendor's change2dynamic edited a model and then reloaded the
original file, so only its renaming survived).

ONNX shape inference cannot know that ``Reshape([cat_rows, c] -> [-1, 26*c])`` has ``batch`` rows
(it invents a fresh symbol); that one fact follows from ``cat_rows = 26 * batch`` and is declared,
after which inference derives every other intermediate. The stage then requires every
intermediate's shape to be resolved: known rank, static trailing dims, and a leading dim that is
static, ``batch`` or ``cat_rows``.

``--ixrt-names`` strips ``:`` from input names (``new_categorical_placeholder0``) because the
vendor's command-line tools split ``--shapes name:dims`` on ``:``.
"""

from __future__ import annotations

import math

import onnx
from onnx import shape_inference

from widedeep_bench import layout
from widedeep_bench.conversion.graph import set_dims
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_graph import constant_value
from widedeep_bench.onnx_roles import describe_value, input_roles

BATCH = "batch"
CATEGORICAL_ROWS = "cat_rows"  # = 26 * batch: the categorical input has one row per (sample, field)


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except shape_inference.InferenceError as exc:
        raise WidedeepError(f"stage 'dynamic': shape inference fails with the symbolic batch dims: {exc}") from exc


def _dims(value: onnx.ValueInfoProto) -> tuple | None:
    return describe_value(value).shape


def _declare_batch_reshapes(model: onnx.ModelProto) -> None:
    """Keep, of the inferred ``value_info``, only ``[batch, 26*c]`` for each Reshape of a
    ``[cat_rows, c...]`` tensor to ``[-1, 26*c]``: inference, rerun, derives the rest from these."""
    graph = model.graph
    known = {value.name: value for value in graph.value_info}
    declared = []
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[0] not in known:
            continue
        data_dims, target = _dims(known[node.input[0]]), constant_value(graph, node.input[1])
        if not data_dims or data_dims[0] != CATEGORICAL_ROWS or target is None or target.shape != (2,):
            continue
        per_row = data_dims[1:]
        if not all(isinstance(d, int) for d in per_row):
            continue
        width = layout.NUM_FIELDS * math.prod(per_row)
        if int(target[0]) == -1 and int(target[1]) == width:
            reshaped = onnx.ValueInfoProto()
            reshaped.CopyFrom(known[node.output[0]])
            set_dims(reshaped, [BATCH, width])
            declared.append(reshaped)
    del graph.value_info[:]
    graph.value_info.extend(declared)


def _require_resolved(model: onnx.ModelProto) -> None:
    declared = {value.name: _dims(value) for value in [*model.graph.value_info, *model.graph.output]}
    for node in model.graph.node:
        for output in filter(None, node.output):
            dims = declared.get(output)
            resolved = dims is not None and all(isinstance(d, int) for d in dims[1:]) and (
                not dims or isinstance(dims[0], int) or dims[0] in (BATCH, CATEGORICAL_ROWS))
            if not resolved:
                raise WidedeepError(
                    f"stage 'dynamic': shape inference leaves {output} (output of {node.op_type} "
                    f"{node.name!r}) as {'unknown' if dims is None else dims}; expected static dims "
                    f"after a leading dim that is static, {BATCH!r} or {CATEGORICAL_ROWS!r}")


def declare_dynamic_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with symbolic batch dims on every input, output and intermediate."""
    dynamic = onnx.ModelProto()
    dynamic.CopyFrom(model)
    roles = input_roles(dynamic)
    wanted = {roles.categorical: [CATEGORICAL_ROWS, 2], roles.numeric: [BATCH, layout.NUM_NUMERIC],
              roles.zeros_like: [BATCH, 1], roles.output: [BATCH, 2]}
    for value in [*dynamic.graph.input, *dynamic.graph.output]:
        if value.name in wanted:
            set_dims(value, wanted[value.name])
    del dynamic.graph.value_info[:]
    dynamic = _infer(dynamic)
    _declare_batch_reshapes(dynamic)
    dynamic = _infer(dynamic)
    _require_resolved(dynamic)
    return dynamic


def strip_colons_from_input_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose graph inputs have no ``:`` (``a:0`` -> ``a0``), references updated."""
    renamed = onnx.ModelProto()
    renamed.CopyFrom(model)
    graph = renamed.graph
    mapping = {value.name: value.name.replace(":", "") for value in graph.input if ":" in value.name}
    taken = {name for node in graph.node for name in node.output} | {v.name for v in graph.input}
    clashes = sorted(new for old, new in mapping.items() if new in taken)
    if clashes:
        raise WidedeepError(f"stage 'dynamic' (--ixrt-names): stripping ':' would give names already "
                            f"used in the graph: {clashes}")
    for value in graph.input:
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = mapping.get(name, name)
    return renamed


class DynamicOnnx:
    """Stage 4: ``declare_dynamic_shapes``, after ``strip_colons_from_input_names`` when asked."""

    name = "dynamic"

    def __init__(self, ixrt_names: bool = False):
        self.ixrt_names = ixrt_names

    def __call__(self, model: onnx.ModelProto) -> onnx.ModelProto:
        if self.ixrt_names:
            model = strip_colons_from_input_names(model)
        return declare_dynamic_shapes(model)
