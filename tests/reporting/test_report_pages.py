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


def passed_lie() -> dict:
    """A report whose accuracy gate FAILs while its ``passed`` field, hand-edited, says true."""
    report = failing(sample_report(), "accuracy")
    report["passed"] = True
    return report


def test_a_report_whose_passed_field_lies_fails_on_every_page_and_in_the_exit_code(write, cli, tmp_path):
    pytest.importorskip("widedeep_bench.reporting.html")
    page, markdown = tmp_path / "report.html", tmp_path / "report.md"
    code, _, _ = cli("report", write(passed_lie()), "--html", page, "--markdown", markdown)
    assert code == 1
    assert "<span class='verdict FAIL'>FAIL</span>" in page.read_text() and "verdict PASS" not in page.read_text()
    assert "1 gate(s) failed" in page.read_text()
    assert markdown.read_text().startswith("# widedeep-bench report: FAILED")


PARITY_CASE = "onnxruntime-fp32/b1024 vs tensorflow"


@pytest.mark.parametrize("edit, field", [
    (lambda r: r["parity"][PARITY_CASE].update(histogram={"edges": [], "counts": [5]}), "histogram"),
    (lambda r: r["parity"][PARITY_CASE].update(histogram={"edges": [1e-9, 1e-8], "counts": [5, 6]}), "histogram"),
    (lambda r: r["parity"][PARITY_CASE].update(histogram=None), "histogram"),
    (lambda r: r["parity"][PARITY_CASE].update(atol=None), "atol"),
    (lambda r: r["machine"].update(accelerators=[{"name": "NVIDIA H200", "memory_mib": 1, "source": "nvidia-smi"}]),
     "accelerators[0]"),
])
def test_a_report_the_pages_would_trip_on_is_one_line_and_writes_no_page(write, cli, tmp_path, edit, field):
    pytest.importorskip("widedeep_bench.reporting.html")
    report = sample_report()
    edit(report)
    path = write(report)
    code, out, err = cli("report", path, "--html", tmp_path / "r.html", "--markdown", tmp_path / "r.md")
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(path) in err and field in err, err
    assert "Traceback" not in err and not (tmp_path / "r.html").exists() and not (tmp_path / "r.md").exists()


@pytest.mark.parametrize("machine", ["x", None, 3])
def test_a_machine_that_is_not_a_table_is_shown_as_unknown_on_every_page(write, cli, tmp_path, machine):
    pytest.importorskip("widedeep_bench.reporting.html")
    page, markdown = tmp_path / "r.html", tmp_path / "r.md"
    code, _, err = cli("report", write(sample_report(machine=machine)), "--html", page, "--markdown", markdown)
    assert code == 0, err
    assert "<dt>CPU</dt><dd><code>? (? logical CPUs, )</code>" in page.read_text()
    assert "unknown machine, created" in markdown.read_text()
