"""The null runner: validates the feed like every runner, then returns a constant.

Its time per batch is the harness's own overhead (feed validation, role mapping, output checks),
the floor beside every throughput figure.
"""

from __future__ import annotations

import numpy as np

import widedeep_bench
from widedeep_bench.engines.base import Runner
from widedeep_bench.engines.tensorflow import SIGNATURE_ROLES
from widedeep_bench.onnx_roles import Roles

CONSTANT = (0.5, 0.5)  # p(no click), p(click)


class NullRunner(Runner):
    name = "null"
    module_name = "numpy"

    @classmethod
    def version(cls) -> str:
        return widedeep_bench.__version__

    def activate_impl(self) -> Roles:
        return SIGNATURE_ROLES

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        samples = feeds[SIGNATURE_ROLES.numeric].shape[0]
        return np.tile(np.asarray(CONSTANT, np.float32), (samples, 1))

    def deactivate_impl(self) -> None:
        pass
