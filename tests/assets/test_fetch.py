"""fetch: download, resume, retry, pin and verify, against a local server; never the network."""

from __future__ import annotations

import hashlib
import json
import os
import threading

import pytest

from widedeep_bench import fetch
from widedeep_bench.assets import download_path, lock_path, read_lock
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
    assert validator.read_text().strip() == getattr(server, sent)("eval.csv")

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
    assert part_and_validator()[1].read_text().strip() == server.etag("eval.csv")  # so the next run resumes
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
    assert f"cannot reach {urls['saved_model']}" in message
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
