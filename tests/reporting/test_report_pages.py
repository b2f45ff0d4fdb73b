"""``widedeep-bench report R.json --markdown OUT.md --html OUT.html``: the summary for a CI step and people."""

import pytest

from .sample_reports import as_version_2, failing, sample_report


def test_the_markdown_puts_the_gate_table_first_then_the_figures(write, cli, tmp_path):
    markdown = tmp_path / "summary.md"
    code, out, err = cli("report", write(sample_report()), "--markdown", markdown)
    assert code == 0, err
    text = markdown.read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.split(" (")[0] for h in headings] == ["## Gates", "## Throughput",
                                                    "## Accuracy against the all-negative baseline", "## Parity",
                                                    "## Environment"]
    assert text.startswith("# widedeep-bench report: PASSED")
    assert "| PASS | accuracy onnxruntime-fp32: Top-1 >= profile floor | 0.7745 | >= 0.77 |" in text
    assert "| onnxruntime-fp32 | 0.77450 | 0.74340 | +0.03110 | 0.79310 |" in text
    assert "| CPU | AMD EPYC 7763 64-Core Processor |" in text and "| accelerators | none |" in text
    assert f"markdown: {markdown}" in out


def test_a_failing_report_still_writes_its_markdown_and_exits_1(write, cli, tmp_path):
    markdown = tmp_path / "summary.md"
    code, _, _ = cli("report", write(failing(sample_report(), "parity")), "--markdown", markdown)
    assert code == 1
    text = markdown.read_text()
    assert text.startswith("# widedeep-bench report: FAILED") and "| **FAIL** | parity" in text


def test_a_version_2_report_says_what_it_did_not_record(write, cli, tmp_path):
    markdown = tmp_path / "summary.md"
    code, _, _ = cli("report", write(as_version_2(sample_report())), "--markdown", markdown)
    assert code == 0 and "| accelerators | not recorded (report_version 2) |" in markdown.read_text()


@pytest.mark.parametrize("option", ["--markdown", "--html"])
def test_an_output_that_cannot_be_written_is_one_line_before_the_report_is_read(write, cli, tmp_path, option):
    code, out, err = cli("report", tmp_path / "absent.json", option, tmp_path)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "is a directory" in err


def test_an_output_naming_the_report_is_refused(write, cli):
    path = write(sample_report())
    code, _, err = cli("report", path, "--markdown", path)
    assert code == 2 and "is one of the inputs" in err


def test_the_html_page_is_written_by_the_report_command(write, cli, tmp_path):
    pytest.importorskip("widedeep_bench.reporting.html")
    page = tmp_path / "report.html"
    code, _, err = cli("report", write(sample_report()), "--html", page)
    assert code == 0, err
    assert "accuracy onnxruntime-fp32: Top-1 &gt;= profile floor" in page.read_text() or \
        "accuracy onnxruntime-fp32: Top-1 >= profile floor" in page.read_text()
