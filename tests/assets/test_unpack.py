"""The SavedModel tar: unpacked atomically, pinned by tree digest, and refused whole if any member is unsafe."""

from __future__ import annotations

import io
import shutil
import tarfile

import pytest

from widedeep_bench.assets import assets_dir, download_path, read_lock, resolve_assets, unpacked_dir
from widedeep_bench.errors import WidedeepError
from widedeep_bench.fetch import fetch_assets

MODEL = "open_wide_deep_saved_model"


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def regular(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


def model_tar(*extra: tuple[tarfile.TarInfo, bytes]) -> bytes:
    return tar_bytes(regular(f"{MODEL}/saved_model.pb", b"graph bytes"),
                     regular(f"{MODEL}/variables/variables.index", b"index"), *extra)


def fetch_model(server, archive: bytes, **options) -> dict:
    server.files["model.tar"] = archive
    return fetch_assets(["saved_model"], urls={"saved_model": server.url("model.tar")}, **options)["saved_model"]


def test_tar_is_unpacked_and_its_tree_pinned(cache, server):
    result = fetch_model(server, model_tar())

    model_dir = unpacked_dir() / MODEL
    assert result["path"] == str(model_dir)
    assert (model_dir / "saved_model.pb").read_bytes() == b"graph bytes"
    assert (model_dir / "variables" / "variables.index").read_bytes() == b"index"
    pinned = read_lock()["saved_model"]
    assert pinned["unpacked"] == f"saved_model/{MODEL}" and len(pinned["unpacked_tree_sha256"]) == 64
    assert download_path("saved_model").name == f"{MODEL}.tar"


def test_second_fetch_verifies_the_unpacked_tree(cache, server):
    fetch_model(server, model_tar())
    assert fetch_model(server, model_tar())["status"] == "verified"
    assert len(server.requests) == 1


def test_edited_unpacked_model_is_refused_by_fetch_and_resolution(cache, server):
    fetch_model(server, model_tar())
    (unpacked_dir() / MODEL / "saved_model.pb").write_bytes(b"edited graph")

    with pytest.raises(WidedeepError, match=f"{MODEL} has changed since it was pinned"):
        fetch_model(server, model_tar())
    with pytest.raises(WidedeepError, match=f"{MODEL} has changed since it was pinned"):
        resolve_assets()


def test_deleted_unpacked_model_is_unpacked_again_from_the_pinned_tar(cache, server):
    fetch_model(server, model_tar())
    tree = read_lock()["saved_model"]["unpacked_tree_sha256"]
    shutil.rmtree(unpacked_dir())

    fetch_model(server, model_tar())

    assert (unpacked_dir() / MODEL / "saved_model.pb").is_file()
    assert read_lock()["saved_model"]["unpacked_tree_sha256"] == tree
    assert len(server.requests) == 1


@pytest.mark.parametrize("hostile", [
    regular("../escape", b"outside"),
    regular(f"{MODEL}/../../escape", b"outside"),
    regular("/tmp/absolute-escape", b"outside"),
    link(f"{MODEL}/evil", "../../escape"),
    link(f"{MODEL}/evil", "/etc/passwd"),
    link(f"{MODEL}/evil", "../../escape", kind=tarfile.LNKTYPE),
    link(f"{MODEL}/fifo", "", kind=tarfile.FIFOTYPE),
    # Each link looks inside on its own; only once "up" exists on disk does "up/out" reach past the root.
    [link(f"{MODEL}/up", ".."), link(f"{MODEL}/up/out", ".."), regular(f"{MODEL}/up/out/escape")],
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "absolute-symlink", "hardlink-out", "fifo",
        "symlink-chain"])
def test_unsafe_member_refuses_the_whole_archive_and_leaves_nothing(cache, server, tmp_path, hostile):
    members = hostile if isinstance(hostile, list) else [hostile]
    with pytest.raises(WidedeepError, match="refusing to unpack"):
        fetch_model(server, model_tar(*members))

    assert not unpacked_dir().exists()
    assert sorted(path.name for path in assets_dir().iterdir() if not path.name.startswith(".")) == [f"{MODEL}.tar"]
    assert not any(path.name.endswith(".tmp") for path in assets_dir().iterdir())
    assert not (tmp_path / "escape").exists() and not (cache / "escape").exists()
    assert "saved_model" not in read_lock()


def test_archive_without_a_saved_model_is_refused(cache, server):
    with pytest.raises(WidedeepError, match="expected exactly one saved_model.pb, found"):
        fetch_model(server, tar_bytes(regular("readme.txt")))
    assert not unpacked_dir().exists()


def test_file_that_is_not_a_tar_is_refused(cache, server):
    with pytest.raises(WidedeepError, match="not a readable tar archive"):
        fetch_model(server, b"<html>captive portal</html>")
    assert not unpacked_dir().exists()
