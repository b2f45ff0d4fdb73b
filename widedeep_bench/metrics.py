"""Accuracy metrics exactly as ByteMLPerf computes them (SPEC section 5), plus AUC and log loss.

All take ``probabilities [N, 2]`` (column 1 = click) and ``labels [N]`` in {0, 1}.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from widedeep_bench.errors import WidedeepError

ACCURACY_BATCH = 1024  # SPEC sections 4-5: the accuracy run uses batch 1024 and drops the final partial batch


def whole_batches(tensors):
    """Every whole batch of ``ACCURACY_BATCH`` rows of an ``EvalTensors`` (the final partial batch dropped)."""
    scored = tensors.rows - tensors.rows % ACCURACY_BATCH
    if scored == 0:
        raise WidedeepError(f"{tensors.source}: {tensors.rows} rows; the accuracy run scores whole batches of "
                            f"{ACCURACY_BATCH} rows, so it needs at least {ACCURACY_BATCH}")
    return tensors.head(scored)


def accuracy_rows(tensors):
    """The rows an accuracy run scores: ``whole_batches`` of a labelled ``EvalTensors``."""
    if tensors.labels is None:
        raise WidedeepError(f"{tensors.source}: no label column (39 fields per line); Top-1 and AUC need a "
                            "labelled eval CSV (40 fields: label, I1..I13, C1..C26)")
    return whole_batches(tensors)


def _check(probabilities: np.ndarray, labels: np.ndarray) -> None:
    """``probabilities [N, 2]`` and ``labels [N]`` in {0, 1}; a ``[N, 1]`` label array would broadcast."""
    if labels.ndim != 1:
        raise WidedeepError(f"labels must be [N], got shape {list(labels.shape)}")
    strange = np.setdiff1d(labels, (0, 1))
    if strange.size:
        raise WidedeepError(f"labels must be 0 or 1, got {strange[:5].tolist()}")
    if probabilities.ndim != 2 or probabilities.shape[1] != 2 or probabilities.shape[0] != labels.shape[0]:
        raise WidedeepError(f"probabilities must be [N, 2] with N = {labels.shape[0]} labels, "
                            f"got {list(probabilities.shape)}")


def top1(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """ByteMLPerf's "ACC": ``argmax(round(p_row)) == label``, i.e. class 1 iff ``p1 > 0.5``.

    ``np.round`` rounds half to even, so a row at exactly (0.5, 0.5) rounds to (0, 0) and argmax
    picks class 0; a row rounding to (1, 1) cannot occur because p0 + p1 = 1.
    """
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    _check(probabilities, labels)
    predicted = np.argmax(np.round(probabilities), axis=1)
    return float(np.mean(predicted == labels))


@dataclass(frozen=True)
class Accuracy:
    top1: float  # fraction, unrounded; ByteMLPerf reports round(top1, 5)
    auc: float
    logloss: float
    positive_rate: float  # fraction of labels that are 1
    rows: int
    all_negative_top1: float  # Top-1 of the constant "no click" predictor, 1 - positive_rate: the baseline

    def as_dict(self) -> dict:
        return asdict(self)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> Accuracy:
    """Top-1, ROC AUC and log loss (scikit-learn) of ``probabilities [N, 2]`` against ``labels [N]``."""
    from sklearn.metrics import log_loss, roc_auc_score

    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    _check(probabilities, labels)
    if not np.all(np.isfinite(probabilities)):
        bad = int(np.flatnonzero(~np.isfinite(probabilities).all(axis=1))[0])
        raise WidedeepError(f"probabilities row {bad} is not finite: {probabilities[bad].tolist()}")
    if len(np.unique(labels)) < 2:
        raise WidedeepError("AUC needs both classes among the labels; got only "
                            f"{np.unique(labels).tolist()}")
    p1 = probabilities[:, 1].astype(np.float64)
    return Accuracy(top1=top1(probabilities, labels), auc=float(roc_auc_score(labels, p1)),
                    logloss=float(log_loss(labels, np.clip(p1, 1e-7, 1 - 1e-7), labels=[0, 1])),
                    positive_rate=float(np.mean(labels)), rows=int(labels.shape[0]),
                    all_negative_top1=float(np.mean(labels == 0)))
