"""Small lookups over an ONNX graph that the rewriting stages share."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """Tensor name -> the node that computes it."""
    return {output: node for node in graph.node for output in node.output if output}


def consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name -> the nodes that read it (a node reading it twice is listed twice)."""
    readers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            if name:
                readers[name].append(node)
    return readers


def constant_value(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    """The value of ``name`` when it is an initializer or a ``Constant`` node's tensor, else None."""
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
    return None


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


def is_zero_fill(node: onnx.NodeProto) -> bool:
    """A ``ConstantOfShape`` that fills with 0 (its ``value`` attribute zero, or absent: the default)."""
    if node.op_type != "ConstantOfShape":
        return False
    values = [onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "value"]
    return not values or not onnx.numpy_helper.to_array(values[0]).any()
