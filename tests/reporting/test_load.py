"""Reading reports: what loads (versions 2 and 3) and the one line for everything that does not."""

import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.reporting.load import load_fleet, load_report, machine_label, report_verdict

from .sample_reports import as_version_2, failing, sample_report


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


PARITY_CASE = "onnxruntime-fp32/b1024 vs tensorflow"


def _parity(report):
    return report["parity"][PARITY_CASE]


@pytest.mark.parametrize("edit, field", [
    (lambda r: _parity(r).update(histogram={"edges": [], "counts": [5]}), ".histogram: 0 edges for 1 counts"),
    (lambda r: _parity(r).update(histogram={"edges": [1e-9, 1e-8], "counts": [5, 6]}), ".histogram: 2 edges"),
    (lambda r: _parity(r).update(histogram=None), ".histogram: expected a table"),
    (lambda r: _parity(r)["histogram"].update(counts=[300, -1, 200]), ".histogram.counts"),
    (lambda r: _parity(r)["histogram"].update(counts=[300, 1.5, 200]), ".histogram.counts"),
    (lambda r: _parity(r)["histogram"].update(edges=[1e-9, 1e-7, 1e-8, 1e-6]), ".histogram.edges"),
    (lambda r: _parity(r)["histogram"].update(zeros=None), ".histogram.zeros"),
    (lambda r: _parity(r)["histogram"].update(nonfinite=-2), ".histogram.nonfinite"),
    (lambda r: _parity(r).update(atol=None), f"parity[{PARITY_CASE!r}].atol"),
    (lambda r: r["machine"].update(accelerators="NVIDIA H200"), "machine.accelerators: expected a list"),
    (lambda r: r["machine"].update(accelerators=[{"name": "NVIDIA H200", "memory_mib": 1}]), "accelerators[0]"),
    (lambda r: r["machine"].update(accelerators=[{"name": "H200", "driver": "560", "memory_mib": "big"}]),
     "accelerators[0]"),
    (lambda r: r["machine"].update(cpu_flags="avx avx2"), "machine.cpu_flags"),
    (lambda r: r["machine"].update(accelerator_problems=[3]), "machine.accelerator_problems"),
    (lambda r: r["throughput"]["onnxruntime-fp32/b1024"].update(median_ms="fast"), ".median_ms"),
    (lambda r: r["accuracy"]["onnxruntime-fp32"].update(all_negative_top1="0.7"), ".all_negative_top1"),
])
def test_a_field_the_pages_would_trip_on_is_one_line_naming_the_file_and_field(write, edit, field):
    report = sample_report()
    edit(report)
    path = write(report)
    with pytest.raises(WidedeepError) as raised:
        load_report(path)
    assert str(raised.value).startswith(str(path)) and field in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("edit", [
    lambda r: _parity(r).update(histogram={"edges": [], "counts": [], "zeros": 2048, "nonfinite": 0,
                                           "unit": "absolute error"}),
    lambda r: r["machine"].update(accelerator_problems=["nvidia-smi: exit 9"]),
    lambda r: r["machine"].update(accelerators=[{"name": "NVIDIA H200", "driver": "560.35.03", "memory_mib": None,
                                                 "source": "nvidia-smi"}]),
    lambda r: r.update(machine=None),
    lambda r: r.update(machine="x"),  # shown as unknown (machine_of)
])
def test_what_the_suite_writes_still_loads(write, edit):
    report = sample_report()
    edit(report)
    assert load_report(write(report))["report_version"] == 3


def test_the_verdict_is_judged_from_the_gates_not_the_saved_passed_field():
    lie = failing(sample_report(), "accuracy")
    lie["passed"] = True
    passed, reasons = report_verdict(lie, "lie.json")
    assert not passed and reasons == ["1 gate(s) failed: ['accuracy onnxruntime-fp32: Top-1 >= profile floor']"]
    assert report_verdict(sample_report(), "ok.json") == (True, [])
    assert report_verdict(sample_report(passed=False), "x.json") == (False, ["the run itself did not pass: passed "
                                                                           "is not true"])
