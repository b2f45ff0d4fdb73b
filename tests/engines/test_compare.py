"""``compare``: one rule, |a - b| <= atol + rtol * |b|, and a result that says by how much."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench.compare import TOLERANCES, compare
from widedeep_bench.errors import WidedeepError
from widedeep_bench.precision import PRECISIONS


def probabilities(p1) -> np.ndarray:
    p1 = np.asarray(p1, np.float64)
    return np.stack([1 - p1, p1], axis=1)


def test_identical_outputs_pass_with_zero_error():
    expected = probabilities([0.1, 0.5, 0.9])
    result = compare(expected.copy(), expected, atol=0.0)
    assert result and result.max_abs == 0.0 and result.required_atol == 0.0 and result.failing == 0


def test_an_error_just_inside_atol_passes_and_just_outside_fails():
    expected = probabilities([0.2, 0.4])
    actual = probabilities([0.2, 0.4 + 1e-5])
    assert compare(actual, expected, atol=1.01e-5)
    failed = compare(actual, expected, atol=0.99e-5)
    assert not failed
    assert failed.failing == 2  # both columns of row 1 moved by 1e-5
    assert failed.required_atol == pytest.approx(1e-5)


def test_rtol_scales_with_the_expected_magnitude():
    expected = np.array([1.0, 100.0])
    actual = np.array([1.05, 105.0])
    result = compare(actual, expected, atol=0.0, rtol=0.05 + 1e-12)
    assert result
    assert result.max_rel == pytest.approx(0.05)
    assert result.required_atol == 0.0  # rtol alone covers both
    assert not compare(actual, expected, atol=0.0, rtol=0.04)


def test_statistics_and_worst_rows_describe_the_error():
    expected = probabilities(np.linspace(0.1, 0.9, 200))
    actual = expected.copy()
    actual[17] += [-0.003, 0.003]
    actual[150] += [0.001, -0.001]
    result = compare(actual, expected, atol=1e-2)
    assert result.max_abs == pytest.approx(0.003)
    assert result.mean_abs == pytest.approx((2 * 0.003 + 2 * 0.001) / 400)
    assert result.median_abs == 0.0
    assert [row.row for row in result.worst_rows[:2]] == [17, 150]
    assert result.worst_rows[0].abs_error == pytest.approx(0.003)
    assert result.worst_rows[0].expected == pytest.approx(expected[17].tolist())
    assert "PASS" in str(result) and "0.003" in str(result)


def test_nan_in_the_engine_output_fails():
    expected = probabilities([0.3, 0.6])
    actual = expected.copy()
    actual[1, 1] = np.nan
    result = compare(actual, expected, atol=1.0)
    assert not result
    assert result.max_abs == np.inf and result.failing == 1


def test_shapes_must_match():
    with pytest.raises(WidedeepError, match=r"actual has shape \[3, 2\], expected \[4, 2\]"):
        compare(np.zeros((3, 2)), np.zeros((4, 2)), atol=1.0)


def test_a_reference_with_nan_is_refused():
    with pytest.raises(WidedeepError, match="reference output holds NaN"):
        compare(np.zeros(2), np.array([0.0, np.nan]), atol=1.0)


def test_every_precision_has_a_documented_absolute_tolerance():
    assert set(TOLERANCES) == set(PRECISIONS) == {"fp32", "fp16", "bf16", "int8"}
    assert TOLERANCES["fp32"].atol == 1e-5
    # Coarser arithmetic, looser bound: 23, 10 and 7 stored significand bits, then 256 levels per Gemm input.
    assert TOLERANCES["fp32"].atol < TOLERANCES["fp16"].atol < TOLERANCES["bf16"].atol < TOLERANCES["int8"].atol
    assert TOLERANCES["int8"].atol < 0.9  # every bucket off by one (0.9) still fails INT8 parity
    assert all(t.rtol == 0.0 and t.why for t in TOLERANCES.values())


def test_a_failure_message_names_the_worst_rows_and_the_tolerance_that_would_pass():
    expected = probabilities(np.linspace(0.1, 0.9, 200))
    actual = expected.copy()
    actual[42] += [-0.02, 0.02]
    message = str(compare(actual, expected, atol=1e-5))
    assert message.startswith("FAIL (2 of 400 elements)")
    assert "needs atol >= 0.02" in message and "p99" in message
    assert "worst rows:\n  row 42: actual" in message


def test_the_error_histogram_bins_every_nonzero_error_on_log10_edges_and_counts_zeros_apart():
    expected = probabilities(np.linspace(0.1, 0.9, 100))
    actual = expected.copy()
    actual[:10, 1] += 3e-7  # 10 small errors
    actual[10:13, 0] -= 2e-3  # 3 large ones
    histogram = compare(actual, expected, atol=1e-2).histogram
    edges, counts = np.array(histogram.edges), np.array(histogram.counts)
    assert len(edges) == len(counts) + 1 and np.all(np.diff(edges) > 0)
    # log10-spaced: 5 bins a decade, from the decade below the smallest error to the one above the largest
    assert np.allclose(np.diff(np.log10(edges)), 0.2) and edges[0] <= 3e-7 and edges[-1] >= 2e-3
    assert histogram.zeros == 200 - 13 and histogram.nonfinite == 0 and histogram.unit == "absolute error"
    assert counts.sum() + histogram.zeros == 200
    small, large = (np.searchsorted(edges, error, side="right") - 1 for error in (3e-7, 2e-3))
    assert counts[small] == 10 and counts[large] == 3 and counts.sum() == 13


def test_histograms_of_different_comparisons_share_their_bin_edges():
    expected = probabilities([0.2, 0.4, 0.6])
    wide = compare(expected + [[1e-8, -1e-8], [0, 0], [1e-3, -1e-3]], expected, atol=1.0).histogram
    narrow = compare(expected + [[1e-6, -1e-6], [0, 0], [1e-5, -1e-5]], expected, atol=1.0).histogram
    assert set(np.round(np.log10(narrow.edges), 9)) <= set(np.round(np.log10(wide.edges), 9))


def test_identical_outputs_have_no_bins_only_zeros_and_nan_counts_as_nonfinite():
    expected = probabilities([0.1, 0.5, 0.9])
    same = compare(expected.copy(), expected, atol=0.0).histogram
    assert same.edges == [] and same.counts == [] and same.zeros == 6
    broken = expected.copy()
    broken[1, 1] = np.nan
    histogram = compare(broken, expected, atol=1.0).histogram
    assert histogram.nonfinite == 1 and histogram.zeros == 5 and histogram.counts == []


def test_a_comparison_as_a_dict_carries_its_histogram_as_json():
    import json

    expected = probabilities([0.1, 0.5])
    saved = json.loads(json.dumps(compare(expected + 1e-6, expected, atol=1.0).as_dict()))
    assert sum(saved["histogram"]["counts"]) + saved["histogram"]["zeros"] == saved["elements"] == 4
