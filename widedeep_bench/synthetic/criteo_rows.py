"""Criteo-format rows from a synthetic world: 40 comma-separated fields, no header.

``label, I1..I13, C1..C26`` (39 fields without the label, like Criteo's unlabelled test file); an
empty field is a missing value; categoricals are 8 lowercase hex digits. Rows are drawn in fixed
chunks of ``CHUNK_ROWS``, each from its own seed, so the first N rows of a longer file are the N-row
file, and the same seeds give the same bytes (for one NumPy version on one kind of CPU: NumPy's
vectorised exp and log may round differently elsewhere, which can move a rare value or label).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.cache import atomic_file
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import progress
from widedeep_bench.synthetic.world import Features, World, draw_features, world

CHUNK_ROWS = 1 << 16


def draw_rows(world_: World, row_seed: int, chunk: int, n: int) -> tuple[Features, np.ndarray]:
    """Chunk ``chunk`` of the rows of ``row_seed``: its first ``n`` rows' features and ``[n]`` int64 labels."""
    rng = np.random.default_rng([0x7203, world_.seed, row_seed, chunk])
    features = draw_features(rng, CHUNK_ROWS, world_.rank_cdfs)
    clicks = rng.random(CHUNK_ROWS) < world_.planted.click_probabilities(features)
    head = Features(ranks=features.ranks[:n], counts=features.counts[:n], present=features.present[:n])
    return head, clicks[:n].astype(np.int64)


def _vocabulary_array(vocabulary: np.ndarray):
    """``[V, 8]`` uint8 hex digits as a pyarrow string array of V 8-character strings."""
    import pyarrow as pa

    offsets = np.arange(0, vocabulary.size + 1, vocabulary.shape[1], dtype=np.int32)
    return pa.StringArray.from_buffers(vocabulary.shape[0], pa.py_buffer(offsets),
                                       pa.py_buffer(np.ascontiguousarray(vocabulary)))


def _table(features: Features, labels: np.ndarray, vocabularies: list, *, labelled: bool):
    import pyarrow as pa

    columns, names = [], []
    if labelled:
        columns.append(pa.array(labels))
        names.append(layout.LABEL_COLUMN)
    for i, name in enumerate(layout.NUMERIC_COLUMNS):
        columns.append(pa.array(features.counts[:, i], mask=~features.present[:, i]))
        names.append(name)
    for j, name in enumerate(layout.CATEGORICAL_COLUMNS):
        ranks = features.ranks[:, j]
        columns.append(vocabularies[j].take(pa.array(ranks, mask=ranks < 0)))
        names.append(name)
    return pa.table(columns, names=names)


def write_criteo_csv(path, rows: int, *, world_seed: int = 0, row_seed: int = 1,
                     labelled: bool = True) -> Path:
    """Write ``rows`` synthetic Criteo rows to ``path`` atomically and return the path.

    ``world_seed`` fixes vocabularies, frequencies, missing rates and the planted model; ``row_seed``
    draws the rows (training and eval sets share the world and differ in ``row_seed``). The
    unlabelled file is the labelled one without its first column.
    """
    import pyarrow.csv as pa_csv

    if rows < 1:
        raise WidedeepError(f"synthetic Criteo rows: expected a positive row count, got {rows}")
    for name, seed in (("world_seed", world_seed), ("row_seed", row_seed)):
        if seed < 0:
            raise WidedeepError(f"synthetic Criteo rows: {name} must be a non-negative integer, got {seed}")
    path = Path(path)
    world_ = world(world_seed)
    vocabularies = [_vocabulary_array(v) for v in world_.vocabularies]
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    tables = (_table(*draw_rows(world_, row_seed, chunk, min(CHUNK_ROWS, rows - start)), vocabularies,
                     labelled=labelled)
              for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)))
    first = next(tables)
    with atomic_file(path) as tmp, progress(desc=f"writing {path.name}", total=rows, unit="rows") as bar:
        with pa_csv.CSVWriter(str(tmp), first.schema, write_options=options) as writer:
            for table in itertools.chain([first], tables):
                writer.write_table(table)
                bar.update(table.num_rows)
    return path


def cached_criteo_csv(rows: int, *, world_seed: int = 0, row_seed: int = 1) -> Path:
    """``write_criteo_csv``'s file for these arguments, written once into ``cache_root()/benchmarks``
    (under a lock, so concurrent benchmark runs share it) and reused after."""
    from widedeep_bench.cache import cache_root, lock_for
    from widedeep_bench.progress import say

    path = cache_root() / "benchmarks" / f"criteo-{rows}rows-w{world_seed}-r{row_seed}.csv"
    with lock_for(path):
        if not path.is_file():
            say(f"writing {rows} synthetic Criteo rows to {path}")
            write_criteo_csv(path, rows, world_seed=world_seed, row_seed=row_seed)
    return path
