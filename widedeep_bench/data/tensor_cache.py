"""On-disk cache of preprocessed eval tensors: ``cache_root()/tensors/<sha256>-v<version>/``.

An entry holds one ``.npy`` per array (``categorical``, ``numeric``, ``numeric_range`` and, for a
labelled file, ``labels``) and the ``manifest.json`` that ``cache_entry.seal`` writes: every file's
size and XXH3-128 digest and what the entry records (source digest, preprocessing version, rows...).
It is written whole under a temporary name and renamed (``atomic_directory``), verified before it is
loaded (once per process while its files are unchanged: ~0.1 s for 2 M rows, against ~4.4 s to parse
them again) and loaded as read-only memory maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from widedeep_bench.cache import atomic_directory, cache_root
from widedeep_bench.cache_entry import discard_untrusted, seal, verify_entry
from widedeep_bench.data.eval_tensors import EvalTensors
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say


def _path_for(sha256: str, version: int) -> Path:
    return cache_root() / "tensors" / f"{sha256}-v{version}"


def entry_for(sha256: str, version: int) -> Path:
    """The entry directory for a source file with content hash ``sha256``.

    An entry found there that fails verification (a file changed, truncated or missing, a damaged
    manifest, another key recorded) is removed first, with one ``CacheWarning`` naming it and what
    differed, so that the caller's ``if not entry.is_dir()`` builds it again.
    """
    entry = _path_for(sha256, version)
    discard_untrusted(entry, {"sha256": sha256, "preprocess_version": version})
    return entry


def store(entry: Path, tensors: EvalTensors, version: int) -> None:
    """Write ``tensors`` as the cache entry ``entry`` (atomically; call under ``lock_for(entry)``)."""
    say(f"caching {tensors.rows} rows of tensors in {entry}")
    with atomic_directory(entry) as tmp:
        arrays = {**tensors.arrays(), "numeric_range": tensors.numeric_range}
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        seal(tmp, {"preprocess_version": version, "sha256": tensors.sha256, "rows": tensors.rows,
                   "labelled": tensors.labelled, "arrays": sorted(arrays), "first_source": tensors.source,
                   "constant_columns": list(tensors.constant_columns)})


def load(entry: Path, source: str, version: int) -> EvalTensors:
    """The tensors of cache entry ``entry`` as memory maps, after verifying it; ``source`` is the path
    asked for now. An entry that fails verification raises ``WidedeepError`` naming it and what differed."""
    record = verify_entry(entry, {"preprocess_version": version})
    try:
        arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r") for name in record["arrays"]}
        tensors = EvalTensors(categorical=arrays["categorical"], numeric=arrays["numeric"],
                              labels=arrays.get("labels"), source=source, sha256=record["sha256"],
                              numeric_range=arrays["numeric_range"])
    except (OSError, ValueError, KeyError, TypeError, WidedeepError) as exc:
        raise WidedeepError(f"cache entry {entry} is unreadable or incomplete ({exc}); "
                            "delete that directory and run again") from exc
    if entry != _path_for(tensors.sha256, version) or tensors.rows != record["rows"] \
            or tensors.labelled != record["labelled"]:
        raise WidedeepError(f"cache entry {entry}: its arrays or name do not match what its manifest.json "
                            "records; delete that directory and run again")
    say(f"loaded {tensors.rows} rows of tensors for {source} from the cache")
    return tensors
