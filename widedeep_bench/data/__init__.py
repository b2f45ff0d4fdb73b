"""Criteo eval data -> model input tensors (SPEC section 4): ``load_eval_tensors(path)``.

Modules: ``criteo_csv`` (the fast reader and the public API), ``csv_input`` (where the bytes come from:
a file, or a FIFO / ``<(...)`` stream read once), ``criteo_fields`` (the line rules),
``csv_diagnosis`` (the exact first-bad-line report), ``hashing`` (FarmHash buckets),
``eval_tensors`` (the tensor container), ``tensor_cache`` (the on-disk cache). pyarrow and
pyfarmhash are imported only when a file is read.
"""

from widedeep_bench.data.criteo_csv import (PREPROCESS_VERSION, EvalTensors, load_eval_tensors,
                                            read_eval_csv)
from widedeep_bench.data.hashing import bucketize

__all__ = ["PREPROCESS_VERSION", "EvalTensors", "bucketize", "load_eval_tensors", "read_eval_csv"]
