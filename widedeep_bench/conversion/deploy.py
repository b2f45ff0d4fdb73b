"""Stage 3, deploy: dense layers as ``Gemm``, and optionally the ``zeros_like`` subgraph cut out.

The vendor's deploy script fused ``MatMul(x, W) -> Add(b)`` into a ``Gemm`` with ``transB=1`` while
leaving TF's ``[in, out]`` kernel as it was. Here the kernel is kept as ``[in, out]`` with
``transB=0``, which is what ``MatMul`` computed, so the fusion cannot change a single product.

``--cut-zeros-like`` (for IxRT) removes the ``Shape -> ConstantOfShape`` branch that feeds the
head's ``Concat`` and makes ``import/head/predictions/zeros_like:0`` a float32 ``[N, 1]`` graph
input. The branch is found by the graph's structure (the Softmax output, its Concat, the input of
that Concat computed from nothing but a Shape), never by generated names such as ``Shape__8``.
"""

from __future__ import annotations

import onnx
from onnx import helper

from widedeep_bench import layout
from widedeep_bench.conversion.graph import ranks, unique_node_name
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_graph import consumers, constant_value, is_zero_fill, producers
from widedeep_bench.onnx_roles import input_roles


def _bias_of(add: onnx.NodeProto, matmul_output: str, graph, width: int) -> str | None:
    """The constant bias input of ``add`` when it broadcasts as Gemm's C ([width] or [1, width])."""
    others = [name for name in add.input if name != matmul_output]
    if len(others) != 1:
        return None
    bias = constant_value(graph, others[0])
    if bias is None or bias.shape not in ((width,), (1, width)):
        return None
    return others[0]


def _gemm_name(graph, matmul: onnx.NodeProto) -> str:
    base = matmul.name or matmul.output[0]
    scope, _, _ = base.rpartition("/")
    return unique_node_name(graph, f"{scope}/Gemm" if scope else f"{base}_Gemm")


def fuse_dense_layers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every ``MatMul(x [N, K], W const [K, M])`` read only by ``Add(b const [M])`` -> ``Gemm(x, W, b)``.

    The Gemm takes the Add's output name, so every later node and every comparison by tensor name
    still finds it; it sits where the MatMul was (its inputs are all available there).
    """
    fused = onnx.ModelProto()
    fused.CopyFrom(model)
    graph = fused.graph
    rank_of, readers = ranks(fused), consumers(graph)
    graph_outputs = {value.name for value in graph.output}
    # Nodes are keyed by their first output: names are optional in ONNX, tensor names are unique.
    replaced: dict[str, onnx.NodeProto] = {}  # MatMul's output -> its Gemm
    dropped: set[str] = set()  # outputs of the Adds folded into a Gemm
    for node in graph.node:
        if node.op_type != "MatMul" or rank_of.get(node.input[0]) != 2:
            continue
        kernel = constant_value(graph, node.input[1])
        readers_of_product = readers.get(node.output[0], [])
        if kernel is None or kernel.ndim != 2 or len(readers_of_product) != 1 \
                or node.output[0] in graph_outputs or readers_of_product[0].op_type != "Add":
            continue
        add = readers_of_product[0]
        bias = _bias_of(add, node.output[0], graph, kernel.shape[1])
        if bias is None:
            continue
        replaced[node.output[0]] = helper.make_node(
            "Gemm", [node.input[0], node.input[1], bias], [add.output[0]], name=_gemm_name(graph, node),
            alpha=1.0, beta=1.0, transA=0, transB=0)
        dropped.add(add.output[0])
    nodes = [replaced.get(node.output[0], node) for node in graph.node if node.output[0] not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    return fused


def _zeros_branch(graph, tensor: str, initializers: set[str], inputs: set[str]) -> list[onnx.NodeProto] | None:
    """Nodes computing ``tensor`` from nothing but constants and a ``Shape`` (whose data is not read).

    None when ``tensor`` depends on a graph input's values or on no Shape at all.
    """
    made_by = producers(graph)
    branch: dict[str, onnx.NodeProto] = {}
    pending, saw_shape = [tensor], False
    while pending:
        name = pending.pop()
        if name in initializers or not name:
            continue
        if name in inputs or name not in made_by:
            return None
        node = made_by[name]
        if node.output[0] in branch:
            continue
        branch[node.output[0]] = node
        if node.op_type == "Shape":
            saw_shape = True
            continue  # Shape reads its input's dims only: the branch stops here
        pending.extend(node.input)
    return list(branch.values()) if saw_shape else None


def cut_zeros_like(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make the head's zeros a float32 ``[N, 1]`` graph input named ``layout.ZEROS_LIKE_KEY``.

    A model that already has a zeros_like input is returned unchanged (a copy).
    """
    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    graph = cut.graph
    roles = input_roles(cut)
    if roles.zeros_like is not None:
        return cut
    made_by, readers = producers(graph), consumers(graph)
    softmax = made_by.get(roles.output)
    concat = made_by.get(softmax.input[0]) if softmax is not None and softmax.op_type == "Softmax" else None
    if concat is None or concat.op_type != "Concat":
        raise WidedeepError(f"stage 'deploy' (--cut-zeros-like): the output {roles.output} is not "
                            f"Softmax(Concat(zeros_like, logit)); it is made by "
                            f"{softmax.op_type if softmax is not None else 'no node'}")
    initializers = {init.name for init in graph.initializer}
    inputs = {value.name for value in graph.input}
    branches = [(name, _zeros_branch(graph, name, initializers, inputs)) for name in concat.input]
    branches = [(name, nodes) for name, nodes in branches
                if nodes is not None and is_zero_fill(made_by[name])]
    if len(branches) != 1:
        raise WidedeepError(f"stage 'deploy' (--cut-zeros-like): expected exactly one input of "
                            f"{concat.name!r} ({list(concat.input)}) to be zeros made by "
                            f"Shape -> ConstantOfShape; found {len(branches)}")
    zeros, branch = branches[0]
    members = {node.output[0] for node in branch}
    for node in branch:
        for output in node.output:
            outside = [r.output[0] for r in readers.get(output, [])
                       if r.output[0] not in members and r.output[0] != concat.output[0]]
            if outside:
                raise WidedeepError(f"stage 'deploy' (--cut-zeros-like): {output} of the zeros_like "
                                    f"subgraph is also read by the nodes making {outside}; cutting it "
                                    f"would break them")
    for i, name in enumerate(concat.input):  # concat belongs to graph.node: edit it before the rebuild
        if name == zeros:
            concat.input[i] = layout.ZEROS_LIKE_KEY
    nodes = [node for node in graph.node if node.output[0] not in members]
    del graph.node[:]
    graph.node.extend(nodes)
    numeric = next(value for value in graph.input if value.name == roles.numeric).type.tensor_type
    zeros_input = helper.make_tensor_value_info(layout.ZEROS_LIKE_KEY, onnx.TensorProto.FLOAT, [None, 1])
    if numeric.HasField("shape") and numeric.shape.dim:  # one zero per sample: numeric's leading dim
        zeros_input.type.tensor_type.shape.dim[0].CopyFrom(numeric.shape.dim[0])
    graph.input.append(zeros_input)
    removed = {output for node in branch for output in node.output} | {layout.ZEROS_LIKE_KEY}
    kept = [value for value in graph.value_info if value.name not in removed]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return cut


class DeployedOnnx:
    """Stage 3: ``fuse_dense_layers``, then ``cut_zeros_like`` when asked."""

    name = "deploy"

    def __init__(self, cut_zeros_like: bool = False):
        self.cut_zeros_like = cut_zeros_like

    def __call__(self, model: onnx.ModelProto) -> onnx.ModelProto:
        model = fuse_dense_layers(model)
        return cut_zeros_like(model) if self.cut_zeros_like else model
