"""Conversions built once and reused, by the CLI, the tests and every pytest-xdist worker.

Entry: ``cache_root()/onnx/<key>/`` (the directory ``convert`` writes), where the key hashes the
SavedModel's content (``tree_sha256``), the options, the parity rows, ``CONVERSION_VERSION``, the
source of the conversion code itself (so an edited stage never reuses a stale entry) and the
versions of the converting packages. A ``cache_entry.verified_entry``: built under its lock into a
temporary directory and sealed with every file's digest, so racing processes convert once, a killed
conversion leaves no entry, and an entry whose files changed since is converted again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from widedeep_bench.cache import cache_root, write_json
from widedeep_bench.cache_entry import verified_entry
from widedeep_bench.conversion.pipeline import (CONVERSION_VERSION, DEFAULT_PARITY_ROWS, DEFAULT_PARITY_SEED,
                                                SUMMARY_NAME, ConversionResult, convert)
from widedeep_bench.digests import source_digest, tree_sha256
from widedeep_bench.environment import package_version
from widedeep_bench.errors import WidedeepError

_CONVERTING_PACKAGES = ("tensorflow-cpu", "tf2onnx", "onnx", "onnxsim", "onnxruntime")


def _rows_digest(parity_rows) -> str:
    if parity_rows is None:
        return f"sample_eval_tensors({DEFAULT_PARITY_ROWS}, {DEFAULT_PARITY_SEED})"
    digest = hashlib.sha256()
    for array in (parity_rows.categorical, parity_rows.numeric):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array.copy(order="C")).cast("B"))
    return digest.hexdigest()


def _code_digest() -> str:
    """SHA-256 of this package's modules, ``onnx_graph.py`` (the reading and lookups the stages share),
    ``onnx_roles.py`` and ``layout.py`` (the names and sizes the stages build with): everything that
    decides what a conversion makes."""
    import widedeep_bench.layout as layout
    import widedeep_bench.onnx_graph as onnx_graph
    import widedeep_bench.onnx_roles as onnx_roles

    return source_digest(*sorted(Path(__file__).parent.glob("*.py")), Path(onnx_graph.__file__),
                         Path(onnx_roles.__file__), Path(layout.__file__))


def conversion_key(saved_model: Path, *, opset: int | None, ixrt: bool, parity_rows=None) -> str:
    """Hex key of a conversion: same key, same stage files and records."""
    parts = {"saved_model": tree_sha256(Path(saved_model)), "opset": opset, "ixrt": ixrt,
             "parity_rows": _rows_digest(parity_rows), "conversion_version": CONVERSION_VERSION,
             "code": _code_digest(), "packages": {name: package_version(name) for name in _CONVERTING_PACKAGES}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:40]


def cached_conversion(saved_model: Path, *, opset: int | None = None, ixrt: bool = False,
                      parity_rows=None) -> ConversionResult:
    """``convert`` (with ``--ixrt`` = cut zeros_like + IxRT names when ``ixrt``), or its cached result."""
    saved_model = Path(saved_model)
    if not saved_model.is_dir():
        raise WidedeepError(f"{saved_model}: not a directory (expected a SavedModel directory)")
    entry = cache_root() / "onnx" / conversion_key(saved_model, opset=opset, ixrt=ixrt, parity_rows=parity_rows)

    def build(directory: Path) -> None:
        # Converted inside the entry's temporary directory, so that a killed conversion's own temporary
        # goes with it; then moved up, and its summary names the entry's final path.
        result = convert(saved_model, directory / "converting", opset=opset, cut_zeros_like=ixrt,
                         ixrt_names=ixrt, parity_rows=parity_rows)
        for path in result.directory.iterdir():
            path.rename(directory / path.name)
        result.directory.rmdir()
        write_json(directory / SUMMARY_NAME, replace(result, directory=entry).as_dict())

    # The manifest records the key: an intact entry copied under another key (another model's or options'
    # conversion) is converted again, never served with stage records that vouch for a different model.
    verified_entry(entry, build, expect={"key": entry.name})
    return ConversionResult.load(entry)
