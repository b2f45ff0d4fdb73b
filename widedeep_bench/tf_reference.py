"""The TF original's outputs for a whole set of rows: its ``serving_default`` signature, batch by batch.

It runs the ``tensorflow`` runner, so it sits above ``engines``: the conversion's parity check, the
suite's reference and ``prepare`` use it; ``model`` (the weights) and ``engines`` never do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.progress import progress, say


def tf_probabilities(saved_model_dir, categorical: np.ndarray, numeric: np.ndarray, *,
                     batch_size: int = 16384) -> np.ndarray:
    """``[N, 2]`` float32 probabilities of the SavedModel at ``saved_model_dir`` for
    ``categorical [26*N, 2] int64`` and ``numeric [N, 13] float32``, run in batches of ``batch_size``
    samples (the last one may be smaller) by the ``tensorflow`` runner, which checks the model's
    signature and every batch's feed."""
    from widedeep_bench.engines import make_runner

    samples = layout.check_feed(categorical, numeric)  # the whole feed, so that no row is left out of the batches
    out = np.empty((samples, 2), np.float32)
    with make_runner("tensorflow", saved_model_dir) as runner:
        for start in progress(range(0, samples, batch_size), desc="TF original", unit="batch"):
            stop = min(start + batch_size, samples)
            out[start:stop] = runner.infer(categorical[layout.NUM_FIELDS * start:layout.NUM_FIELDS * stop],
                                           numeric[start:stop])
    return out


def tf_reference_probabilities(saved_model_dir, tensors) -> np.ndarray:
    """The TF original's ``[rows, 2]`` probabilities on ``tensors`` (an ``EvalTensors``), computed once.

    Cached by the SavedModel's tree digest, the tensors' identity (eval file digest, preprocessing
    version, rows) and the TF version,
    so ``prepare``, the conformance suite and every xdist worker share one computation.
    """
    import tensorflow as tf

    from widedeep_bench.digests import tree_sha256
    from widedeep_bench.probabilities import cached_probabilities, tensors_identity

    identity = {"reference": "tensorflow", "model": tree_sha256(Path(saved_model_dir)),
                "runner_version": tf.__version__, **tensors_identity(tensors)}
    return cached_probabilities(identity, lambda: tf_probabilities(saved_model_dir, tensors.categorical,
                                                                   tensors.numeric))


def tf_original_metrics(saved_model: Path, eval_csv: Path) -> dict:
    """Top-1 / AUC / log loss / positive rate / rows of the SavedModel on ``eval_csv``.

    Scored as ByteMLPerf does (``metrics.accuracy_rows``: whole batches of 1024 only); the probabilities
    come from ``tf_reference_probabilities`` (cached), so a changed file is evaluated again.
    """
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.metrics import accuracy, accuracy_rows

    scored = accuracy_rows(load_eval_tensors(eval_csv))
    say(f"evaluating the TF original {saved_model} on {scored.rows} rows of {eval_csv}")
    return accuracy(tf_reference_probabilities(saved_model, scored), scored.labels).as_dict()
