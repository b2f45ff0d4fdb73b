"""Stage 1, export: the SavedModel's ``serving_default`` signature to ONNX with tf2onnx's Python API.

The Python API (unlike the tf2onnx CLI, which writes ``new_categorical_placeholder_0``) keeps the
graph's tensor names, so the ONNX inputs are named exactly like the signature's tensors.
A model given by the user as an ONNX file enters the pipeline here instead (``OnnxFromPath``).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

import onnx

from widedeep_bench import layout
from widedeep_bench.conversion.opset import resolve_opset
from widedeep_bench.conversion.signature import serving_signature
from widedeep_bench.onnx_graph import read_onnx
from widedeep_bench.progress import say


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """tf2onnx logs every optimizer pass at INFO and TF warns about its own TF1 APIs; keep errors only."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class OnnxFromSavedModel:
    """Export ``saved_model`` (checked first: tag ``serve``, ``serving_default``, the three roles)."""

    name = "export"

    def __init__(self, saved_model: Path, opset: int | None = None):
        self.saved_model = Path(saved_model)
        self.opset = resolve_opset(opset)

    def __call__(self) -> onnx.ModelProto:
        from tf2onnx import convert, tf_loader

        signature = serving_signature(self.saved_model)
        say(f"exporting {self.saved_model} to ONNX opset {self.opset} with tf2onnx")
        with _quiet_loggers("tf2onnx", "tensorflow"):
            graph_def, inputs, outputs = tf_loader.from_saved_model(
                str(self.saved_model), None, None, tag=layout.TAG, signatures=[layout.SIGNATURE])
            model, _ = convert.from_graph_def(graph_def, name=self.saved_model.name, input_names=inputs,
                                              output_names=outputs, opset=self.opset)
        wanted = {signature.tensors.categorical, signature.tensors.numeric}
        got = {value.name for value in model.graph.input}
        assert got == wanted, f"tf2onnx named the inputs {sorted(got)}, not the signature's {sorted(wanted)}"
        return model


class OnnxFromPath:
    """An already-converted ONNX given by the user (e.g. the vendor's 3-input file), validated like an export."""

    name = "given"

    def __init__(self, path: Path):
        self.path = Path(path)

    def __call__(self) -> onnx.ModelProto:
        return read_onnx(self.path)
