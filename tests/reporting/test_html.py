"""The HTML page of a report and of a fleet: what a reader sees first, what it draws, and that it stands alone."""

import html
import re

import pytest

from widedeep_bench.reporting.html import fleet_html, report_html

from .html_samples import sample_fleet, sample_report, version_2

FIGURES_OF_THE_SAMPLE = 6  # throughput, latency, one Diff Dist per parity case (2), accuracy, scenarios
OUTSIDE_REFERENCES = ("http://", "https://", "//", "<script", "@import", "<link", "url(http", "src=")


@pytest.fixture(scope="module")
def page() -> str:
    return report_html(sample_report())


def test_the_gate_table_comes_before_the_first_figure(page):
    assert page.index("<table class='gates'>") < page.index("<svg")


def test_every_gate_is_shown_with_its_status_measured_value_and_threshold(page):
    for gate in sample_report()["gates"]:
        row = re.search(rf"<tr><td class='status [A-Z-]+'>{re.escape(gate['status'])}</td><td>"
                        rf"{re.escape(html.escape(gate['name']))}.*?</tr>", page)
        assert row, gate["name"]
        assert html.escape(gate["method"]) in row.group(0)
        if gate["measured"] is not None:
            assert f"{gate['threshold']:,.6g}" in row.group(0)
    assert "class='status NOT-RUN'>NOT RUN<" in page and "tensorrt not importable" in page


def test_each_section_draws_its_figure_as_inline_svg(page):
    figures = re.findall(r"<svg [^>]*aria-label=\"([^\"]+)\"", page)
    assert len(figures) == FIGURES_OF_THE_SAMPLE
    assert figures[:2] == ["throughput against batch size", "latency distribution per perf case"]
    assert "parity error distribution: onnxruntime-int8/b1024 vs onnxruntime-fp32" in figures
    assert figures[-2:] == ["accuracy per engine", "LoadGen scenario results"]


def test_the_page_refers_to_nothing_outside_itself(page):
    for reference in OUTSIDE_REFERENCES:
        assert reference not in page, reference


def test_two_figures_on_one_page_share_no_id(page):
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) > 100 and len(ids) == len(set(ids))


def test_the_same_report_gives_the_same_page(page):
    assert report_html(sample_report()) == page


def test_the_environment_names_the_machine_its_accelerator_versions_command_and_commit(page):
    environment = page[page.index("<h2>Environment</h2>"):]
    for shown in ("AMD EPYC 9654", "avx512f", "NVIDIA H200 (driver 560.35.03, 143771 MiB, nvidia-smi)",
                  "onnxruntime 1.32.0", "widedeep-bench test --wd-report out/report.json",
                  "45685647e1c4d63296dfdffeb010dcef7f885d2d", "2025-06-01T12:00:00+00:00"):
        assert shown in environment, shown


def test_a_version_2_report_draws_what_it_has_and_says_what_it_did_not_record():
    page = report_html(version_2(sample_report()))
    figures = re.findall(r"<svg [^>]*aria-label=\"([^\"]+)\"", page)
    assert figures == ["throughput against batch size", "accuracy per engine", "LoadGen scenario results"]
    assert "latency distribution per perf case: not recorded in this report (version 2)" in page
    assert "parity error distribution: onnxruntime-fp32/b1024 vs tensorflow-fp32: not recorded in this report (version 2)" in page
    assert "<dt>accelerators</dt><dd><code>not recorded in this report (version 2)</code>" in page


def test_a_bit_exact_engine_has_no_error_to_draw_and_the_page_says_why():
    report = sample_report()
    case = sorted(report["parity"])[0]
    elements = report["parity"][case]["elements"]
    report["parity"][case]["histogram"] = {"edges": [], "counts": [], "zeros": elements, "nonfinite": 0,
                                           "unit": "absolute error"}
    page = report_html(report)
    assert f"parity error distribution: {html.escape(case)}: nothing to draw: {elements} errors exactly 0, 0 not " \
           f"finite" in page


def test_a_report_of_no_perf_case_says_so_instead_of_drawing():
    report = sample_report()
    report["throughput"] = {}
    page = report_html(report)
    assert "throughput against batch size: no perf case ran" in page
    assert "latency distribution per perf case: no perf case ran" in page


def test_text_from_the_report_is_shown_literally_not_as_markup():
    report = sample_report()
    report["gates"][0]["name"] = "parity <b>bold</b> & co"
    report["command"] = ["widedeep-bench", "test", "<script>alert(1)</script>"]
    page = report_html(report)
    assert "parity &lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page


def test_the_fleet_page_draws_samples_per_second_per_case_across_both_machines():
    fleet = sample_fleet()
    page = fleet_html(fleet)
    labels = [member["label"] for member in fleet["members"]]
    chart = re.findall(r"<svg [^>]*aria-label=\"([^\"]+)\"", page)
    assert chart == [f"samples/s per perf case on {labels[0]}, {labels[1]}"]
    rates = page[page.index("<th>samples/s</th>"):]
    assert all(f"<th>{label}</th>" in rates for label in labels)
    first = fleet["members"][0]["report"]["throughput"]["onnxruntime-fp32/b1024"]["samples_per_s"]
    second = fleet["members"][1]["report"]["throughput"]["onnxruntime-fp32/b1024"]["samples_per_s"]
    assert f"<tr><td>onnxruntime-fp32/b1024</td><td class='num'>{first:,.0f}</td><td class='num'>{second:,.0f}</td>" in rates
    for reference in OUTSIDE_REFERENCES:
        assert reference not in page, reference
