"""Reading ONNX files with errors that name the file and say what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

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
