"""resolve_assets: option > environment > fetched copy > synthetic default, with clear errors for bad paths."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from widedeep_bench.assets import download_path, resolve_assets, unpacked_dir
from widedeep_bench.errors import WidedeepError
from widedeep_bench.fetch import fetch_assets


def user_csv(directory: Path, name: str = "eval.csv") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"1,{name}" + ",0" * 38 + "\n")
    return path


def user_saved_model(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"user graph")
    return directory


def fetched_csv(server) -> Path:
    server.files["eval.csv"] = b"1,fetched" + b",0" * 38 + b"\n"
    fetch_assets(["eval_csv"], urls={"eval_csv": server.url("eval.csv")})
    return download_path("eval_csv")


def test_nothing_given_resolves_to_the_synthetic_default(cache, synthetic_default):
    assets = resolve_assets(rows=5000, seed=7)

    assert assets.provenance == "synthetic"
    assert assets.origins == {"saved_model": "synthetic", "eval_csv": "synthetic", "onnx": "absent"}
    assert assets.saved_model == synthetic_default.directory / "saved_model"
    assert assets.eval_csv == synthetic_default.directory / "eval.csv"
    assert assets.onnx is None
    assert synthetic_default.calls == [{"rows": 5000, "seed": 7}]


def test_default_rows_and_seed_are_left_to_the_default_builder(cache, synthetic_default):
    resolve_assets()
    assert synthetic_default.calls == [{}]


@pytest.mark.parametrize("layers, winner", [
    (("option", "env", "fetched"), "option"),
    (("env", "fetched"), "env"),
    (("fetched",), "fetched"),
    ((), "synthetic"),
])
def test_eval_csv_resolution_order_is_option_env_fetched_default(cache, server, synthetic_default, tmp_path,
                                                                  monkeypatch, layers, winner):
    expected = {"synthetic": synthetic_default.directory / "eval.csv"}
    if "fetched" in layers:
        expected["fetched"] = fetched_csv(server)
    if "env" in layers:
        expected["env"] = user_csv(tmp_path / "env")
        monkeypatch.setenv("WIDEDEEP_EVAL_CSV", str(expected["env"]))
    option = None
    if "option" in layers:
        option = expected["option"] = user_csv(tmp_path / "option")

    assets = resolve_assets(eval_csv=option)

    assert assets.eval_csv == expected[winner]
    assert assets.origins["eval_csv"] == winner


def test_saved_model_from_the_environment_beats_the_fetched_copy(cache, tmp_path, monkeypatch, synthetic_default):
    mine = user_saved_model(tmp_path / "mine")
    monkeypatch.setenv("WIDEDEEP_SAVED_MODEL", str(mine))
    monkeypatch.setenv("WIDEDEEP_EVAL_CSV", str(user_csv(tmp_path)))

    assets = resolve_assets()

    assert assets.saved_model == mine and assets.provenance == "user"
    assert synthetic_default.calls == []


def test_user_model_and_data_never_build_the_default(cache, tmp_path, synthetic_default):
    assets = resolve_assets(user_saved_model(tmp_path / "model"), user_csv(tmp_path), rows=10, seed=1)

    assert assets.origins == {"saved_model": "option", "eval_csv": "option", "onnx": "absent"}
    assert synthetic_default.calls == []


def test_user_eval_csv_with_the_synthetic_model_shows_in_the_origins(cache, tmp_path, monkeypatch,
                                                                      synthetic_default):
    monkeypatch.setenv("WIDEDEEP_EVAL_CSV", str(user_csv(tmp_path)))

    assets = resolve_assets()

    assert assets.provenance == "user"
    assert assets.origins == {"saved_model": "synthetic", "eval_csv": "env", "onnx": "absent"}


def test_user_onnx_is_never_paired_with_the_synthetic_model(cache, tmp_path, synthetic_default):
    onnx = tmp_path / "vendor.onnx"
    onnx.write_bytes(b"onnx")

    assets = resolve_assets(onnx=onnx)

    assert assets.onnx == onnx and assets.saved_model is None
    assert assets.origins == {"saved_model": "absent", "eval_csv": "synthetic", "onnx": "option"}
    assert assets.provenance == "user"


def test_empty_environment_variable_counts_as_unset(cache, monkeypatch, synthetic_default):
    monkeypatch.setenv("WIDEDEEP_EVAL_CSV", "")
    assert resolve_assets().origins["eval_csv"] == "synthetic"


@pytest.mark.parametrize("variable, make, expected", [
    ("WIDEDEEP_EVAL_CSV", lambda tmp: tmp / "nope.csv", "no such file, expected a Criteo CSV file"),
    ("WIDEDEEP_EVAL_CSV", lambda tmp: tmp, "is a directory, expected a Criteo CSV file"),
    ("WIDEDEEP_EVAL_CSV", lambda tmp: (tmp / "empty.csv").touch() or tmp / "empty.csv",
     "the Criteo CSV file is empty"),
    ("WIDEDEEP_SAVED_MODEL", lambda tmp: tmp / "nope", "expected a SavedModel directory, found no such directory"),
    ("WIDEDEEP_SAVED_MODEL", lambda tmp: tmp, "containing saved_model.pb, found none"),
    ("WIDEDEEP_SAVED_MODEL", lambda tmp: (tmp / "m.tar").touch() or tmp / "m.tar", "is a tar archive; unpack it"),
    ("WIDEDEEP_ONNX", lambda tmp: tmp / "nope.onnx", "expected an ONNX file, found no such file"),
])
def test_bad_environment_path_names_the_variable(cache, tmp_path, monkeypatch, synthetic_default,
                                                 variable, make, expected):
    bad = make(tmp_path)
    monkeypatch.setenv(variable, str(bad))

    with pytest.raises(WidedeepError) as error:
        resolve_assets()

    assert str(error.value).startswith(f"{variable}={bad}: ")
    assert expected in str(error.value)


def test_bad_option_path_names_the_option(cache, tmp_path, synthetic_default):
    with pytest.raises(WidedeepError, match=r"^--saved-model: .*found no such directory"):
        resolve_assets(saved_model=tmp_path / "missing")


def test_file_put_in_the_cache_but_never_pinned_is_an_error(cache, synthetic_default):
    download_path("eval_csv").parent.mkdir(parents=True)
    download_path("eval_csv").write_text("1" + ",0" * 39 + "\n")

    with pytest.raises(WidedeepError, match=r"not pinned.*fetch --only eval_csv"):
        resolve_assets()


def test_tampered_fetched_csv_is_refused_at_resolution(cache, server, synthetic_default):
    path = fetched_csv(server)
    path.write_bytes(b"0,changed" + b",0" * 38 + b"\n")

    with pytest.raises(WidedeepError, match=f"{path} has changed since it was pinned"):
        resolve_assets()


def test_fetched_saved_model_resolves_to_the_unpacked_directory(cache, server, synthetic_default):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("open_wide_deep_saved_model/saved_model.pb")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"graph"))
    server.files["model.tar"] = buffer.getvalue()
    fetch_assets(["saved_model"], urls={"saved_model": server.url("model.tar")})

    assets = resolve_assets()

    assert assets.saved_model == unpacked_dir() / "open_wide_deep_saved_model"
    assert assets.origins["saved_model"] == "fetched" and assets.origins["eval_csv"] == "synthetic"
    assert assets.provenance == "user"
