"""The engine cache: build once per key, reuse across runs and pytest-xdist workers.

Layout under the cache root (``widedeep_bench.cache.cache_root()``)::

    engines/<key>/<artifact>        the optimized ONNX, serialized plan or compiled blob
    engines/<key>/manifest.json     every file's size and digest, the key's fields, the build's seconds
    builds.log                      one JSON line per real build: key, runner, precision, seconds

Each entry is a ``cache_entry.verified_entry``: trusted only if its manifest is intact, records the same
key fields and every file has the recorded size and digest, else rebuilt. A build runs in a temporary
directory under the entry's lock and is renamed into place only after the manifest is written, so a
killed or failed build leaves nothing a later run trusts (its temporary is removed by the next build
of that key), and N processes asking for the same key build it once.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from widedeep_bench import __version__
from widedeep_bench.cache import atomic_file, cache_root, lock_for
from widedeep_bench.cache_entry import MANIFEST, verified_entry
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

__all__ = ["BUILDS_LOG", "MANIFEST", "BuildRecord", "EngineKey", "EngineStore"]

BUILDS_LOG = "builds.log"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine artifact depends on; two equal keys may share one artifact.

    ``code`` makes an edited runner (its disabled optimizers, its FP16 conversion, its builder flags)
    rebuild instead of trusting what the old code built; ``device`` keeps a plan off a GPU model it
    was not built for; ``calibration`` gives an INT8 engine calibrated on other rows its own entry.
    """

    onnx_sha256: str
    runner: str
    runner_version: str
    precision: str
    batch_profile: tuple[int, int, int] | None  # (min, opt, max) samples, where the runtime compiles for it
    providers: tuple[str, ...]  # ONNX Runtime execution providers / OpenVINO device, in order
    code: str  # short SHA-256 of the source that builds the artifact (``CompiledRunner.code_digest``)
    device: str  # the device model a plan is bound to (TensorRT/IxRT: GPU name and compute capability); "" on CPU
    calibration: str = ""  # SHA-256 of the calibration rows an INT8 engine's scales come from; "" otherwise

    def fields(self) -> dict:
        fields = asdict(self)
        fields["batch_profile"] = None if self.batch_profile is None else list(self.batch_profile)
        fields["providers"] = list(self.providers)
        return fields

    def __str__(self) -> str:
        digest = hashlib.sha256(json.dumps(self.fields(), sort_keys=True).encode()).hexdigest()
        return f"{self.runner}-{self.precision}-{digest[:16]}"


@dataclass(frozen=True)
class BuildRecord:
    """Where a key's artifact lives and whether this call built it (``cached`` False) or reused it."""

    key: str
    runner: str
    version: str
    precision: str
    cached: bool
    build_seconds: float  # wall time of the build that made the artifact (this call's or an earlier one)
    artifact: Path

    def as_json(self) -> dict:
        record = asdict(self)
        record["artifact"] = str(self.artifact)
        return record


class EngineStore:
    """Engine artifacts under ``root`` (default: the cache root)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else cache_root()

    def entry(self, key: EngineKey) -> Path:
        return self.root / "engines" / str(key)

    def get_or_build(self, key: EngineKey, artifact_name: str, build: Callable[[Path], None]) -> BuildRecord:
        """The trusted artifact for ``key``; if there is none, ``build(directory)`` writes it first.

        ``build`` must write ``directory / artifact_name`` (and may write other files beside it);
        anything it raises propagates and leaves no entry.
        """
        def build_entry(scratch: Path) -> dict:
            say(f"building {key.runner} {key.precision} engine {key}")
            started = time.perf_counter()
            build(scratch)
            seconds = time.perf_counter() - started
            if not (scratch / artifact_name).is_file():
                raise WidedeepError(f"{key.runner} build for {key} wrote no {artifact_name}")
            return {"build_seconds": seconds, "built_at": datetime.now(timezone.utc).isoformat(),
                    "widedeep_bench": __version__}

        entry = verified_entry(self.entry(key), build_entry,
                               expect={"key": str(key), "key_fields": key.fields(), "artifact": artifact_name})
        if entry.built:
            self._log_build(key, entry.record["build_seconds"])
        return BuildRecord(key=str(key), runner=key.runner, version=key.runner_version, precision=key.precision,
                           cached=not entry.built, build_seconds=float(entry.record["build_seconds"]),
                           artifact=entry.directory / artifact_name)

    def _log_build(self, key: EngineKey, seconds: float) -> None:
        log = self.root / BUILDS_LOG
        line = json.dumps({"key": str(key), "runner": key.runner, "precision": key.precision,
                           "seconds": round(seconds, 3), "at": datetime.now(timezone.utc).isoformat()})
        with lock_for(log):
            previous = log.read_text() if log.is_file() else ""
            with atomic_file(log) as tmp:
                tmp.write_text(previous + line + "\n")
