"""On-disk cache of preprocessed eval tensors: ``cache_root()/tensors/<sha256>-v<version>/``.

An entry holds one ``.npy`` per array (``categorical``, ``numeric``, ``numeric_range`` and, for a
labelled file, ``labels``) and ``meta.json``. It is written whole under a temporary name and renamed
(``atomic_directory``), and loaded as read-only memory maps, so loading 2 M rows costs milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from widedeep_bench.cache import atomic_directory, cache_root, write_json
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say


def entry_for(sha256: str, version: int) -> Path:
    """The entry directory for a source file with content hash ``sha256``."""
    return cache_root() / "tensors" / f"{sha256}-v{version}"


def store(entry: Path, tensors: EvalTensors, version: int) -> None:
    """Write ``tensors`` as the cache entry ``entry`` (atomically; call under ``lock_for(entry)``)."""
    say(f"caching {tensors.rows} rows of tensors in {entry}")
    with atomic_directory(entry) as tmp:
        arrays = {**tensors.arrays(), "numeric_range": tensors.numeric_range}
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        write_json(tmp / "meta.json", {"preprocess_version": version, "sha256": tensors.sha256,
                                       "rows": tensors.rows, "labelled": tensors.labelled,
                                       "arrays": sorted(arrays), "first_source": tensors.source,
                                       "constant_columns": list(tensors.constant_columns)})


def load(entry: Path, source: str, version: int) -> EvalTensors:
    """The tensors of cache entry ``entry`` as memory maps; ``source`` is the path asked for now."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r") for name in meta["arrays"]}
        tensors = EvalTensors(categorical=arrays["categorical"], numeric=arrays["numeric"],
                              labels=arrays.get("labels"), source=source, sha256=meta["sha256"],
                              numeric_range=arrays["numeric_range"])
    except (OSError, ValueError, KeyError, WidedeepError) as exc:
        raise WidedeepError(f"cache entry {entry} is unreadable or incomplete ({exc}); "
                            "delete that directory and run again") from exc
    if meta["preprocess_version"] != version or entry != entry_for(tensors.sha256, version) \
            or tensors.rows != meta["rows"]:
        raise WidedeepError(f"cache entry {entry} does not match its meta.json; "
                            "delete that directory and run again")
    say(f"loaded {tensors.rows} rows of tensors for {source} from the cache")
    return tensors
