"""Find the first node at which a stage's model stops computing what the previous stage's did.

Both models run with every intermediate tensor exposed as an output (ONNX Runtime, graph
optimizations off so nothing is fused away); tensors are matched by name, and the current model's
nodes are walked in topological order (the order ONNX requires of ``graph.node``). A tensor
diverges when its shape differs or when ``|current - previous| > atol + rtol * |previous|``
somewhere (the ``numpy.allclose`` rule), with a relative term because intermediates such as logits
are not bounded like probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from widedeep_bench.conversion.validate import ort_session
from widedeep_bench.onnx_roles import input_roles

INTERMEDIATE_ATOL = 1e-5
INTERMEDIATE_RTOL = 1e-4


@dataclass(frozen=True)
class Divergence:
    node: str
    op_type: str
    tensor: str
    detail: str  # "differs by up to 2.31" or "has shape [7, 1024], previously [7, 845]"

    def __str__(self) -> str:
        return f"first diverging node: {self.node!r} ({self.op_type}), whose output {self.tensor} {self.detail}"


def all_tensors(model: onnx.ModelProto, rows) -> dict[str, np.ndarray]:
    """Every node output of ``model`` on ``rows`` (``categorical``, ``numeric``), by tensor name."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    declared = {value.name for value in exposed.graph.output}
    for node in exposed.graph.node:
        for name in node.output:
            if name and name not in declared:
                exposed.graph.output.append(onnx.ValueInfoProto(name=name))
                declared.add(name)
    session = ort_session(exposed, optimize=False)
    names = [value.name for value in session.get_outputs()]
    values = session.run(names, input_roles(model).feeds(rows.categorical, rows.numeric))
    return dict(zip(names, values))


def first_divergence(previous: onnx.ModelProto, current: onnx.ModelProto, rows) -> Divergence | None:
    """The first node of ``current`` whose output, also computed by ``previous``, differs from it."""
    before, after = all_tensors(previous, rows), all_tensors(current, rows)
    for node in current.graph.node:
        for name in node.output:
            if name not in before or name not in after:
                continue
            old, new = before[name], after[name]
            if old.shape != new.shape:
                return Divergence(node.name, node.op_type, name,
                                  f"has shape {list(new.shape)}, previously {list(old.shape)}")
            if old.dtype.kind == "f":
                old, new = old.astype(np.float64), new.astype(np.float64)
                if not np.allclose(new, old, rtol=INTERMEDIATE_RTOL, atol=INTERMEDIATE_ATOL):
                    return Divergence(node.name, node.op_type, name,
                                      f"differs from the previous stage's by up to {np.abs(new - old).max():.6g}")
            elif not np.array_equal(old, new):
                return Divergence(node.name, node.op_type, name, "differs from the previous stage's")
    return None
