"""The report page opened in a real browser (headless Chromium): every figure is laid out and painted, and
the page asks the network for nothing.

Chromium runs offline by construction (every host resolves to nothing, every proxy connection is refused),
and its net log records each request a document starts; Chromium's own background requests (updates,
accounts) carry no document as initiator and are told apart by that. A page with outside references is
checked the same way, so that the net-log check is seen to catch what it is there to catch.
"""

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from widedeep_bench.reporting.html import report_html

from .html_samples import sample_report

FIGURES_OF_THE_SAMPLE = 6
PASS_GREEN, MATPLOTLIB_BLUE = (0x1F, 0x88, 0x3D), (0x1F, 0x77, 0xB4)  # the PASS cell; the accuracy bars
OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--hide-scrollbars", "--proxy-server=127.0.0.1:9",
           "--host-resolver-rules=MAP * ~NOTFOUND"]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not on PATH: install Debian's chromium (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    page = tmp_path_factory.mktemp("page") / "report.html"
    page.write_text(report_html(sample_report()), encoding="utf-8")
    return page


def open_page(chromium: str, page: Path, *mode: str) -> tuple[str, list[str]]:
    """Chromium's output for ``page`` in ``mode`` (--dump-dom, --screenshot=...), and the URLs of every request
    a document made, from its net log."""
    net_log = page.with_suffix(".netlog.json")
    done = subprocess.run([chromium, *OFFLINE, f"--log-net-log={net_log}", *mode, page.as_uri()],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, document_requests(json.loads(net_log.read_text()))


def document_requests(net_log: dict) -> list[str]:
    """URLs of the requests a document started: Chromium's own have "not an origin" as their initiator."""
    start_job = net_log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    started = [event["params"] for event in net_log["events"] if event["type"] == start_job and "params" in event]
    return [params["url"] for params in started if "url" in params and params.get("initiator") != "not an origin"]


class SvgFigures(HTMLParser):
    """The top-level <svg> elements of a document: their width and height, and how many <path>s each holds."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.depth += 1
            if self.depth == 1:
                self.figures.append({**dict(attrs), "paths": 0})
        elif tag == "path" and self.depth:
            self.figures[-1]["paths"] += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self.depth -= 1


def test_every_figure_is_in_the_rendered_page_with_a_size_and_drawing(chromium, report_page):
    dom, requests = open_page(chromium, report_page, "--dump-dom")
    parser = SvgFigures()
    parser.feed(dom)
    assert len(parser.figures) == FIGURES_OF_THE_SAMPLE
    for figure in parser.figures:
        assert float(figure["width"].removesuffix("pt")) > 0 and float(figure["height"].removesuffix("pt")) > 0
        assert figure["paths"] > 20, figure["aria-label"]
    assert requests == []


def test_the_page_is_painted_with_its_gate_colours_and_figures(chromium, report_page):
    screenshot = report_page.with_suffix(".png")
    _, requests = open_page(chromium, report_page, f"--screenshot={screenshot}", "--window-size=1280,2400")
    rgb = np.round(imread(screenshot)[..., :3] * 255).astype(int)
    pixels = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    assert len(np.unique(pixels)) > 500, "the screenshot is (nearly) blank"
    for red, green, blue in (PASS_GREEN, MATPLOTLIB_BLUE):
        assert (pixels == red << 16 | green << 8 | blue).sum() > 500, (red, green, blue)
    assert requests == []


def test_the_net_log_check_sees_a_page_that_fetches_from_outside(chromium, tmp_path):
    page = tmp_path / "outside.html"
    page.write_text("<!DOCTYPE html><link rel='stylesheet' href='https://fonts.example.invalid/css'>"
                    "<img src='http://example.invalid/plot.png'>")
    _, requests = open_page(chromium, page, "--dump-dom")
    assert sorted(requests) == ["http://example.invalid/plot.png", "https://fonts.example.invalid/css"]
