"""The Wide & Deep weights read from an ONNX graph by its structure, never by generated node names.

Any model of this architecture is read: the conversion's final model, the IxRT variant, or a raw tf2onnx
export with MatMul + Add. The walk: the two ``GatherND`` over constant tables reading the categorical
input, the dense chain from the ``Concat`` with the numeric input, the wide bias, the head. Anything that
is not this architecture raises ``WidedeepError`` naming the node and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import helper

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError
from widedeep_bench.model.weights import LAYER_DIMS, WideDeepWeights
from widedeep_bench.onnx_graph import constant_value, consumers, is_zero_fill, producers, read_onnx
from widedeep_bench.onnx_roles import Roles, input_roles

TOWER_WIDTHS = tuple(zip(LAYER_DIMS[:-1], LAYER_DIMS[1:]))  # (in, out) of the 4 dense layers


class _Graph:
    """Lookups over one ONNX graph, with errors that name the model."""

    def __init__(self, model, where: str):
        self.graph, self.where = model.graph, where
        self.readers, self.made_by = consumers(model.graph), producers(model.graph)

    def fail(self, what: str) -> WidedeepError:
        return WidedeepError(f"{self.where}: not the Wide & Deep architecture: {what}")

    def constant(self, name: str, what: str) -> np.ndarray:
        value = constant_value(self.graph, name)
        if value is None:
            raise self.fail(f"{what} ({name!r}) is not a constant (initializer or Constant node)")
        return value

    def only_reader(self, tensor: str, op_types: tuple[str, ...], what: str, *, shape_readers_allowed: bool = False):
        """The one node reading ``tensor``, which must be one of ``op_types``.

        ``shape_readers_allowed``: also accept ``Shape`` nodes reading it (they read its dims, not its values).
        """
        readers = [node for node in self.readers.get(tensor, [])
                   if not (shape_readers_allowed and node.op_type == "Shape")]
        if len(readers) != 1 or readers[0].op_type not in op_types:
            found = [f"{n.op_type} {n.name!r}" for n in readers] or "nothing"
            raise self.fail(f"{what}: expected {tensor!r} to be read by one {'/'.join(op_types)}, found {found}")
        return readers[0]

    @staticmethod
    def attribute(node, name: str, default):
        return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)

    def axis_is_last_of_2d(self, node, what: str, default: int | None = None) -> None:
        axis = self.attribute(node, "axis", default)
        if axis not in (1, -1):
            raise self.fail(f"{what} {node.op_type} {node.name!r}: axis {axis}, expected 1 (the last of [N, k])")


def _tables(g: _Graph, categorical: str) -> dict[int, tuple[np.ndarray, str]]:
    """``{last dim: (table, GatherND output)}`` for the GatherND nodes reading the categorical input."""
    tables = {}
    for node in g.readers.get(categorical, []):
        if node.op_type != "GatherND" or list(node.input[1:]) != [categorical] or g.attribute(node, "batch_dims", 0):
            raise g.fail(f"the categorical input {categorical!r} is read by {node.op_type} {node.name!r}; "
                         f"expected only GatherND(table, {categorical!r}) with batch_dims 0")
        table = g.constant(node.input[0], f"GatherND {node.name!r} table")
        if table.ndim != 3 or table.shape[:2] != (layout.NUM_FIELDS, layout.BUCKETS):
            raise g.fail(f"GatherND {node.name!r} table has shape {list(table.shape)}, expected "
                         f"[{layout.NUM_FIELDS}, {layout.BUCKETS}, 1] or [.., {layout.EMBEDDING_DIM}]")
        tables[table.shape[2]] = (table, node.output[0])
    if sorted(tables) != [1, layout.EMBEDDING_DIM] or len(g.readers.get(categorical, [])) != 2:
        raise g.fail(f"expected 2 GatherND over a [26, 1000, 1] wide table and a [26, 1000, "
                     f"{layout.EMBEDDING_DIM}] embedding table; found tables with last dims {sorted(tables)}")
    return tables


def _reshape_to(g: _Graph, tensor: str, width: int, what: str) -> str:
    """Follow ``tensor`` through its one ``Reshape`` to ``[-1, width]``; return the Reshape's output."""
    reshape = g.only_reader(tensor, ("Reshape",), what)
    shape = g.constant(reshape.input[1], f"{what} Reshape {reshape.name!r} shape")
    if shape.shape != (2,) or int(shape[1]) != width:
        raise g.fail(f"{what} Reshape {reshape.name!r} to {shape.tolist()}, expected [-1, {width}]")
    return reshape.output[0]


def _dense_layer(g: _Graph, x: str, index: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``(kernel [in, out], bias [out], output)`` of the dense layer reading ``x``: Gemm, or MatMul + Add."""
    fan_in, fan_out = TOWER_WIDTHS[index]
    what = f"dense layer {index} ([{fan_in}, {fan_out}])"
    node = g.only_reader(x, ("Gemm", "MatMul"), what)
    if node.op_type == "Gemm":
        if g.attribute(node, "transA", 0):
            raise g.fail(f"{what} Gemm {node.name!r} has transA=1; expected the activations [N, {fan_in}] as is")
        kernel = g.constant(node.input[1], f"{what} Gemm {node.name!r} B")
        if g.attribute(node, "transB", 0):
            kernel = kernel.T  # B is [out, in]; Y = A @ B.T
        bias = g.constant(node.input[2], f"{what} Gemm {node.name!r} C") if len(node.input) > 2 and node.input[2] \
            else np.zeros(fan_out, np.float32)
        kernel, bias = kernel * g.attribute(node, "alpha", 1.0), bias * g.attribute(node, "beta", 1.0)
        output = node.output[0]
    else:
        kernel = g.constant(node.input[1], f"{what} MatMul {node.name!r} weight")
        add = g.only_reader(node.output[0], ("Add",), f"{what} bias")
        bias = g.constant(next(name for name in add.input if name != node.output[0]), f"{what} Add {add.name!r} bias")
        output = add.output[0]
    if kernel.shape != (fan_in, fan_out):
        trans_b = f" (transB={g.attribute(node, 'transB', 0)})" if node.op_type == "Gemm" else ""
        raise g.fail(f"{what} {node.op_type} {node.name!r}: kernel{trans_b} multiplies as {list(kernel.shape)}, "
                     f"expected [{fan_in}, {fan_out}] (a Gemm with transB=1 must hold the kernel as [out, in])")
    if bias.size != fan_out:
        raise g.fail(f"{what} {node.op_type} {node.name!r}: bias has shape {list(bias.shape)}, expected [{fan_out}]")
    return kernel.astype(np.float32), bias.reshape(fan_out).astype(np.float32), output


def _tower(g: _Graph, deep_input: str) -> tuple[list, list, str]:
    """Kernels, biases and the logit tensor of the 4 dense layers (ReLU after the first 3) from ``deep_input``."""
    kernels, biases, x = [], [], deep_input
    for index in range(len(TOWER_WIDTHS)):
        kernel, bias, x = _dense_layer(g, x, index)
        kernels.append(kernel)
        biases.append(bias)
        if index < len(TOWER_WIDTHS) - 1:
            x = g.only_reader(x, ("Relu",), f"dense layer {index} activation").output[0]
    return kernels, biases, x


def _wide_logit(g: _Graph, gathered: str) -> tuple[np.ndarray, str]:
    """(wide bias [1], wide output): gathered weights -> Reshape [-1, 26] -> ReduceSum(1) -> Add(bias)."""
    summed = g.only_reader(_reshape_to(g, gathered, layout.NUM_FIELDS, "wide part"), ("ReduceSum",), "wide sum")
    axes = g.constant(summed.input[1], f"ReduceSum {summed.name!r} axes") if len(summed.input) > 1 \
        else np.asarray(g.attribute(summed, "axes", []))
    if axes.tolist() not in ([1], [-1]) or g.attribute(summed, "keepdims", 1) != 1:
        raise g.fail(f"wide sum ReduceSum {summed.name!r}: axes {axes.tolist()}, keepdims "
                     f"{g.attribute(summed, 'keepdims', 1)}; expected axes [1] with keepdims 1")
    add = g.only_reader(summed.output[0], ("Add",), "wide bias")
    bias = g.constant(next(name for name in add.input if name != summed.output[0]), f"wide bias Add {add.name!r}")
    if bias.size != 1:
        raise g.fail(f"wide bias Add {add.name!r}: bias has shape {list(bias.shape)}, expected [1]")
    return bias.reshape(1).astype(np.float32), add.output[0]


def _is_zeros(g: _Graph, tensor: str, roles: Roles) -> bool:
    """True for the zeros_like graph input or a ``ConstantOfShape`` filled with 0 (its default)."""
    if tensor == roles.zeros_like:
        return True
    node = g.made_by.get(tensor)
    return node is not None and is_zero_fill(node)


def _check_head(g: _Graph, logit: str, roles: Roles) -> None:
    """logit -> Concat([zeros, logit], axis 1) -> Softmax(axis 1) -> the probabilities output."""
    concat = g.only_reader(logit, ("Concat",), "head", shape_readers_allowed=True)  # Shape -> zeros_like
    g.axis_is_last_of_2d(concat, "head")
    if len(concat.input) != 2 or concat.input[1] != logit or not _is_zeros(g, concat.input[0], roles):
        raise g.fail(f"head Concat {concat.name!r} has inputs {list(concat.input)}; expected [zeros, logit "
                     f"{logit!r}] with the zeros from ConstantOfShape(0) or the zeros_like input")
    softmax = g.only_reader(concat.output[0], ("Softmax",), "head")
    g.axis_is_last_of_2d(softmax, "head", default=1)  # 1 before opset 13, -1 since: both the last of [N, 2]
    if softmax.output[0] != roles.output:
        raise g.fail(f"head Softmax {softmax.name!r} writes {softmax.output[0]!r}, not the output {roles.output!r}")


def weights_from_onnx(path: Path) -> tuple[Roles, WideDeepWeights]:
    """The model's input/output roles and its weights, read from the ONNX file ``path`` by graph structure.

    Raises ``WidedeepError`` naming the file, the node and what was expected when the graph is not
    this architecture (other tables, a missing layer, a Gemm whose ``transB`` does not fit its kernel).
    """
    model = read_onnx(Path(path))
    roles = input_roles(Path(path))
    g = _Graph(model, str(path))
    tables = _tables(g, roles.categorical)
    (wide, wide_gathered), (embeddings, deep_gathered) = tables[1], tables[layout.EMBEDDING_DIM]
    concat = g.only_reader(_reshape_to(g, deep_gathered, layout.NUM_FIELDS * layout.EMBEDDING_DIM, "deep part"),
                           ("Concat",), "deep input")
    g.axis_is_last_of_2d(concat, "deep input")
    if list(concat.input[1:]) != [roles.numeric]:
        raise g.fail(f"deep input Concat {concat.name!r} has inputs {list(concat.input)}; expected "
                     f"[embeddings, {roles.numeric!r}] (embeddings first, then the numeric input)")
    kernels, biases, deep_logit = _tower(g, concat.output[0])
    wide_bias, wide_logit = _wide_logit(g, wide_gathered)
    add = g.only_reader(deep_logit, ("Add",), "logit")
    if sorted(add.input) != sorted([deep_logit, wide_logit]):
        raise g.fail(f"logit Add {add.name!r} adds {list(add.input)}; expected the deep logit {deep_logit!r} "
                     f"and the wide part {wide_logit!r}")
    _check_head(g, add.output[0], roles)
    return roles, WideDeepWeights(wide=wide, wide_bias=wide_bias, embeddings=embeddings, kernels=kernels,
                                  biases=biases)
