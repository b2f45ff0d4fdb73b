"""Reading reports: what loads (versions 2 and 3) and the one line for everything that does not."""

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.reporting.load import load_fleet, load_report, machine_label

from .sample_reports import as_version_2, sample_report


def test_a_version_3_and_a_version_2_report_load_as_found(write):
    assert load_report(write(sample_report(), "v3.json"))["report_version"] == 3
    assert load_report(write(as_version_2(sample_report()), "v2.json"))["report_version"] == 2


@pytest.mark.parametrize("content, expected", [
    ("{oops", "not JSON"),
    ("[1, 2]", "not a widedeep_bench report"),
    ('{"report_version": 3}', "not a widedeep_bench report"),
    ('{"report_version": 7, "gates": []}', "report_version 7 is not one this widedeep-bench reads"),
    ('{"gates": []}', "report_version None"),
])
def test_a_file_that_is_not_a_report_is_one_line_naming_the_file(write, content, expected):
    path = write(content)
    with pytest.raises(WidedeepError, match=expected) as raised:
        load_report(path)
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)


@pytest.mark.parametrize("edit, field", [
    (lambda r: r["throughput"]["onnxruntime-fp32/b1024"].pop("samples_per_s"),
     "throughput['onnxruntime-fp32/b1024'].samples_per_s"),
    (lambda r: r["throughput"]["onnxruntime-fp32/b1024"].update(round_seconds=[0.1, -1]), ".round_seconds"),
    (lambda r: r["throughput"]["onnxruntime-fp32/b1024"].update(batch_size=0), ".batch_size"),
    (lambda r: r["accuracy"]["onnxruntime-fp32"].update(auc="high"), "accuracy['onnxruntime-fp32'].auc"),
    (lambda r: r["parity"].update(x=[]), "parity['x']"),
    (lambda r: r.update(throughput=[]), "'throughput' is not a table"),
    (lambda r: r["gates"][1].update(measured=0.1), "gates[1]"),
])
def test_a_damaged_field_is_one_line_naming_it(write, edit, field):
    report = sample_report()
    edit(report)
    with pytest.raises(WidedeepError) as raised:
        load_report(write(report))
    assert field in str(raised.value) and "\n" not in str(raised.value)


def test_a_missing_file_and_a_directory_are_one_line_each(tmp_path):
    with pytest.raises(WidedeepError, match="cannot read"):
        load_report(tmp_path / "absent.json")
    with pytest.raises(WidedeepError, match="is a directory"):
        load_report(tmp_path)


def test_a_fleet_with_a_damaged_member_names_the_member(write):
    fleet = {"fleet_version": 1, "members": [{"label": "a", "source": "a.json", "machine": {},
                                              "report": {"report_version": 9, "gates": []}}]}
    with pytest.raises(WidedeepError, match=r"members\[0\]\.report: report_version 9"):
        load_fleet(write(fleet))


@pytest.mark.parametrize("machine, label", [
    ({"cpu": "AMD EPYC 7763", "hostname": "ci-7"}, "AMD EPYC 7763 / ci-7"),
    ({"cpu": "AMD EPYC 7763"}, "AMD EPYC 7763"),
    ("a string", "unknown machine"),
    ({}, "unknown machine"),
])
def test_a_machine_is_labelled_by_its_cpu_and_host(machine, label):
    assert machine_label(machine) == label
