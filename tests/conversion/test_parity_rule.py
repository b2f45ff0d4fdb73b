"""Conversion parity is the suite's one tolerance rule: ``compare()`` with ``TOLERANCES["fp32"]``."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_bench import WidedeepError
from widedeep_bench.compare import TOLERANCES, Tolerance
from widedeep_bench.conversion import convert
from widedeep_bench.conversion.validate import PARITY, stage_parity

pytestmark = pytest.mark.conversion

REFERENCE = np.array([[0.75, 0.25], [0.4, 0.6], [0.999, 0.001]], dtype=np.float32)


def test_the_conversion_tolerance_is_the_fp32_engine_tolerance():
    assert PARITY == TOLERANCES["fp32"]


def test_a_stage_within_atol_passes_and_one_just_outside_fails():
    inside = stage_parity("deploy", REFERENCE.astype(np.float64) + 0.9 * PARITY.atol, REFERENCE)
    outside = stage_parity("deploy", REFERENCE.astype(np.float64) + 1.5 * PARITY.atol, REFERENCE)
    assert inside and not outside
    assert outside.failing == REFERENCE.size and outside.max_abs == pytest.approx(1.5 * PARITY.atol, rel=1e-3)


def test_a_nan_probability_is_an_infinite_error_and_fails():
    actual = REFERENCE.copy()
    actual[1, 0] = np.nan
    parity = stage_parity("simplify", actual, REFERENCE)
    assert not parity and parity.max_abs == np.inf and parity.failing == 1


def test_the_rule_honours_rtol_as_compare_documents():
    actual = REFERENCE.astype(np.float64) * 1.01  # 1% off: about 0.01 absolute at most
    assert not stage_parity("deploy", actual, REFERENCE, Tolerance(atol=0.0, rtol=0.005, why="test"))
    assert stage_parity("deploy", actual, REFERENCE, Tolerance(atol=0.0, rtol=0.011, why="test"))


def test_an_output_of_the_wrong_shape_is_an_error_naming_the_stage():
    with pytest.raises(WidedeepError, match=r"^stage 'dynamic': cannot compare outputs: actual has shape \[3, 1\], "
                                            r"expected \[3, 2\]"):
        stage_parity("dynamic", REFERENCE[:, :1], REFERENCE)


def test_the_tolerance_given_to_convert_judges_every_stage_and_is_recorded(tiny_saved_model, parity_tensors,
                                                                           tmp_path):
    """ORT and TF round float32 differently (about 1e-7), so an atol of 1e-12 fails the very first stage."""
    out = tmp_path / "out"
    with pytest.raises(WidedeepError, match=r"^stage 'export' breaks parity with the TF original: .* outside "
                                            r"atol 1e-12 \+ rtol 0 \* \|tf\|\); it is the first stage"):
        convert(tiny_saved_model, out, parity_rows=parity_tensors.head(8),
                tolerance=Tolerance(atol=1e-12, rtol=0.0, why="tighter than float32 allows"))
    assert not out.exists()
