"""The TF original: the SavedModel's ``serving_default`` signature, run as is (nothing to build).

This is the reference every other runner is compared with, and the throughput peer of the ratio
gates. TensorFlow picks its own thread pools (all cores) at first use; they are process-wide and
cannot be changed per runner, so ``EngineOptions.threads`` does not apply here.
"""

from __future__ import annotations


import numpy as np

from widedeep_bench import layout
from widedeep_bench.engines.base import Runner
from widedeep_bench.errors import WidedeepError
from widedeep_bench.onnx_roles import Roles

SIGNATURE_ROLES = Roles(categorical=layout.CATEGORICAL_KEY, numeric=layout.NUMERIC_KEY, zeros_like=None,
                        output=layout.OUTPUT_KEY)


class TensorflowRunner(Runner):
    name = "tensorflow"
    module_name = "tensorflow"
    precisions = ("fp32",)

    def activate_impl(self) -> Roles:
        tf = self.runtime()
        if self.model is None or not (self.model / "saved_model.pb").is_file():
            raise WidedeepError(f"{self.model}: not a SavedModel directory (no saved_model.pb)")
        self.loaded = tf.saved_model.load(str(self.model), tags=[layout.TAG])
        if layout.SIGNATURE not in self.loaded.signatures:
            raise WidedeepError(f"{self.model}: no signature {layout.SIGNATURE!r}; it has "
                                f"{sorted(self.loaded.signatures)}")
        self.serve = self.loaded.signatures[layout.SIGNATURE]
        specs = self.serve.structured_input_signature[1]
        outputs = sorted(self.serve.structured_outputs)
        expected = sorted([SIGNATURE_ROLES.categorical, SIGNATURE_ROLES.numeric])
        if sorted(specs) != expected or SIGNATURE_ROLES.output not in outputs:
            raise WidedeepError(f"{self.model}: signature {layout.SIGNATURE!r} has inputs {sorted(specs)} and "
                                f"outputs {outputs}; expected inputs {expected} and output "
                                f"{SIGNATURE_ROLES.output}")
        # The keys hold ':' and are no Python identifiers: the function takes them under sanitized
        # names (new_categorical_placeholder_0), and calling it by the keys logs a warning per call.
        parameters = set(self.serve.function_type.parameters)
        self.argument_names = {key: spec.name for key, spec in specs.items()}
        if not set(self.argument_names.values()) <= parameters:
            raise WidedeepError(f"{self.model}: signature {layout.SIGNATURE!r} takes {sorted(parameters)}, "
                                f"not the input names {self.argument_names}")
        return SIGNATURE_ROLES

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        tf = self.runtime()
        outputs = self.serve(**{self.argument_names[name]: tf.constant(value) for name, value in feeds.items()})
        return outputs[SIGNATURE_ROLES.output].numpy()

    def deactivate_impl(self) -> None:
        del self.serve, self.loaded, self.argument_names
