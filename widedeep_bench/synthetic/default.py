"""The embedded synthetic default: a trained TF original and a labelled eval.csv, built once, reused after.

Used when the user has neither the real SavedModel nor the real eval.csv. Layout under
``cache_root()/default/``:

- ``trained/<key>/``: ``weights.npz`` and ``training.json``: Wide & Deep weights trained with
  TensorFlow on ``TRAINING_ROWS`` synthetic rows (row seed ``TRAINING_ROW_SEED``) of the world
  ``seed``. Shared by every row count, so a small default for a test and the full one train once.
- ``seed<S>-rows<N>-<key>/``: ``saved_model/`` (laid out like the real one, SPEC section 2),
  ``eval.csv`` (row seed ``EVAL_ROW_SEED``, never seen in training) and ``provenance.json`` (seeds,
  rows, versions, the eval csv's SHA-256, the training record and the TF original's metrics).

Each entry is a ``cache_entry.verified_entry``: built under its lock in a temporary directory and sealed
with every file's digest, so concurrent callers build it once, nobody sees half of one, and an entry whose
eval.csv, SavedModel or weights changed since is rebuilt (with a warning naming what differed).
"""

from __future__ import annotations

import functools
import hashlib
import json
import numbers
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from widedeep_bench.cache import cache_root, write_json
from widedeep_bench.cache_entry import verified_entry
from widedeep_bench.digests import file_sha256, tree_sha256
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say
from widedeep_bench.synthetic.train import TrainingPlan

# 500 batches of 1024 rows, not Criteo's 2,000,000: Top-1 is then known to +-0.0006 (one standard
# error) and AUC to about +-0.001, well inside every gate (engine-vs-TF drops are counted on the same
# rows, so they are exact at any size), while each pass of a backend over the set takes ~15 s instead
# of ~60 s on a 2-core CI machine and the file is ~125 MB instead of ~490 MB. The real size is
# ``--rows 2000000`` away.
DEFAULT_ROWS = 512_000
EVAL_ROW_SEED = 1
TRAINING_ROW_SEED = 2
# One pass over the training rows: enough to beat the all-negative baseline by ~4.5 points (more steps
# gain little), short enough to train in CI (~50 s on 2 idle cores, 9.3 GFLOP per step), and without
# a second epoch's memorisation.
TRAINING_PLAN = TrainingPlan(steps=500, batch_size=1024, learning_rate=1e-3)
TRAINING_ROWS = TRAINING_PLAN.steps * TRAINING_PLAN.batch_size
# Part of every cache key: bump it whenever the generator, the planted model or the training change
# what an entry holds.
DEFAULT_VERSION = 2
MIN_ROWS = 1024  # the accuracy run scores whole batches of 1024 rows


@dataclass(frozen=True)
class SyntheticDefault:
    saved_model: Path  # the TF original, laid out like open_wide_deep_saved_model
    eval_csv: Path  # labelled Criteo-format rows, 40 fields, no header
    directory: Path  # the cache entry holding both, and provenance.json
    # The TF original on eval_csv, scored like ByteMLPerf (whole batches of 1024 rows): top1, auc,
    # logloss, positive_rate, rows (scored), all_negative_top1 (the baseline: 1 - positive_rate).
    metrics: dict
    world_seed: int = 0  # the world both the training and the eval rows are drawn from

    training_row_seed = TRAINING_ROW_SEED

    def training_rows(self, rows: int) -> Path:
        """The first ``rows`` rows the TF original was trained on (never scored: the eval rows are drawn with
        another seed), as a Criteo CSV written once into the cache."""
        from widedeep_bench.synthetic.criteo_rows import cached_criteo_csv

        return cached_criteo_csv(rows, world_seed=self.world_seed, row_seed=TRAINING_ROW_SEED)


@functools.cache
def _distributions() -> dict:
    return metadata.packages_distributions()  # scans every installed package: ~0.2 s


def _version(module: str) -> str:
    """The installed version of the distribution providing ``module`` (tensorflow may come as
    tensorflow-cpu), read from its metadata so that the cache key costs no TensorFlow import."""
    distributions = _distributions().get(module)
    if not distributions:
        raise WidedeepError(f"{module} is not installed; the synthetic default needs it (pip install 'widedeep-bench[reference]')")
    return metadata.version(distributions[0])


def _versions() -> dict:
    modules = ("tensorflow", "numpy", "pyarrow", "sklearn", "farmhash")
    return {"python": platform.python_version(), **{name: _version(name) for name in modules}}


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _training_key(seed: int) -> str:
    from widedeep_bench.data.criteo_csv import PREPROCESS_VERSION

    return _key(DEFAULT_VERSION, PREPROCESS_VERSION, seed, TRAINING_ROWS, TRAINING_ROW_SEED,
                TRAINING_PLAN.as_dict(), _version("tensorflow"))


def _build_trained(directory: Path, seed: int) -> None:
    """Train the weights of world ``seed`` into ``directory`` (an entry's temporary directory)."""
    from widedeep_bench.data.criteo_csv import read_eval_csv
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv
    from widedeep_bench.synthetic.train import train_weights

    say(f"generating {TRAINING_ROWS} synthetic training rows (world {seed}, row seed {TRAINING_ROW_SEED})")
    train_csv = write_criteo_csv(directory / "train.csv", TRAINING_ROWS, world_seed=seed,
                                 row_seed=TRAINING_ROW_SEED)
    rows = read_eval_csv(train_csv)
    train_csv.unlink()  # the rows are reproducible from their seeds; keeping them costs ~150 MB
    say(f"training Wide & Deep with TensorFlow: {TRAINING_PLAN.steps} steps of {TRAINING_PLAN.batch_size}")
    started, cpu_started = time.perf_counter(), time.process_time()
    weights, losses = train_weights(rows.categorical, rows.numeric, rows.labels, TRAINING_PLAN)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    say(f"trained in {seconds:.0f} s ({cpu_seconds:.0f} CPU s); training loss {losses[0]:.4f} -> "
        f"{losses[-1]:.4f} nats")
    weights.save(directory / "weights.npz")
    write_json(directory / "training.json", {
        "world_seed": seed, "row_seed": TRAINING_ROW_SEED, "rows": TRAINING_ROWS,
        "positive_rate": float(rows.labels.mean()), "plan": TRAINING_PLAN.as_dict(),
        "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
        "loss_by_tenth_of_steps": losses, "versions": _versions()})


def trained_weights_directory(seed: int) -> Path:
    """The cache entry of the weights trained for world ``seed``: verified, built if absent or untrusted."""
    directory = cache_root() / "default" / "trained" / _training_key(seed)
    return verified_entry(directory, lambda tmp: _build_trained(tmp, seed)).directory


def _build_default(directory: Path, rows: int, seed: int, trained: Path) -> None:
    """Write the default's eval.csv, SavedModel and provenance.json into ``directory`` (an entry's temporary
    directory)."""
    from widedeep_bench.tf_reference import tf_original_metrics
    from widedeep_bench.model.saved_model import write_saved_model
    from widedeep_bench.model.weights import WideDeepWeights
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    say(f"generating {rows} synthetic eval rows (world {seed}, row seed {EVAL_ROW_SEED})")
    eval_csv = write_criteo_csv(directory / "eval.csv", rows, world_seed=seed, row_seed=EVAL_ROW_SEED)
    saved_model = write_saved_model(WideDeepWeights.load(trained / "weights.npz"), directory / "saved_model")
    metrics = tf_original_metrics(saved_model, eval_csv)
    write_json(directory / "provenance.json", {
        "default_version": DEFAULT_VERSION, "world_seed": seed, "eval_row_seed": EVAL_ROW_SEED,
        "rows": rows, "eval_csv_sha256": file_sha256(eval_csv), "saved_model_sha256": tree_sha256(saved_model),
        "metrics": metrics, "training": json.loads((trained / "training.json").read_text()),
        "versions": _versions()})


def ensure_default(rows: int = DEFAULT_ROWS, seed: int = 0) -> SyntheticDefault:
    """The synthetic default with ``rows`` eval rows of world ``seed``: reused from the cache, or built
    (training takes about a minute on 2 cores, once per seed)."""
    if isinstance(rows, bool) or not isinstance(rows, numbers.Integral) or rows < MIN_ROWS:
        raise WidedeepError(f"synthetic default rows: expected an integer >= {MIN_ROWS} (one batch of the "
                            f"accuracy run), got {rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise WidedeepError(f"synthetic default seed: expected an integer >= 0, got {seed!r}")
    rows, seed = int(rows), int(seed)
    key = _key(_training_key(seed), rows, EVAL_ROW_SEED)
    directory = cache_root() / "default" / f"seed{seed}-rows{rows}-{key}"
    verified_entry(directory, lambda tmp: _build_default(tmp, rows, seed, trained_weights_directory(seed)))
    provenance = json.loads((directory / "provenance.json").read_text())
    return SyntheticDefault(saved_model=directory / "saved_model", eval_csv=directory / "eval.csv",
                            directory=directory, metrics=provenance["metrics"], world_seed=seed)
