"""Gates record measured value, threshold and verdict; the book's table shows every one."""

import pytest

from widedeep_bench.gates import GateBook


def test_gate_passes_and_fails_on_the_right_side_of_the_threshold():
    book = GateBook()
    assert book.check("floor", 0.746, ">=", 0.745).passed
    assert not book.check("ceiling", 2e-5, "<=", 1e-5).passed
    assert [g.name for g in book.failed] == ["ceiling"]


def test_table_lists_each_gate_with_its_verdict():
    book = GateBook()
    book.check("accuracy onnxruntime-fp32: Top-1 >= profile floor", 0.79, ">=", 0.745)
    book.check("perf onnxruntime-fp32/b1024: samples/s", 1000.0, ">=", 77073.93, unit="samples/s")
    lines = book.table().splitlines()
    assert lines[0].split() == ["gate", "measured", "threshold", "unit", "result"]
    assert lines[1].endswith("pass") and lines[2].endswith("FAIL") and "77073.9" in lines[2]


def test_rechecking_a_gate_replaces_it_and_worker_results_merge():
    book = GateBook()
    book.check("g", 1, ">=", 2)
    book.check("g", 3, ">=", 2)
    assert len(book.results) == 1 and not book.failed
    other = GateBook()
    other.extend([r.as_dict() for r in book.results] + [{**book.results[0].as_dict(), "name": "h", "passed": False}])
    assert [g.name for g in other.failed] == ["h"]


def test_unknown_comparison_is_refused():
    with pytest.raises(ValueError, match="op must be"):
        GateBook().check("g", 1, "==", 1)
