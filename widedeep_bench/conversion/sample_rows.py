"""Valid model inputs drawn at random, for parity checks when no eval.csv is given.

Each sample has the 26 fields in order with a bucket drawn Zipf-like (a few buckets per field are
frequent, as hashed Criteo values are) and 13 numeric values in [0, 1] (min-max normalised).
"""

from __future__ import annotations

import hashlib

import numpy as np

from widedeep_bench import layout
from widedeep_bench.data.eval_tensors import EvalTensors

ZIPF_EXPONENT = 1.2


def sample_eval_tensors(rows: int, seed: int) -> EvalTensors:
    """``rows`` unlabelled samples: ``categorical [26*rows, 2] int64``, ``numeric [rows, 13] float32``."""
    rng = np.random.default_rng(seed)
    ranks = (rng.zipf(ZIPF_EXPONENT, size=(rows, layout.NUM_FIELDS)) - 1) % layout.BUCKETS
    # Each field hashes its frequent values to different buckets.
    bucket_of_rank = np.stack([rng.permutation(layout.BUCKETS) for _ in range(layout.NUM_FIELDS)])
    buckets = bucket_of_rank[np.arange(layout.NUM_FIELDS), ranks]
    fields = np.broadcast_to(np.arange(layout.NUM_FIELDS), (rows, layout.NUM_FIELDS))
    categorical = np.stack([fields, buckets], axis=-1).reshape(-1, 2).astype(np.int64)
    numeric = rng.random((rows, layout.NUM_NUMERIC), dtype=np.float32)
    digest = hashlib.sha256(categorical.tobytes() + numeric.tobytes()).hexdigest()
    return EvalTensors(categorical=categorical, numeric=numeric, labels=None,
                       source=f"sample_eval_tensors(rows={rows}, seed={seed})", sha256=digest)
