"""``cached_conversion`` converts once per content and options; ``widedeep-bench convert``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from widedeep_bench.cache_entry import CacheWarning, entry_problem
from widedeep_bench.__main__ import main
from widedeep_bench.conversion import cached, cached_conversion, conversion_key

pytestmark = pytest.mark.conversion

CRITEO_SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "csv" / "labelled.csv"


def test_second_request_is_served_from_the_cache(tiny_saved_model, parity_tensors, conversion, monkeypatch):
    def must_not_convert(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(cached, "convert", must_not_convert)
    again = cached_conversion(tiny_saved_model, parity_rows=parity_tensors)
    assert again == conversion


def test_key_follows_content_and_options_not_the_path(tiny_saved_model, parity_tensors, tmp_path):
    copy = shutil.copytree(tiny_saved_model, tmp_path / "elsewhere")
    key = conversion_key(tiny_saved_model, opset=None, ixrt=False, parity_rows=parity_tensors)
    assert conversion_key(copy, opset=None, ixrt=False, parity_rows=parity_tensors) == key
    assert conversion_key(copy, opset=11, ixrt=False, parity_rows=parity_tensors) != key
    assert conversion_key(copy, opset=None, ixrt=True, parity_rows=parity_tensors) != key
    assert conversion_key(copy, opset=None, ixrt=False, parity_rows=parity_tensors.head(10)) != key
    (copy / "saved_model.pb").write_bytes((copy / "saved_model.pb").read_bytes() + b"\0")
    assert conversion_key(copy, opset=None, ixrt=False, parity_rows=parity_tensors) != key


def test_a_tampered_entry_is_detected_and_converted_again(tiny_saved_model, parity_tensors, conversion, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv("WIDEDEEP_CACHE", str(tmp_path / "cache"))
    key = conversion_key(tiny_saved_model, opset=None, ixrt=False, parity_rows=parity_tensors)
    entry = shutil.copytree(conversion.directory, tmp_path / "cache" / "onnx" / key)
    original = (entry / "widedeep.onnx").read_bytes()
    middle = len(original) // 2
    tampered = original[:middle] + bytes([original[middle] ^ 0xFF]) + original[middle + 1:]  # same size
    (entry / "widedeep.onnx").write_bytes(tampered)
    conversions = []
    convert = cached.convert
    monkeypatch.setattr(cached, "convert", lambda *a, **k: conversions.append(a) or convert(*a, **k))
    with pytest.warns(CacheWarning, match=f"^cache entry {entry}: widedeep.onnx has XXH3-128 .*; rebuilding it$"):
        again = cached_conversion(tiny_saved_model, parity_rows=parity_tensors)
    assert len(conversions) == 1
    assert again.directory == entry and entry_problem(entry) is None
    assert (entry / "widedeep.onnx").read_bytes() != tampered
    onnx.checker.check_model(onnx.load(str(again.final)), full_check=True)
    assert json.loads((entry / "conversion.json").read_text())["directory"] == str(entry)
    assert [p.name for p in entry.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_an_intact_entry_of_another_key_is_not_served(tiny_saved_model, parity_tensors, conversion, tmp_path,
                                                      monkeypatch):
    """Another conversion's entry copied under this key has an intact manifest, yet is another model's (or
    options') conversion: its stage records would vouch for a conversion never checked."""
    monkeypatch.setenv("WIDEDEEP_CACHE", str(tmp_path / "cache"))
    key = conversion_key(tiny_saved_model, opset=None, ixrt=True, parity_rows=parity_tensors)
    entry = shutil.copytree(conversion.directory, tmp_path / "cache" / "onnx" / key)  # the non-IxRT conversion
    conversions = []
    convert = cached.convert
    monkeypatch.setattr(cached, "convert", lambda *a, **k: conversions.append(a) or convert(*a, **k))
    with pytest.warns(CacheWarning, match=f"^cache entry {entry}: manifest.json records key = .*; rebuilding it$"):
        again = cached_conversion(tiny_saved_model, ixrt=True, parity_rows=parity_tensors)
    assert len(conversions) == 1 and entry_problem(entry, {"key": key}) is None
    assert len(onnx.load(str(again.final)).graph.input) == 3  # the IxRT form, with zeros_like


def test_cli_writes_every_stage_and_prints_the_parity_summary_last(tiny_saved_model, tmp_path, capsys):
    # The vendor's export (opset 11) in its IxRT form, checked on rows of a real Criteo-format file.
    out = tmp_path / "out"
    code = main(["convert", "--saved-model", str(tiny_saved_model), "--out", str(out), "--opset", "11",
                 "--ixrt", "--eval-csv", str(CRITEO_SAMPLE)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["opset"] == 11 and summary["final"] == str(out / "widedeep.onnx")
    assert summary["source"]["parity_rows"] == str(CRITEO_SAMPLE)
    assert [s["stage"] for s in summary["stages"]] == ["export", "simplify", "deploy", "dynamic"]
    for stage in summary["stages"]:
        assert (out / stage["file"]).is_file() and stage["max_abs_error"] <= 1e-5 and stage["rows"] >= 2
    assert sorted(p.name for p in out.iterdir()) == [
        "01-export.onnx", "02-simplify.onnx", "03-deploy.onnx", "04-dynamic.onnx", "conversion.json", "widedeep.onnx"]
    final = onnx.load(str(out / "widedeep.onnx"))
    assert final.opset_import[0].version == 11
    assert [v.name for v in final.graph.input] == [
        "new_categorical_placeholder0", "new_numeric_placeholder0", "import/head/predictions/zeros_like0"]


def test_cli_bad_input_exits_2_with_the_message(tmp_path, capsys):
    code = main(["convert", "--saved-model", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"widedeep-bench convert: error: {tmp_path}: not a SavedModel" in captured.err
