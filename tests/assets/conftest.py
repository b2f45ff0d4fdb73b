"""Fixtures for the asset tests: a private cache, and a local HTTP server that honours Range and If-Range.

Nothing here touches the network: the server listens on 127.0.0.1 on a free port, in a thread.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import socket
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from widedeep_bench import fetch


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh ``WIDEDEEP_CACHE``, no user asset variables, no proxies, fast retries."""
    root = tmp_path / "cache"
    monkeypatch.setenv("WIDEDEEP_CACHE", str(root))
    monkeypatch.setenv("WIDEDEEP_QUIET", "1")
    for name in ("WIDEDEEP_SAVED_MODEL", "WIDEDEEP_EVAL_CSV", "WIDEDEEP_ONNX", "http_proxy", "HTTP_PROXY",
                 "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(fetch, "BACKOFF_S", 0.01)
    return root


@dataclass
class FileServer:
    """Serves ``files[path] = bytes``; records each request as ``(path, Range header or None)`` in
    ``requests`` and its If-Range header (or None) in ``if_ranges``.

    Every response names the file's version, derived from its bytes, as ``validators`` says:
    "etag" (a strong ETag and Last-Modified), "last-modified" (only that), "weak-etag" (a weak ETag
    and nothing else) or "none". A Range request whose If-Range is not the current ETag or
    Last-Modified gets the whole file (HTTP 200), as RFC 9110 says, unless ``honour_if_range`` is off.
    """

    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    if_ranges: list[str | None] = field(default_factory=list)
    drop_after: dict[str, list[int]] = field(default_factory=dict)  # per path, per request: bytes before hanging up
    honour_range: bool = True
    honour_if_range: bool = True
    validators: str = "etag"
    delay_s: float = 0.0  # before each response, so that concurrent clients overlap

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def etag(self, path: str) -> str:
        return '"%s"' % hashlib.sha256(self.files[path]).hexdigest()[:16]

    def last_modified(self, path: str) -> str:
        seconds = 1_500_000_000 + int(hashlib.sha256(self.files[path]).hexdigest()[:7], 16)
        return email.utils.formatdate(seconds, usegmt=True)

    def version_headers(self, path: str) -> dict[str, str]:
        return {"etag": {"ETag": self.etag(path), "Last-Modified": self.last_modified(path)},
                "last-modified": {"Last-Modified": self.last_modified(path)},
                "weak-etag": {"ETag": "W/" + self.etag(path)},
                "none": {}}[self.validators]


def handler_for(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.lstrip("/")
            server.requests.append((path, self.headers.get("Range")))
            server.if_ranges.append(self.headers.get("If-Range"))
            time.sleep(server.delay_s)
            body = server.files.get(path)
            if body is None:
                self.send_error(404)
                return
            version = server.version_headers(path)
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if_range = self.headers.get("If-Range")
            if match and server.honour_if_range and if_range is not None:
                strong = [value for value in version.values() if not value.startswith("W/")]
                if if_range not in strong:  # the client's bytes are of another version: send it all
                    match = None
            if match and server.honour_range:
                start = int(match[1])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    for name, value in version.items():
                        self.send_header(name, value)
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            for name, value in version.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            drops = server.drop_after.get(path)
            if drops:
                self.wfile.write(body[start:start + drops.pop(0)])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body[start:])

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def server():
    files = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(files))
    files.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield files
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class FakeDefault:
    """Stands in for ``widedeep_bench.synthetic.default`` so resolution tests need no training."""

    directory: Path
    calls: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=lambda: {"top1": 0.75, "auc": 0.7, "logloss": 0.5,
                                                   "positive_rate": 0.25, "rows": 4096,
                                                   "all_negative_top1": 0.75})

    def ensure_default(self, **options):
        self.calls.append(options)
        saved_model = self.directory / "saved_model"
        saved_model.mkdir(parents=True, exist_ok=True)
        (saved_model / "saved_model.pb").write_bytes(b"synthetic graph")
        eval_csv = self.directory / "eval.csv"
        eval_csv.write_text("0,1,2,3,4,5,6,7,8,9,10,11,12,13" + ",abcdef12" * 26 + "\n")
        return types.SimpleNamespace(saved_model=saved_model, eval_csv=eval_csv, directory=self.directory,
                                     metrics=dict(self.metrics))


@pytest.fixture
def synthetic_default(tmp_path, monkeypatch) -> FakeDefault:
    fake = FakeDefault(tmp_path / "synthetic")
    module = types.ModuleType("widedeep_bench.synthetic.default")
    module.ensure_default = fake.ensure_default
    monkeypatch.setitem(sys.modules, "widedeep_bench.synthetic.default", module)
    return fake
