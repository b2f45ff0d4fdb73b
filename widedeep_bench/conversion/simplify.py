"""Stage 2, simplify: onnxsim, with onnxsim's own before/after check run on valid rows.

onnxsim's check feeds random inputs by default, which for the categorical input means indices
outside the tables; it is given the parity rows instead, so its check exercises real lookups.
"""

from __future__ import annotations

import contextlib
import os
import sys

import onnx

from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import input_roles
from widedeep_bench.progress import quiet

CHECK_ATOL = 1e-5  # onnxsim compares with numpy.allclose(simplified, original, rtol, atol)
CHECK_RTOL = 1e-4


class SimplifiedOnnx:
    """``onnxsim.simplify`` checked on ``check_rows`` (an object with ``categorical`` and ``numeric``)."""

    name = "simplify"

    def __init__(self, check_rows):
        self.check_rows = check_rows

    def __call__(self, model: onnx.ModelProto) -> onnx.ModelProto:
        import onnxsim

        feeds = input_roles(model).feeds(self.check_rows.categorical, self.check_rows.numeric)
        # onnxsim prints its progress on stdout, where the CLI's JSON summary must be the last line.
        with open(os.devnull, "w") if quiet() else contextlib.nullcontext(sys.stderr) as sink, \
                contextlib.redirect_stdout(sink):
            simplified, unchanged = onnxsim.simplify(model, check_n=1, input_data=feeds,
                                                     check_atol=CHECK_ATOL, check_rtol=CHECK_RTOL)
        if not unchanged:
            raise WidedeepError(f"stage 'simplify': onnxsim's own check says the simplified model's outputs "
                                f"differ from its input's on {self.check_rows.numeric.shape[0]} rows "
                                f"(numpy.allclose, rtol {CHECK_RTOL}, atol {CHECK_ATOL})")
        return simplified
