"""A runner's probabilities over a whole eval set, and an on-disk cache for reference probabilities.

The TF original's probabilities on 2 M rows take about a minute; they are computed once per
(model, eval file, rows) and shared through the cache by ``prepare``, every test and every xdist worker.
Entry: ``cache_root()/probabilities/<key>/probabilities.npy``, a ``cache_entry.verified_entry``: checked
against the digest recorded when it was written before every use, rebuilt when it differs.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from widedeep_bench.cache import cache_root
from widedeep_bench.cache_entry import verified_entry
from widedeep_bench.progress import progress


def run_batches(runner, tensors, batch_size: int) -> np.ndarray:
    """``runner`` over every full batch of ``tensors`` (the partial batch dropped): ``[rows, 2]`` float32."""
    full = tensors.rows - tensors.rows % batch_size
    out = np.empty((full, 2), np.float32)
    with progress(desc=f"{runner.name} {runner.options.precision}: inferring {full:,} rows", total=full,
                  unit="rows", unit_scale=True) as bar:
        for start, batch in zip(range(0, full, batch_size), tensors.batches(batch_size)):
            out[start:start + batch_size] = runner.infer(batch.categorical, batch.numeric)
            bar.update(batch_size)
    return out


def tensors_identity(tensors) -> dict:
    """What determines an ``EvalTensors``' contents: its file's digest, the preprocessing code's version and
    the row count. Part of every cached-probabilities key, so a preprocessing fix never reuses stale outputs."""
    from widedeep_bench.data.criteo_csv import PREPROCESS_VERSION

    return {"eval": tensors.sha256, "preprocess_version": PREPROCESS_VERSION, "rows": tensors.rows}


def cached_probabilities(identity: dict, compute) -> np.ndarray:
    """``compute()`` once per ``identity`` (model hash, eval hash, rows, runtime version...), then from the
    cache: ``[rows, 2]`` float32."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:40]

    def build(directory):
        np.save(directory / "probabilities.npy", np.asarray(compute(), np.float32))

    entry = verified_entry(cache_root() / "probabilities" / digest, build, expect={"identity": identity})
    return np.load(entry.directory / "probabilities.npy")
