"""Bad input gives a clear error and leaves no output behind."""

from __future__ import annotations

import shutil

import pytest

from widedeep_bench import WidedeepError, layout
from widedeep_bench.conversion import convert

pytestmark = pytest.mark.conversion


def _edited_saved_model(source, target, edit):
    """A copy of the SavedModel at ``source`` whose serving MetaGraph ``edit(meta_graph)`` changed."""
    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(source, target)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((target / "saved_model.pb").read_bytes())
    edit(proto.meta_graphs[0])
    (target / "saved_model.pb").write_bytes(proto.SerializeToString())
    return target


def _convert_expecting(saved_model, tmp_path, pattern, **options):
    out = tmp_path / "out"
    with pytest.raises(WidedeepError, match=pattern):
        convert(saved_model, out, **options)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging leftovers


def test_directory_that_is_not_a_saved_model(tmp_path):
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    (empty / "README").write_text("hello")
    _convert_expecting(empty, tmp_path, r"not_a_model: not a SavedModel \(no saved_model.pb or "
                                        r"saved_model.pbtxt in it\)")


def test_missing_saved_model_directory(tmp_path):
    _convert_expecting(tmp_path / "absent", tmp_path, r"absent: not a directory")


def test_truncated_saved_model_protobuf(tiny_saved_model, tmp_path):
    broken = tmp_path / "truncated"
    shutil.copytree(tiny_saved_model, broken)
    data = (broken / "saved_model.pb").read_bytes()
    (broken / "saved_model.pb").write_bytes(data[: len(data) // 3])
    _convert_expecting(broken, tmp_path, r"truncated/saved_model.pb: not a readable SavedModel protobuf")


def test_saved_model_without_serving_default(tiny_saved_model, tmp_path):
    def rename_signature(meta_graph):
        meta_graph.signature_def["predict"].CopyFrom(meta_graph.signature_def[layout.SIGNATURE])
        del meta_graph.signature_def[layout.SIGNATURE]

    edited = _edited_saved_model(tiny_saved_model, tmp_path / "no_default", rename_signature)
    _convert_expecting(edited, tmp_path, r"no 'serving_default' signature; signatures found: \['predict'\]")


def test_signature_without_the_numeric_role(tiny_saved_model, tmp_path):
    def drop_numeric(meta_graph):
        del meta_graph.signature_def[layout.SIGNATURE].inputs[layout.NUMERIC_KEY]

    edited = _edited_saved_model(tiny_saved_model, tmp_path / "no_numeric", drop_numeric)
    _convert_expecting(edited, tmp_path, r"signature 'serving_default': no input has the numeric role "
                                         r"\(float32 \[\?, 13\].*inputs found: new_categorical_placeholder:0: "
                                         r"int64 \[\?, 2\]$")


def test_signature_with_int32_categorical(tiny_saved_model, tmp_path):
    def int32_categorical(meta_graph):
        meta_graph.signature_def[layout.SIGNATURE].inputs[layout.CATEGORICAL_KEY].dtype = 3  # DT_INT32

    edited = _edited_saved_model(tiny_saved_model, tmp_path / "int32", int32_categorical)
    _convert_expecting(edited, tmp_path, r"no input has the categorical role \(int64 \[\?, 2\].*inputs found: "
                                         r"new_categorical_placeholder:0: int32 \[\?, 2\]")


def test_saved_model_without_serve_tag(tiny_saved_model, tmp_path):
    def retag(meta_graph):
        del meta_graph.meta_info_def.tags[:]
        meta_graph.meta_info_def.tags.append("train")

    edited = _edited_saved_model(tiny_saved_model, tmp_path / "train_only", retag)
    _convert_expecting(edited, tmp_path, r"no MetaGraph tagged 'serve'; tags found: \[\['train'\]\]")


def test_truncated_onnx_given_by_the_user(tiny_saved_model, converted_onnx, tmp_path):
    truncated = tmp_path / "widedeep_dynamicshape_new.onnx"
    truncated.write_bytes(converted_onnx.read_bytes()[:-4096])
    _convert_expecting(tiny_saved_model, tmp_path, r"widedeep_dynamicshape_new.onnx: not a readable ONNX model, "
                                                   r"the file is truncated or corrupt", given_onnx=truncated)


def test_an_unrelated_output_directory_is_not_replaced(tiny_saved_model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(WidedeepError, match=r"out: exists, is not empty and holds no conversion.json"):
        convert(tiny_saved_model, out)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]
