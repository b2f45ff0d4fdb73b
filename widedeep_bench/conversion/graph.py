"""Small helpers over an ONNX graph that only the rewriting stages use; the lookups the weight reader
shares with them (``producers``, ``consumers``, ``constant_value``, ``is_zero_fill``) are in ``onnx_graph``."""

from __future__ import annotations

from collections import defaultdict

import onnx


def ranks(model: onnx.ModelProto) -> dict[str, int]:
    """Tensor name -> rank, for every tensor whose rank shape inference (or the graph) knows."""
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        if value.type.tensor_type.HasField("shape"):
            known[value.name] = len(value.type.tensor_type.shape.dim)
    for init in model.graph.initializer:
        known[init.name] = len(init.dims)
    return known


def set_dims(value: onnx.ValueInfoProto, dims) -> None:
    """Replace the declared shape of ``value``: ints are static sizes, strings symbolic names."""
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for size in dims:
        dim = shape.dim.add()
        if isinstance(size, str):
            dim.dim_param = size
        else:
            dim.dim_value = size


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Op type -> number of nodes of that type."""
    counts: dict[str, int] = defaultdict(int)
    for node in model.graph.node:
        counts[node.op_type] += 1
    return dict(sorted(counts.items()))


def unique_node_name(graph: onnx.GraphProto, wanted: str) -> str:
    taken = {node.name for node in graph.node}
    name, suffix = wanted, 1
    while name in taken:
        suffix += 1
        name = f"{wanted}_{suffix}"
    return name
