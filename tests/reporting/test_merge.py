"""``widedeep-bench merge R1 R2 --out FLEET.json``: several machines' runs in one fleet and one table."""

import json
import re

import pytest

from widedeep_bench.reporting.load import load_fleet

from .sample_reports import MACHINE, MEDIANS, failing, sample_report

XEON = dict(MACHINE, cpu="Intel Xeon Platinum 8480+", hostname="runner-b", cpu_flags=["avx512f"], logical_cpus=8)


def test_a_fleet_of_two_machines_has_two_labelled_members_and_a_row_per_case_and_machine(write, cli, tmp_path):
    fleet_path = tmp_path / "fleet.json"
    code, out, err = cli("merge", write(sample_report(seed=1), "epyc.json"),
                         write(sample_report(seed=2, machine=XEON), "xeon.json"), "--out", fleet_path)
    assert code == 0, err
    fleet = load_fleet(fleet_path)
    labels = [member["label"] for member in fleet["members"]]
    assert labels == ["AMD EPYC 7763 64-Core Processor / runner-a", "Intel Xeon Platinum 8480+ / runner-b"]
    assert [member["machine"]["cpu"] for member in fleet["members"]] == [MACHINE["cpu"], XEON["cpu"]]
    table = out.splitlines()[1:-1]
    for case in MEDIANS:
        rows = [line for line in table if line.startswith(case + " ")]
        assert len(rows) == 2 and any(labels[0] in row for row in rows) and any(labels[1] in row for row in rows)
    assert json.loads(out.splitlines()[-1])["members"] == labels


def test_two_machines_that_read_the_same_get_distinct_labels(write, cli, tmp_path):
    code, _, _ = cli("merge", write(sample_report(seed=1), "a.json"), write(sample_report(seed=2), "b.json"),
                     "--out", tmp_path / "fleet.json")
    labels = [m["label"] for m in load_fleet(tmp_path / "fleet.json")["members"]]
    assert code == 0 and labels[1] == labels[0] + " #2"


def test_one_report_makes_a_fleet_of_one(write, cli, tmp_path):
    code, _, _ = cli("merge", write(sample_report()), "--out", tmp_path / "fleet.json")
    assert code == 0 and len(load_fleet(tmp_path / "fleet.json")["members"]) == 1


def test_the_fleet_markdown_has_every_case_on_every_machine(write, cli, tmp_path):
    markdown = tmp_path / "fleet.md"
    code, _, _ = cli("merge", write(sample_report(seed=1), "a.json"),
                     write(sample_report(seed=2, machine=XEON), "b.json"), "--out", tmp_path / "fleet.json",
                     "--markdown", markdown)
    text = markdown.read_text()
    assert code == 0 and "| onnxruntime-fp32/b1024 | Intel Xeon Platinum 8480+ / runner-b |" in text


def test_an_unreadable_report_stops_the_merge_in_one_line_naming_it_and_writes_nothing(write, cli, tmp_path):
    code, _, err = cli("merge", write(sample_report(), "good.json"), write("{oops", "bad.json"),
                       "--out", tmp_path / "fleet.json")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bad.json: not JSON" in err
    assert not (tmp_path / "fleet.json").exists()


def test_the_same_report_twice_is_refused(write, cli, tmp_path):
    path = write(sample_report())
    code, _, err = cli("merge", path, path, "--out", tmp_path / "fleet.json")
    assert code == 2 and "given twice" in err


def test_an_out_that_names_an_input_is_refused_before_anything_is_read(write, cli):
    path = write(sample_report())
    before = path.read_text()
    code, _, err = cli("merge", path, "--out", path)
    assert code == 2 and "is one of the inputs" in err and path.read_text() == before


def test_the_fleet_page_is_written_with_the_fleet(write, cli, tmp_path):
    pytest.importorskip("widedeep_bench.reporting.html")
    page = tmp_path / "fleet.html"
    code, _, err = cli("merge", write(sample_report(seed=1), "a.json"),
                       write(sample_report(seed=2, machine=XEON), "b.json"), "--out", tmp_path / "fleet.json",
                       "--html", page)
    assert code == 0, err
    assert "Intel Xeon Platinum 8480+" in page.read_text()


def test_a_member_without_throughput_gets_its_page_with_the_fleet(write, cli, tmp_path):
    pytest.importorskip("widedeep_bench.reporting.html")
    fleet_path, page = tmp_path / "fleet.json", tmp_path / "fleet.html"
    code, _, err = cli("merge", write(sample_report(throughput=None), "a.json"),
                       write(sample_report(seed=2, machine=XEON), "b.json"), "--out", fleet_path, "--html", page)
    assert code == 0, err
    assert fleet_path.exists() and "Intel Xeon Platinum 8480+" in page.read_text()


def test_a_page_that_cannot_be_made_leaves_no_fleet_without_it(write, cli, tmp_path, monkeypatch):
    from widedeep_bench.errors import WidedeepError
    from widedeep_bench.reporting import html

    def refuse(fleet):
        raise WidedeepError("fleet page: cannot be drawn")
    monkeypatch.setattr(html, "fleet_html", refuse)
    code, _, err = cli("merge", write(sample_report()), "--out", tmp_path / "fleet.json",
                       "--markdown", tmp_path / "fleet.md", "--html", tmp_path / "fleet.html")
    assert code == 2 and "cannot be drawn" in err
    assert not any((tmp_path / name).exists() for name in ("fleet.json", "fleet.md", "fleet.html"))


def test_a_member_whose_passed_field_lies_fails_in_the_fleet(write, cli, tmp_path):
    pytest.importorskip("widedeep_bench.reporting.html")
    lie = failing(sample_report(seed=2, machine=XEON), "accuracy")
    lie["passed"] = True
    page, markdown = tmp_path / "fleet.html", tmp_path / "fleet.md"
    code, _, err = cli("merge", write(sample_report(seed=1), "a.json"), write(lie, "b.json"),
                       "--out", tmp_path / "fleet.json", "--html", page, "--markdown", markdown)
    assert code == 0, err
    assert re.findall(r"verdict (PASS|FAIL)", page.read_text()) == ["PASS", "FAIL"]
    assert "| Intel Xeon Platinum 8480+ / runner-b | " in markdown.read_text()
    assert [line.rsplit("|", 2)[1].strip() for line in markdown.read_text().splitlines()
            if line.startswith("| ") and "json |" in line] == ["yes", "**no**"]
