"""fetch: download from the first mirror that serves, resume, retry, pin and verify, against a local server;
never the network."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading

import pytest

from widedeep_bench import fetch
from widedeep_bench.__main__ import main
from widedeep_bench.assets import SEED_ASSETS, download_path, lock_path, read_lock
from widedeep_bench.errors import WidedeepError
from widedeep_bench.fetch import fetch_assets

CSV = b"".join(b"%d,1,,3,4,5,6,7,8,9,10,11,12,13%s\r\n" % (i % 2, b",0a1b2c3d" * 26) for i in range(4000))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def served_csv(server):
    server.files["eval.csv"] = CSV
    return {"eval_csv": server.url("eval.csv")}


def part_and_validator():
    part = download_path("eval_csv").with_name("eval.csv.part")
    return part, part.with_name("eval.csv.part.validator")


def leave_a_partial_download(server, served_csv, keep: int) -> None:
    """A first run that loses its connection after ``keep`` bytes on every attempt, as a flaky link does."""
    server.drop_after["eval.csv"] = [keep] + [0] * (fetch.ATTEMPTS - 1)
    with pytest.raises(WidedeepError, match="running fetch again resumes it"):
        fetch_assets(["eval_csv"], urls=served_csv)
    server.requests.clear()
    server.if_ranges.clear()


def test_first_fetch_downloads_the_file_and_pins_its_sha256(cache, server, served_csv):
    result = fetch_assets(["eval_csv"], urls=served_csv)["eval_csv"]

    assert result["status"] == "downloaded"
    assert download_path("eval_csv").read_bytes() == CSV
    pinned = json.loads(lock_path().read_text())["assets"]["eval_csv"]
    assert pinned["sha256"] == sha256(CSV) and pinned["bytes"] == len(CSV)
    assert pinned["url"] == served_csv["eval_csv"]
    assert server.requests == [("eval.csv", None)]
    assert not download_path("eval_csv").with_name("eval.csv.part").exists()


def test_second_fetch_verifies_the_pin_without_downloading(cache, server, served_csv):
    fetch_assets(["eval_csv"], urls=served_csv)
    result = fetch_assets(["eval_csv"], urls=served_csv)["eval_csv"]

    assert result["status"] == "verified"
    assert len(server.requests) == 1


def test_tampered_file_is_refused_naming_the_file_and_both_digests(cache, server, served_csv):
    fetch_assets(["eval_csv"], urls=served_csv)
    tampered = CSV.replace(b"0a1b2c3d", b"ffffffff", 1)
    download_path("eval_csv").write_bytes(tampered)

    with pytest.raises(WidedeepError) as error:
        fetch_assets(["eval_csv"], urls=served_csv)

    message = str(error.value)
    assert str(download_path("eval_csv")) in message
    assert sha256(tampered) in message and sha256(CSV) in message
    assert "--repin" in message
    assert read_lock()["eval_csv"]["sha256"] == sha256(CSV)


def test_repin_accepts_a_knowingly_replaced_file(cache, server, served_csv):
    fetch_assets(["eval_csv"], urls=served_csv)
    replaced = CSV[: len(CSV) // 2]
    download_path("eval_csv").write_bytes(replaced)

    result = fetch_assets(["eval_csv"], urls=served_csv, repin=True)["eval_csv"]

    assert result["status"] == "repinned"
    assert read_lock()["eval_csv"]["sha256"] == sha256(replaced)
    assert fetch_assets(["eval_csv"], urls=served_csv)["eval_csv"]["status"] == "verified"
    assert len(server.requests) == 1


def test_partial_download_is_resumed_with_a_range_request(cache, server, served_csv):
    part, validator = part_and_validator()
    part.parent.mkdir(parents=True)
    part.write_bytes(CSV[:1000])
    validator.write_text(server.etag("eval.csv") + "\n")

    fetch_assets(["eval_csv"], urls=served_csv)

    assert server.requests == [("eval.csv", "bytes=1000-")]
    assert download_path("eval_csv").read_bytes() == CSV
    assert not part.exists() and not validator.exists()


@pytest.mark.parametrize("validators, sent", [("etag", "etag"), ("last-modified", "last_modified")])
def test_resume_of_an_unchanged_file_sends_if_range_and_appends(cache, server, served_csv, validators, sent):
    server.validators = validators
    leave_a_partial_download(server, served_csv, keep=1000)
    part, validator = part_and_validator()
    assert part.read_bytes() == CSV[:1000]
    assert fetch.saved_validator(part) == (getattr(server, sent)("eval.csv"), served_csv["eval_csv"])

    assert fetch_assets(["eval_csv"], urls=served_csv)["eval_csv"]["status"] == "downloaded"

    assert server.requests == [("eval.csv", "bytes=1000-")]
    assert server.if_ranges == [getattr(server, sent)("eval.csv")]
    assert download_path("eval_csv").read_bytes() == CSV
    assert not part.exists() and not validator.exists()


@pytest.mark.parametrize("validators", ["etag", "last-modified"])
def test_file_changed_upstream_between_runs_is_downloaded_whole_not_spliced(cache, server, served_csv,
                                                                             validators):
    server.validators = validators
    leave_a_partial_download(server, served_csv, keep=1000)
    new = CSV.replace(b"0a1b2c3d", b"99999999")  # same length: a splice would look complete
    server.files["eval.csv"] = new

    result = fetch_assets(["eval_csv"], urls=served_csv)["eval_csv"]

    assert server.requests == [("eval.csv", "bytes=1000-")]  # answered 200: If-Range did not match
    assert download_path("eval_csv").read_bytes() == new
    assert result["sha256"] == read_lock()["eval_csv"]["sha256"] == sha256(new)
    assert not part_and_validator()[1].exists()


def test_changed_file_from_a_server_that_ignores_if_range_is_restarted(cache, server, served_csv):
    leave_a_partial_download(server, served_csv, keep=1000)
    new = CSV.replace(b"0a1b2c3d", b"99999999")
    server.files["eval.csv"] = new
    server.honour_if_range = False  # answers 206 with the new file's bytes, and its new ETag

    fetch_assets(["eval_csv"], urls=served_csv)

    assert server.requests == [("eval.csv", "bytes=1000-"), ("eval.csv", None)]
    assert download_path("eval_csv").read_bytes() == new


def test_partial_download_without_a_saved_validator_restarts_from_zero(cache, server, served_csv, monkeypatch):
    said = []
    monkeypatch.setattr(fetch, "say", said.append)
    part, validator = part_and_validator()
    part.parent.mkdir(parents=True)
    part.write_bytes(b"bytes of some older version")

    fetch_assets(["eval_csv"], urls=served_csv)

    assert server.requests == [("eval.csv", None)]
    assert download_path("eval_csv").read_bytes() == CSV
    assert any("no validator" in line and "restarting from zero" in line for line in said)


@pytest.mark.parametrize("validators", ["none", "weak-etag"])
def test_server_without_a_strong_validator_is_never_resumed(cache, server, served_csv, validators):
    server.validators = validators
    server.drop_after["eval.csv"] = [5000]

    fetch_assets(["eval_csv"], urls=served_csv)

    assert server.requests == [("eval.csv", None), ("eval.csv", None)]
    assert download_path("eval_csv").read_bytes() == CSV


def test_complete_partial_download_answered_416_is_kept(cache, server, served_csv):
    part, validator = part_and_validator()
    part.parent.mkdir(parents=True)
    part.write_bytes(CSV)
    validator.write_text(server.etag("eval.csv") + "\n")

    assert fetch_assets(["eval_csv"], urls=served_csv)["eval_csv"]["status"] == "downloaded"

    assert server.requests == [("eval.csv", f"bytes={len(CSV)}-")]  # no second download
    assert server.if_ranges == [server.etag("eval.csv")]
    assert download_path("eval_csv").read_bytes() == CSV
    assert not part.exists() and not validator.exists()


def test_complete_partial_download_of_an_older_version_is_replaced(cache, server, served_csv):
    part, validator = part_and_validator()
    part.parent.mkdir(parents=True)
    part.write_bytes(CSV)
    validator.write_text(server.etag("eval.csv") + "\n")
    new = CSV.replace(b"0a1b2c3d", b"99999999")
    server.files["eval.csv"] = new

    fetch_assets(["eval_csv"], urls=served_csv)

    assert server.requests == [("eval.csv", f"bytes={len(CSV)}-")]  # If-Range failed: 200, whole file
    assert download_path("eval_csv").read_bytes() == new


def test_connection_dropped_mid_body_is_retried_and_completes(cache, server, served_csv):
    server.drop_after["eval.csv"] = [5000, 7000]

    fetch_assets(["eval_csv"], urls=served_csv)

    assert server.requests == [("eval.csv", None), ("eval.csv", "bytes=5000-"), ("eval.csv", "bytes=12000-")]
    assert download_path("eval_csv").read_bytes() == CSV


def test_server_that_ignores_range_gives_a_whole_fresh_file(cache, server, served_csv):
    server.honour_range = False
    part, validator = part_and_validator()
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from another file")
    validator.write_text(server.etag("eval.csv") + "\n")

    fetch_assets(["eval_csv"], urls=served_csv)

    assert server.requests == [("eval.csv", "bytes=29-")]  # answered 200: written from zero, not appended
    assert download_path("eval_csv").read_bytes() == CSV


def test_partial_file_longer_than_the_resource_is_restarted(cache, server, served_csv):
    part, validator = part_and_validator()
    part.parent.mkdir(parents=True)
    part.write_bytes(CSV + b"trailing garbage")
    validator.write_text(server.etag("eval.csv") + "\n")

    fetch_assets(["eval_csv"], urls=served_csv)

    assert server.requests == [("eval.csv", f"bytes={len(CSV) + 16}-"), ("eval.csv", None)]
    assert download_path("eval_csv").read_bytes() == CSV


def test_retries_are_bounded_and_keep_the_partial_file(cache, server, served_csv):
    server.drop_after["eval.csv"] = [100] * fetch.ATTEMPTS

    with pytest.raises(WidedeepError, match=f"failed after {fetch.ATTEMPTS} attempts"):
        fetch_assets(["eval_csv"], urls=served_csv)

    assert len(server.requests) == fetch.ATTEMPTS
    assert download_path("eval_csv").with_name("eval.csv.part").read_bytes() == CSV[: 100 * fetch.ATTEMPTS]
    assert fetch.saved_validator(part_and_validator()[0]) == (server.etag("eval.csv"), served_csv["eval_csv"])
    assert server.if_ranges == [None] + [server.etag("eval.csv")] * (fetch.ATTEMPTS - 1)
    assert not download_path("eval_csv").exists()
    assert "eval_csv" not in read_lock()


def test_http_404_fails_at_once_naming_the_url(cache, server):
    url = server.url("missing.csv")
    with pytest.raises(WidedeepError, match=f"{url}: HTTP 404"):
        fetch_assets(["eval_csv"], urls={"eval_csv": url})
    assert len(server.requests) == 1


def test_unreachable_server_fails_without_retrying_and_says_where_to_put_files(cache, closed_port, monkeypatch):
    sleeps = []
    monkeypatch.setattr(fetch.time, "sleep", sleeps.append)
    urls = {name: f"http://127.0.0.1:{closed_port}/{name}" for name in ("saved_model", "eval_csv", "onnx")}

    with pytest.raises(WidedeepError) as error:
        fetch_assets(urls=urls)

    message = str(error.value)
    assert f"{urls['saved_model']}: cannot reach the server" in message
    for name in ("saved_model", "eval_csv", "onnx"):
        assert str(download_path(name)) in message
    for variable in ("WIDEDEEP_SAVED_MODEL", "WIDEDEEP_EVAL_CSV", "WIDEDEEP_ONNX"):
        assert variable in message
    assert sleeps == []
    assert not download_path("saved_model").with_name("open_wide_deep_saved_model.tar.part").exists()


def test_file_put_in_the_cache_by_hand_is_pinned_without_network(cache, closed_port):
    download_path("eval_csv").parent.mkdir(parents=True)
    download_path("eval_csv").write_bytes(CSV)

    result = fetch_assets(["eval_csv"], urls={"eval_csv": f"http://127.0.0.1:{closed_port}/eval.csv"})["eval_csv"]

    assert result["status"] == "pinned" and result["url"] is None
    assert read_lock()["eval_csv"]["sha256"] == sha256(CSV)


def test_changed_upstream_file_is_refused_unless_repinned(cache, server, served_csv):
    fetch_assets(["eval_csv"], urls=served_csv)
    os.remove(download_path("eval_csv"))
    server.files["eval.csv"] = b"a different file\n"

    with pytest.raises(WidedeepError, match="upstream changed") as error:
        fetch_assets(["eval_csv"], urls=served_csv)
    assert sha256(b"a different file\n") in str(error.value) and sha256(CSV) in str(error.value)
    assert not download_path("eval_csv").exists()
    assert not download_path("eval_csv").with_name("eval.csv.part").exists()

    assert fetch_assets(["eval_csv"], urls=served_csv, repin=True)["eval_csv"]["status"] == "repinned"
    assert download_path("eval_csv").read_bytes() == b"a different file\n"


def test_two_assets_share_one_lock_file(cache, server, served_csv):
    server.files["model.onnx"] = b"onnx bytes"
    fetch_assets(["eval_csv", "onnx"], urls={**served_csv, "onnx": server.url("model.onnx")})

    assert set(read_lock()) == {"eval_csv", "onnx"}
    assert download_path("onnx").name == "widedeep_dynamicshape_new.onnx"
    assert download_path("onnx").read_bytes() == b"onnx bytes"


def test_two_clients_racing_for_one_file_download_it_once(cache, server, served_csv):
    server.delay_s = 0.3
    results, errors = [], []

    def fetch_csv():
        try:
            results.append(fetch_assets(["eval_csv"], urls=served_csv)["eval_csv"])
        except WidedeepError as exc:
            errors.append(exc)

    clients = [threading.Thread(target=fetch_csv) for _ in range(2)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()

    assert errors == []
    assert sorted(result["status"] for result in results) == ["downloaded", "verified"]
    assert len(server.requests) == 1
    assert download_path("eval_csv").read_bytes() == CSV


# --- mirrors ---------------------------------------------------------------------------------------------

def test_the_bytemlperf_assets_try_the_dead_host_first_then_its_replacement_the_onnx_its_one_host():
    for name in ("saved_model", "eval_csv"):
        first, second = SEED_ASSETS[name].urls
        assert first.startswith("https://lf-bytemlperf.17mh.cn/obj/bytemlperf-zoo/")
        assert second == first.replace("lf-bytemlperf.17mh.cn", "lf-xpu-perf.bytetos.com")
    assert SEED_ASSETS["onnx"].urls == ("http://files.deepspark.org.cn:880/deepspark/widedeep_dynamicshape_new.onnx",)


@pytest.fixture
def said(monkeypatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(fetch, "say", lines.append)
    return lines


@pytest.fixture
def seed_mirrors(monkeypatch, server):
    """Points eval_csv's seed mirrors at ``mirror1/`` and ``mirror2/`` on the local server (both serving CSV
    unless a test changes that); returns the two URLs."""
    urls = (server.url("mirror1/eval.csv"), server.url("mirror2/eval.csv"))
    monkeypatch.setitem(SEED_ASSETS, "eval_csv", dataclasses.replace(SEED_ASSETS["eval_csv"], urls=urls))
    server.files["mirror1/eval.csv"] = server.files["mirror2/eval.csv"] = CSV
    return urls


def test_an_unreachable_first_mirror_is_left_for_the_second_which_is_named(cache, server, said, closed_port,
                                                                           monkeypatch):
    dead, alive = f"http://127.0.0.1:{closed_port}/eval.csv", server.url("mirror2/eval.csv")
    monkeypatch.setitem(SEED_ASSETS, "eval_csv", dataclasses.replace(SEED_ASSETS["eval_csv"], urls=(dead, alive)))
    server.files["mirror2/eval.csv"] = CSV

    result = fetch_assets(["eval_csv"])["eval_csv"]

    assert result["status"] == "downloaded" and result["served_by"] == alive
    assert read_lock()["eval_csv"]["url"] == alive
    assert download_path("eval_csv").read_bytes() == CSV
    [why] = [line for line in said if "trying the next mirror" in line]
    assert why.startswith(f"eval_csv: {dead}: cannot reach the server (") and why.endswith(alive)


def test_a_first_mirror_answering_404_is_left_for_the_second(cache, server, said, seed_mirrors):
    del server.files["mirror1/eval.csv"]

    result = fetch_assets(["eval_csv"])["eval_csv"]

    assert result["served_by"] == seed_mirrors[1]
    assert server.requests == [("mirror1/eval.csv", None), ("mirror2/eval.csv", None)]
    assert f"eval_csv: {seed_mirrors[0]}: HTTP 404 Not Found; trying the next mirror, {seed_mirrors[1]}" in said


def test_when_every_mirror_fails_the_error_lists_each_with_its_reason_and_the_cache_path(cache, server, closed_port,
                                                                                        monkeypatch):
    dead, missing = f"http://127.0.0.1:{closed_port}/eval.csv", server.url("mirror2/eval.csv")
    monkeypatch.setitem(SEED_ASSETS, "eval_csv", dataclasses.replace(SEED_ASSETS["eval_csv"], urls=(dead, missing)))

    with pytest.raises(WidedeepError) as error:
        fetch_assets(["eval_csv"])

    lines = str(error.value).splitlines()
    assert lines[0] == "eval_csv: no mirror gave eval.csv (2 tried):"
    assert lines[1].startswith(f"  {dead}: cannot reach the server (")
    assert lines[2] == f"  {missing}: HTTP 404 Not Found"
    assert f"  eval_csv: {download_path('eval_csv')}  (from {dead} or {missing})" in lines
    assert not download_path("eval_csv").exists() and "eval_csv" not in read_lock()


def test_a_mirror_that_keeps_cutting_the_body_short_is_left_and_the_next_resumes_its_bytes(cache, server, said,
                                                                                         seed_mirrors):
    server.drop_after["mirror1/eval.csv"] = [1000] + [0] * (fetch.ATTEMPTS - 1)

    result = fetch_assets(["eval_csv"])["eval_csv"]

    assert result["served_by"] == seed_mirrors[1] and download_path("eval_csv").read_bytes() == CSV
    # Same bytes, so the same strong ETag on both mirrors: the second sends only what is missing.
    assert server.requests[fetch.ATTEMPTS:] == [("mirror2/eval.csv", "bytes=1000-")]
    assert server.if_ranges[fetch.ATTEMPTS:] == [server.etag("mirror2/eval.csv")]
    assert any(f"failed after {fetch.ATTEMPTS} attempts" in line and "trying the next mirror" in line
               for line in said)


def test_bytes_of_another_file_on_the_next_mirror_are_not_spliced_on(cache, server, seed_mirrors):
    server.drop_after["mirror1/eval.csv"] = [1000] + [0] * (fetch.ATTEMPTS - 1)
    new = CSV.replace(b"0a1b2c3d", b"99999999")  # same length: a splice would look complete
    server.files["mirror2/eval.csv"] = new

    fetch_assets(["eval_csv"])

    assert server.requests[fetch.ATTEMPTS:] == [("mirror2/eval.csv", "bytes=1000-")]  # If-Range fails: HTTP 200
    assert download_path("eval_csv").read_bytes() == new


def test_a_partial_named_only_by_last_modified_is_downloaded_whole_from_another_mirror(cache, server, said,
                                                                                       seed_mirrors):
    server.validators = "last-modified"
    server.drop_after["mirror1/eval.csv"] = [1000] + [0] * (fetch.ATTEMPTS - 1)

    fetch_assets(["eval_csv"])

    assert server.requests[fetch.ATTEMPTS:] == [("mirror2/eval.csv", None)]
    assert download_path("eval_csv").read_bytes() == CSV
    assert any("only its Last-Modified date names them" in line for line in said)


def test_a_mirror_serving_other_bytes_than_the_pinned_ones_is_left_for_the_next(cache, server, said, seed_mirrors):
    fetch_assets(["eval_csv"])
    os.remove(download_path("eval_csv"))
    server.files["mirror1/eval.csv"] = b"a different file\n"

    result = fetch_assets(["eval_csv"])["eval_csv"]

    assert result["served_by"] == seed_mirrors[1] and result["sha256"] == sha256(CSV)
    assert download_path("eval_csv").read_bytes() == CSV
    other = sha256(b"a different file\n")
    assert any(line.startswith(f"eval_csv: {seed_mirrors[0]}: now has sha256 {other}")
               and "trying the next mirror" in line for line in said)


def test_a_file_already_in_the_cache_names_no_mirror(cache, server, seed_mirrors):
    fetch_assets(["eval_csv"])

    result = fetch_assets(["eval_csv"])["eval_csv"]

    assert result["status"] == "verified" and result["served_by"] is None
    assert result["url"] == seed_mirrors[0]  # the pin remembers where the file came from


def test_base_url_replaces_the_mirrors_and_the_last_line_names_the_url_that_served(cache, server, seed_mirrors,
                                                                                   capsys):
    server.files["own/eval.csv"] = CSV

    assert main(["fetch", "--base-url", server.url("own"), "--only", "eval_csv"]) == 0

    assert server.requests == [("own/eval.csv", None)]
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["assets"]["eval_csv"]["served_by"] == server.url("own/eval.csv")


def test_a_failing_base_url_is_not_followed_by_the_seed_mirrors(cache, server, seed_mirrors, capsys):
    assert main(["fetch", "--base-url", server.url("own"), "--only", "eval_csv"]) == 2

    assert server.requests == [("own/eval.csv", None)]
    err = capsys.readouterr().err
    assert f"no mirror gave eval.csv (1 tried):\n  {server.url('own/eval.csv')}: HTTP 404 Not Found\n" in err
    assert seed_mirrors[0] not in err and str(download_path("eval_csv")) in err
