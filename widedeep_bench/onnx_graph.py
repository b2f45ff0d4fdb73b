"""Reading an ONNX file, and the lookups over its graph that more than one floor needs.

The conversion stages, the input roles (``onnx_roles``) and the weight reader (``model.onnx_weights``)
all read models through here, so none of them imports another for it. Errors name the file and say
what is wrong with it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from widedeep_bench.errors import WidedeepError


def read_onnx(path: Path) -> onnx.ModelProto:
    """Load ``path`` (weights inline or beside it); a missing, truncated or empty file is an error."""
    path = Path(path)
    if not path.is_file():
        raise WidedeepError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path))
    except DecodeError as exc:
        raise WidedeepError(f"{path}: not a readable ONNX model, the file is truncated or corrupt "
                            f"({path.stat().st_size} bytes; protobuf says: {exc})") from exc
    if not model.graph.node or not model.graph.output:
        raise WidedeepError(f"{path}: not an ONNX model with a graph ({len(model.graph.node)} nodes, "
                            f"{len(model.graph.output)} outputs); is the file truncated?")
    return model


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


def is_zero_fill(node: onnx.NodeProto) -> bool:
    """A ``ConstantOfShape`` that fills with 0 (its ``value`` attribute zero, or absent: the default)."""
    if node.op_type != "ConstantOfShape":
        return False
    values = [onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "value"]
    return not values or not onnx.numpy_helper.to_array(values[0]).any()
