"""An accuracy run's log, decoded here with nothing but ``json``, ``bytes.fromhex`` and ``struct`` and scored
with the Mann-Whitney rank formula, gives the suite's AUC: the suite reads LoadGen's log as MLPerf's own
scripts would, and every row is answered exactly once, under its own index."""

from __future__ import annotations

import json
import struct
from collections import Counter

import numpy as np
from scipy.stats import rankdata

from widedeep_bench.loadgen import job
from widedeep_bench.loadgen.scenarios import ScenarioSettings, run_scenario

from .runners import local


def decoded_log(path) -> list[tuple[int, float]]:
    """``(qsl_idx, click probability)`` of every entry of ``mlperf_log_accuracy.json``, in log order."""
    return [(entry["qsl_idx"], struct.unpack("<f", bytes.fromhex(entry["data"]))[0])
            for entry in json.loads(path.read_text())]


def rank_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random positive > that of a random negative), ties counting half (Mann-Whitney U)."""
    ranks = rankdata(scores)  # ties get their average rank
    positives = int(labels.sum())
    negatives = labels.size - positives
    return (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)


def test_an_accuracy_log_decoded_independently_gives_the_suites_auc(runner, tensors, expected_clicks, tmp_path):
    settings = ScenarioSettings("Offline", mode="accuracy", duration_s=0.5, max_batch=256)
    result = run_scenario(local(runner), tensors, settings, tmp_path, label=runner.name)
    assert result.valid and result.batcher["samples"] == tensors.rows

    logged = decoded_log(tmp_path / "mlperf_log_accuracy.json")
    answers = Counter(index for index, _ in logged)
    assert sorted(answers) == list(range(tensors.rows)) and set(answers.values()) == {1}
    clicks = np.empty(tensors.rows)
    for index, click in logged:
        assert click == expected_clicks[index], f"qsl_idx {index}"
        clicks[index] = click

    auc = rank_auc(clicks, tensors.labels)
    assert 0.6 < auc < 0.95  # labels follow the runner's probabilities: an informative, imperfect score
    assert abs(job.accuracy_of_log(tmp_path, tensors).auc - auc) <= 1e-9


def test_the_rank_auc_of_this_test_is_the_textbook_one():
    # 2 positives, 2 negatives: pairs (0.9 > 0.1), (0.9 > 0.5), (0.5 = 0.5 ties: 1/2), (0.5 > 0.1) -> 3.5 / 4
    assert rank_auc(np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 1, 0, 0])) == 0.875
