"""widedeep_bench: conformance and benchmark suite for Wide & Deep (Criteo CTR) inference.

Importing the package needs only NumPy; TensorFlow, ONNX and the runtimes are imported where used.
"""

from widedeep_bench.errors import WidedeepError

__version__ = "0.1.0"
__all__ = ["WidedeepError", "__version__"]
