"""Which SavedModel, eval.csv and ONNX file a run uses, and the pinned copies fetched into the cache.

Resolution order, per asset: explicit option -> environment variable (``WIDEDEEP_SAVED_MODEL``,
``WIDEDEEP_EVAL_CSV``, ``WIDEDEEP_ONNX``) -> copy fetched into ``cache_root()/assets`` -> the embedded
synthetic default (SavedModel and eval.csv only; there is no default ONNX file).

Fetched copies are pinned in ``cache_root()/assets/assets.lock.json`` by SHA-256 (no checksums are
published upstream) and verified every time they are resolved, so a file that changed after it was
fetched is an error, never silently used.

An eval.csv that is a stream (a FIFO, ``<(zcat eval.csv.gz)``) is read once, here, into the cache, and the
copy is what resolves: everything after resolution may read ``Assets.eval_csv`` as often as it likes.
Messages name options as the caller's user typed them (``OptionNames``: the CLI's by default).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from widedeep_bench.cache import cache_root, lock_for, write_json
from widedeep_bench.data.csv_input import path_kind, spool_stream
from widedeep_bench.digests import file_sha256, tree_sha256
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

LOCK_VERSION = 1
ASSET_NAMES = ("saved_model", "eval_csv", "onnx")


@dataclass(frozen=True)
class OptionNames:
    """The option that names each asset, as the user of the caller types it; messages quote these.

    The defaults are the CLI's (``prepare --eval-csv``); the pytest plugin passes its own
    (``--wd-eval-csv``). The environment variables are the same for both (``SeedAsset.env``).
    """

    saved_model: str = "--saved-model"
    eval_csv: str = "--eval-csv"
    onnx: str = "--onnx"


@dataclass(frozen=True)
class SeedAsset:
    """One of the real artifacts (SPEC section 1) and where ``fetch`` keeps it."""

    name: str  # "saved_model" | "eval_csv" | "onnx"
    urls: tuple[str, ...]  # its mirrors, tried in this order; the file name is the same on each
    env: str  # environment variable that points at a user's own copy
    unpack: bool  # a tar holding the SavedModel directory

    @property
    def file_name(self) -> str:
        return self.urls[0].rsplit("/", 1)[-1]


# ByteMLPerf's model zoo: lf-bytemlperf.17mh.cn stopped resolving in December 2025; its maintainers serve
# the same paths from lf-xpu-perf.bytetos.com (bytedance/xpu-perf issue #168).
BYTEMLPERF_ZOO_MIRRORS = ("https://lf-bytemlperf.17mh.cn/obj/bytemlperf-zoo",
                          "https://lf-xpu-perf.bytetos.com/obj/bytemlperf-zoo")


def _bytemlperf_zoo(file_name: str) -> tuple[str, ...]:
    return tuple(f"{mirror}/{file_name}" for mirror in BYTEMLPERF_ZOO_MIRRORS)


SEED_ASSETS = {
    asset.name: asset for asset in (
        SeedAsset("saved_model", _bytemlperf_zoo("open_wide_deep_saved_model.tar"), "WIDEDEEP_SAVED_MODEL",
                  unpack=True),
        SeedAsset("eval_csv", _bytemlperf_zoo("eval.csv"), "WIDEDEEP_EVAL_CSV", unpack=False),
        SeedAsset("onnx", ("http://files.deepspark.org.cn:880/deepspark/widedeep_dynamicshape_new.onnx",),
                  "WIDEDEEP_ONNX", unpack=False),
    )
}


def assets_dir() -> Path:
    """``cache_root()/assets``: downloads keep their upstream file names here."""
    return cache_root() / "assets"


def download_path(name: str) -> Path:
    """Where ``fetch`` writes (and a user may put by hand) the file of asset ``name``."""
    return assets_dir() / SEED_ASSETS[name].file_name


def unpacked_dir() -> Path:
    """The tar's contents, as extracted; the SavedModel is a directory inside it."""
    return assets_dir() / "saved_model"


def lock_path() -> Path:
    return assets_dir() / "assets.lock.json"


def read_lock() -> dict[str, dict]:
    """The pinned entries by asset name: ``{"sha256", "bytes", "url", "file"}`` (+ ``unpacked``,
    ``unpacked_tree_sha256`` for the SavedModel)."""
    path = lock_path()
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WidedeepError(f"{path}: not a readable lock file ({exc}); delete it and run "
                            "`widedeep-bench fetch` to pin the assets again") from exc
    if document.get("version") != LOCK_VERSION:
        raise WidedeepError(f"{path}: field version: expected {LOCK_VERSION}, got {document.get('version')!r}")
    return document["assets"]


def pin(name: str, entry: dict) -> None:
    """Record ``entry`` for asset ``name`` in the lock file (read-modify-write under a file lock)."""
    with lock_for(lock_path()):
        entries = read_lock()
        entries[name] = entry
        write_json(lock_path(), {"version": LOCK_VERSION, "assets": entries})


def changed_file_error(name: str, path: Path, actual: str, pinned: str) -> WidedeepError:
    return WidedeepError(
        f"{name}: {path} has changed since it was pinned: sha256 is {actual}, {lock_path().name} pins "
        f"{pinned}. Delete it and run `widedeep-bench fetch --only {name}` to fetch it again, "
        f"or run `widedeep-bench fetch --only {name} --repin` to accept it as it is now.")


def fetched_asset(name: str) -> Path | None:
    """The verified cached copy of asset ``name`` (the SavedModel directory for ``saved_model``),
    or None when nothing is in the cache. A copy that is not pinned, or differs from its pin, is an error."""
    seed = SEED_ASSETS[name]
    if not (download_path(name).exists() or (seed.unpack and unpacked_dir().exists())):
        return None
    with lock_for(download_path(name)):  # a fetch renames the file, then pins it: wait for both
        entry = read_lock().get(name)
        key = "unpacked" if seed.unpack else "file"
        candidate = assets_dir() / entry[key] if entry and key in entry else None
        if candidate is None or not candidate.exists():
            raise WidedeepError(f"{name}: {download_path(name)} is in the cache but not pinned"
                                f"{' and unpacked' if seed.unpack else ''}; run "
                                f"`widedeep-bench fetch --only {name}` to pin it")
        if seed.unpack:
            actual, pinned = tree_sha256(candidate), entry["unpacked_tree_sha256"]
        else:
            actual, pinned = file_sha256(candidate), entry["sha256"]
    if actual != pinned:
        raise changed_file_error(name, candidate, actual, pinned)
    return candidate


@dataclass(frozen=True)
class Assets:
    """The files a run uses. ``origins[name]`` is "option", "env", "fetched", "synthetic" or "absent"."""

    saved_model: Path | None  # SavedModel directory; None when a user ONNX has no matching TF original
    eval_csv: Path
    onnx: Path | None  # only ever a user's file: the suite converts its own from ``saved_model``
    provenance: str  # "user" if any asset came from the user, "synthetic" if all are the default's
    origins: dict[str, str]
    synthetic: object | None = field(default=None, repr=False, compare=False)  # SyntheticDefault drawn on

    def as_dict(self) -> dict:
        return {"saved_model": _str(self.saved_model), "eval_csv": str(self.eval_csv), "onnx": _str(self.onnx),
                "provenance": self.provenance, "origins": dict(self.origins)}


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def check_saved_model(path: Path, source: str) -> Path:
    """``path`` must be a SavedModel directory (holding ``saved_model.pb``); ``source`` names who said so."""
    if path.is_file() and path.suffix == ".tar":
        raise WidedeepError(f"{source}: {path} is a tar archive; unpack it and point at the directory "
                            "that holds saved_model.pb")
    if not path.is_dir():
        raise WidedeepError(f"{source}: {path}: expected a SavedModel directory, found no such directory")
    if not (path / "saved_model.pb").is_file():
        raise WidedeepError(f"{source}: {path}: expected a SavedModel directory containing saved_model.pb, "
                            "found none")
    return path


def check_eval_csv(path: Path, source: str) -> Path:
    """``path`` must be a non-empty Criteo CSV file or a stream; a stream is read once into the cache and
    its copy is returned (so nothing after resolution can consume the stream)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and _names_a_stream(path):
        raise WidedeepError(f"{source}: {path}: a stream (a FIFO or <(...)) can be read by one process only, and "
                            "pytest-xdist (-n) runs the session in several; run without -n, or save the stream "
                            "to a file and pass that")
    if path_kind(path, source) == "stream":
        return spool_stream(path, source).path
    if path.stat().st_size == 0:
        raise WidedeepError(f"{source}: {path}: the Criteo CSV file is empty")
    return path


def _names_a_stream(path: Path) -> bool:
    """A FIFO, or a name of one of this process's own descriptors (which another process does not share)."""
    if str(path).startswith(("/dev/fd/", "/proc/self/fd/")) or str(path) == "/dev/stdin":
        return True
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def check_readable_file(path: Path, source: str, what: str) -> Path:
    """``path`` must be a non-empty file we can open; ``source`` names the option or variable."""
    if not path.is_file():
        raise WidedeepError(f"{source}: {path}: expected {what} file, found "
                            f"{'a directory' if path.is_dir() else 'no such file'}")
    try:
        with path.open("rb") as handle:
            first = handle.read(1)
    except OSError as exc:
        raise WidedeepError(f"{source}: {path}: cannot read {what} file ({exc.strerror})") from exc
    if not first:
        raise WidedeepError(f"{source}: {path}: {what} file is empty")
    return path


CHECKS = {
    "saved_model": check_saved_model,
    "eval_csv": check_eval_csv,
    "onnx": lambda path, source: check_readable_file(path, source, "an ONNX"),
}


def _source(name: str, option: str | os.PathLike | None, option_flag: str) -> tuple[str, Path | None, str]:
    """The resolution order of a user's asset, written once: option, then environment variable, then the
    copy fetched into the cache. Returns ``(origin, path, label)``; for "fetched" the path is None (finding
    and verifying that copy is the caller's choice of cost)."""
    if option is not None:
        return "option", Path(option).expanduser(), option_flag
    env = SEED_ASSETS[name].env
    if os.environ.get(env):
        return "env", Path(os.environ[env]).expanduser(), f"{env}={os.environ[env]}"
    return "fetched", None, f"fetched {name}"


def asset_origin(name: str, option: str | os.PathLike | None) -> str | None:
    """Where asset ``name`` would come from before the synthetic default, without reading or verifying
    it: "option", "env", "fetched" (a copy is in the cache) or None. Cheap enough for deciding, at
    configuration, what a run will need (``user_asset`` checks the file when it is resolved)."""
    origin, _, _ = _source(name, option, "")
    if origin != "fetched":
        return origin
    seed = SEED_ASSETS[name]
    return "fetched" if download_path(name).exists() or (seed.unpack and unpacked_dir().exists()) else None


def asset_origins(saved_model, eval_csv, onnx) -> tuple[str | None, str | None, str | None]:
    """``asset_origin`` of the SavedModel, the eval.csv and the ONNX, in that order."""
    return (asset_origin("saved_model", saved_model), asset_origin("eval_csv", eval_csv),
            asset_origin("onnx", onnx))


def synthetic_parts(saved_model_origin, eval_csv_origin, onnx_origin) -> list[str]:
    """The parts of the synthetic default ``resolve_assets`` will build for these origins: the model when the
    user gives neither a SavedModel nor an ONNX, the eval set when the user gives no eval.csv."""
    return [part for part, needed in (("model", saved_model_origin is None and onnx_origin is None),
                                      ("eval set", eval_csv_origin is None)) if needed]


def user_asset(name: str, option: str | os.PathLike | None,
               option_names: OptionNames = OptionNames()) -> tuple[Path, str] | None:
    """The user's copy of asset ``name`` and its origin (``_source``'s order), checked;
    ``option_names`` says how the option is spelled in messages."""
    origin, path, label = _source(name, option, getattr(option_names, name))
    if origin == "fetched":
        path = fetched_asset(name)
        if path is None:
            return None
    return CHECKS[name](path, label), origin


def resolve_assets(saved_model=None, eval_csv=None, onnx=None, *, rows: int | None = None,
                   seed: int | None = None, option_names: OptionNames = OptionNames(),
                   resolve_onnx: bool = True) -> Assets:
    """Resolve each asset by option > environment > fetched copy > synthetic default.

    ``resolve_onnx=False``: the caller converts the SavedModel itself (``bundle``), so no ONNX is looked
    for (a ``WIDEDEEP_ONNX`` or fetched copy would otherwise stand in for the SavedModel).

    ``option_names``: how the caller's user spells the three options, for messages (the CLI's by default;
    the pytest plugin passes ``--wd-saved-model``, ``--wd-eval-csv``, ``--wd-onnx``).

    ``rows`` / ``seed`` shape the synthetic default only (built, or reused, when the SavedModel or the
    eval.csv is not the user's). The synthetic SavedModel is never paired with a user's ONNX file: they
    hold different weights, so parity between them would be meaningless; ``saved_model`` is then None.
    """
    wanted = (("saved_model", saved_model), ("eval_csv", eval_csv)) + ((("onnx", onnx),) if resolve_onnx else ())
    found = {name: user_asset(name, given, option_names) for name, given in wanted}
    found.setdefault("onnx", None)
    origins = {name: hit[1] if hit else "absent" for name, hit in found.items()}
    paths = {name: hit[0] if hit else None for name, hit in found.items()}
    if paths["saved_model"] is None and paths["onnx"] is not None:
        say("a user ONNX file without its SavedModel: the synthetic SavedModel holds other weights, "
            "so there is no TF original to compare against")
    need_model = paths["saved_model"] is None and paths["onnx"] is None
    synthetic = None
    if need_model or paths["eval_csv"] is None:
        from widedeep_bench.synthetic.default import ensure_default

        options = {key: value for key, value in (("rows", rows), ("seed", seed)) if value is not None}
        synthetic = ensure_default(**options)
        if need_model:
            paths["saved_model"], origins["saved_model"] = Path(synthetic.saved_model), "synthetic"
        if paths["eval_csv"] is None:
            paths["eval_csv"], origins["eval_csv"] = Path(synthetic.eval_csv), "synthetic"
    elif rows is not None or seed is not None:
        say("rows/seed shape the synthetic default only; ignored, as no asset comes from it "
            f"(origins: {origins})")
    user = any(origin in ("option", "env", "fetched") for origin in origins.values())
    return Assets(saved_model=paths["saved_model"], eval_csv=paths["eval_csv"], onnx=paths["onnx"],
                  provenance="user" if user else "synthetic", origins=origins, synthetic=synthetic)
