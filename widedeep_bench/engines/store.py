"""The engine cache: build once per key, reuse across runs and pytest-xdist workers.

Layout under the cache root (``widedeep_bench.cache.cache_root()``)::

    engines/<key>/<artifact>        the optimized ONNX, serialized plan or compiled blob
    engines/<key>/manifest.json     the key's fields, every file's size and SHA-256; written last
    builds.log                      one JSON line per real build: key, runner, precision, seconds

An entry is trusted only if its manifest parses, names the same key fields and every file it lists
has the recorded size and SHA-256. A build runs in a temporary directory under the entry's lock and
is renamed into place only after the manifest is written, so a killed or failed build leaves nothing
a later run trusts, and N processes asking for the same key build it once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from widedeep_bench import __version__
from widedeep_bench.cache import atomic_directory, atomic_file, cache_root, file_sha256, lock_for
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

MANIFEST = "manifest.json"
BUILDS_LOG = "builds.log"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine artifact depends on; two equal keys may share one artifact.

    ``code`` makes an edited runner (its disabled optimizers, its FP16 conversion, its builder flags)
    rebuild instead of trusting what the old code built; ``device`` keeps a plan off a GPU model it
    was not built for.
    """

    onnx_sha256: str
    runner: str
    runner_version: str
    precision: str
    batch_profile: tuple[int, int, int] | None  # (min, opt, max) samples, where the runtime compiles for it
    providers: tuple[str, ...]  # ONNX Runtime execution providers / OpenVINO device, in order
    code: str  # short SHA-256 of the source that builds the artifact (``CompiledRunner.code_digest``)
    device: str  # the device model a plan is bound to (TensorRT/IxRT: GPU name and compute capability); "" on CPU

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
        entry = self.entry(key)
        if self._manifest_problem(entry, key, artifact_name) is None:
            return self._cached_record(entry, key, artifact_name)
        with lock_for(entry):
            problem = self._manifest_problem(entry, key, artifact_name)  # another process may have built it
            if problem is None:
                return self._cached_record(entry, key, artifact_name)
            if entry.exists():
                say(f"engine cache entry {entry} is not trusted ({problem}); rebuilding it")
            self._remove_dead_builds(entry)
            say(f"building {key.runner} {key.precision} engine {key}")
            with atomic_directory(entry) as scratch:
                started = time.perf_counter()
                build(scratch)
                seconds = time.perf_counter() - started
                if not (scratch / artifact_name).is_file():
                    raise WidedeepError(f"{key.runner} build for {key} wrote no {artifact_name}")
                self._write_manifest(scratch, key, artifact_name, seconds)
            self._log_build(key, seconds)
        return self._record(entry, key, artifact_name, cached=False, seconds=seconds)

    def _cached_record(self, entry: Path, key: EngineKey, artifact_name: str) -> BuildRecord:
        seconds = json.loads((entry / MANIFEST).read_text())["build_seconds"]
        return self._record(entry, key, artifact_name, cached=True, seconds=seconds)

    @staticmethod
    def _manifest_problem(entry: Path, key: EngineKey, artifact_name: str) -> str | None:
        """Why ``entry`` cannot be trusted, or None if its manifest vouches for every file."""
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
        except FileNotFoundError:
            return f"no {MANIFEST}"
        except (OSError, ValueError) as exc:
            return f"{MANIFEST} unreadable: {exc}"
        if not isinstance(manifest, dict) or manifest.get("key_fields") != key.fields():
            return f"{MANIFEST} describes another key"
        files = manifest.get("files")
        if not isinstance(files, dict) or artifact_name not in files:
            return f"{MANIFEST} does not list {artifact_name}"
        for name, recorded in files.items():
            path = entry / name
            if not isinstance(recorded, dict):
                return f"{MANIFEST} entry for {name} is not an object"
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != recorded.get("bytes") or file_sha256(path) != recorded.get("sha256"):
                return f"{name} differs from its recorded size or SHA-256"
        if not isinstance(manifest.get("build_seconds"), (int, float)):
            return f"{MANIFEST} has no build_seconds"
        return None

    @staticmethod
    def _write_manifest(scratch: Path, key: EngineKey, artifact_name: str, seconds: float) -> None:
        files = {}
        for path in sorted(p for p in scratch.rglob("*") if p.is_file()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()  # path is temporary: no memo
            files[path.relative_to(scratch).as_posix()] = {"bytes": path.stat().st_size, "sha256": digest}
        manifest = {"key": str(key), "key_fields": key.fields(), "artifact": artifact_name, "files": files,
                    "build_seconds": seconds, "built_at": datetime.now(timezone.utc).isoformat(),
                    "widedeep_bench": __version__}
        with atomic_file(scratch / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def _log_build(self, key: EngineKey, seconds: float) -> None:
        log = self.root / BUILDS_LOG
        line = json.dumps({"key": str(key), "runner": key.runner, "precision": key.precision,
                           "seconds": round(seconds, 3), "at": datetime.now(timezone.utc).isoformat()})
        with lock_for(log):
            previous = log.read_text() if log.is_file() else ""
            with atomic_file(log) as tmp:
                tmp.write_text(previous + line + "\n")

    @staticmethod
    def _remove_dead_builds(entry: Path) -> None:
        """Scratch directories of builds that were killed; called under the entry's lock, so none is live."""
        for scratch in entry.parent.glob(f".{entry.name}.*.tmp"):
            shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    def _record(entry: Path, key: EngineKey, artifact_name: str, *, cached: bool, seconds: float) -> BuildRecord:
        return BuildRecord(key=str(key), runner=key.runner, version=key.runner_version, precision=key.precision,
                           cached=cached, build_seconds=float(seconds), artifact=entry / artifact_name)
