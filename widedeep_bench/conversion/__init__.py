"""SavedModel -> validated, truly dynamic ONNX (and the IxRT 3-input variant), one small stage per module.

==========  ===========================  ==================================================
stage       module                       what it does
==========  ===========================  ==================================================
export      ``export.py``                tf2onnx from ``serving_default`` (or a given ONNX)
simplify    ``simplify.py``              onnxsim, with its own check on valid rows
deploy      ``deploy.py``                MatMul + Add -> Gemm; optionally cut zeros_like
dynamic     ``dynamic.py``               symbolic ``batch`` / ``cat_rows`` dims; IxRT names
==========  ===========================  ==================================================

Every stage is checked by ``validate.py`` (full checker, parity with the TF original) and
``divergence.py`` names the first diverging node when parity breaks; ``pipeline.convert`` chains
them and ``cached.cached_conversion`` reuses finished conversions.
"""

from widedeep_bench.conversion.cached import cached_conversion, conversion_key
from widedeep_bench.conversion.opset import default_opset
from widedeep_bench.conversion.pipeline import ConversionResult, convert, default_stages
from widedeep_bench.conversion.validate import StageRecord

__all__ = ["ConversionResult", "StageRecord", "cached_conversion", "conversion_key",
           "convert", "default_opset", "default_stages"]
