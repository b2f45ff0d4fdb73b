"""The SavedModel's ``serving_default`` signature, checked before anything is converted.

Reads ``saved_model.pb`` (or ``.pbtxt``) as a protobuf, so a directory that is not a SavedModel, a
SavedModel without ``serving_default`` or one whose signature lacks the categorical / numeric /
probabilities roles fails here with a message listing what the file does contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles, TensorDescription, roles_from_descriptions


@dataclass(frozen=True)
class ServingSignature:
    """Signature keys and the graph tensor names behind them, by role."""

    keys: Roles  # signature keys: what the TF signature function is called with
    tensors: Roles  # graph tensor names: what tf2onnx is given, and what the ONNX inputs are named


def _read_saved_model_proto(directory: Path):
    from google.protobuf import text_format
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    if not directory.is_dir():
        raise WidedeepError(f"{directory}: not a directory (expected a SavedModel directory)")
    binary, text = directory / "saved_model.pb", directory / "saved_model.pbtxt"
    proto = saved_model_pb2.SavedModel()
    if binary.is_file():
        try:
            proto.ParseFromString(binary.read_bytes())
        except DecodeError as exc:
            raise WidedeepError(f"{binary}: not a readable SavedModel protobuf (truncated?): {exc}") from exc
    elif text.is_file():
        try:
            text_format.Parse(text.read_text(), proto)
        except text_format.ParseError as exc:
            raise WidedeepError(f"{text}: not a readable SavedModel text protobuf: {exc}") from exc
    else:
        raise WidedeepError(f"{directory}: not a SavedModel (no saved_model.pb or saved_model.pbtxt in it)")
    if not proto.meta_graphs:
        raise WidedeepError(f"{directory}: the SavedModel holds no MetaGraph")
    return proto


def _describe(key: str, info, use_key: bool) -> TensorDescription:
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(info.dtype).name if info.dtype else "undefined"
    shape = None if info.tensor_shape.unknown_rank else tuple(
        None if d.size < 0 else d.size for d in info.tensor_shape.dim)
    return TensorDescription(key if use_key else info.name, dtype, shape)


def serving_signature(saved_model: Path) -> ServingSignature:
    """Check ``saved_model`` has tag ``serve`` and a ``serving_default`` signature with the three roles."""
    saved_model = Path(saved_model)
    proto = _read_saved_model_proto(saved_model)
    serving = [g for g in proto.meta_graphs if layout.TAG in g.meta_info_def.tags]
    if not serving:
        tags = [list(g.meta_info_def.tags) for g in proto.meta_graphs]
        raise WidedeepError(f"{saved_model}: no MetaGraph tagged {layout.TAG!r}; tags found: {tags}")
    signatures = serving[0].signature_def
    if layout.SIGNATURE not in signatures:
        raise WidedeepError(f"{saved_model}: no {layout.SIGNATURE!r} signature; signatures found: "
                            f"{sorted(signatures) or 'none'}")
    signature = signatures[layout.SIGNATURE]
    where = f"{saved_model} signature {layout.SIGNATURE!r}"

    def roles(use_key: bool) -> Roles:
        return roles_from_descriptions(
            [_describe(k, v, use_key) for k, v in sorted(signature.inputs.items())],
            [_describe(k, v, use_key) for k, v in sorted(signature.outputs.items())], where=where)

    return ServingSignature(keys=roles(use_key=True), tensors=roles(use_key=False))
