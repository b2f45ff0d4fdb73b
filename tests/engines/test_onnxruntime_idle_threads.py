"""ONNX Runtime's idle intra-op threads block rather than spin, so they never take a core from what runs next.

A spinning pool keeps a core busy for tens of ms after each run: timed in alternating rounds with the TF
original, it slowed TF and lifted the paired ORT / TF ratio by about a third on a 2-core machine.
"""

from __future__ import annotations

import pytest

from widedeep_bench.engines import make_runner

pytest.importorskip("onnxruntime")


def test_the_session_does_not_let_idle_threads_spin(converted_onnx):
    with make_runner("onnxruntime", converted_onnx) as runner:
        options = runner.session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
