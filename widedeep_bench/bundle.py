"""A bundle: what a machine without TensorFlow needs to run the suite, made on a machine that has it.

One directory, written by ``widedeep-bench bundle`` and read by ``--wd-bundle`` / ``widedeep-bench test
--bundle``:

=====================  ===================================================================================
``widedeep.onnx``      the converted model (2 inputs): what every engine under test runs
``widedeep-ixrt.onnx`` the vendor's IxRT variant (3 inputs, ``zeros_like`` fed zeros, no ``:`` in names),
                       for the vendor's own tools; the suite's runners take ``widedeep.onnx``
``reference.npz``      the TF original's and ONNX Runtime FP32's ``[N, 2]`` probabilities on every whole
                       batch of 1024 rows of ``eval.csv`` (the ``--wd-save-reference`` format)
``eval.csv``           the bytes of the eval set the references were computed on
``eval-tensors.npz``   (version 2 on) ``eval.csv``'s rows after the suite's preprocessing, narrow
                       (``widedeep_bench.data.eval_tensors_file``): what a machine without pyfarmhash feeds
                       (``Bundle.tensors()``, ``bench gpu --bundle``)
``calibration.csv``    only for the embedded default: the synthetic training rows INT8 engines calibrate on
                       (never scored); a bundle of a user's eval set has none, and a device run then holds
                       out the eval set's last rows (``widedeep_bench.calibration``)
``manifest.json``      ``bundle_version``, every other file's size and SHA-256, what the bundle was made
                       from, the package versions, machine, command line and time
=====================  ===================================================================================

Written into a temporary directory beside ``--out`` and renamed into place only when complete; a
bundle is used only after every file matches its manifest and no other file is there, so a killed
write or a changed byte is one line naming the file, never a run on it. Bundles of version 1 (no
``eval-tensors.npz``) are still read; what needs the tensors from one says it predates them.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from widedeep_bench import __version__
from widedeep_bench.assets import Assets, synthetic_parts
from widedeep_bench.digests import file_sha256
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say

BUNDLE_VERSION = 2  # 2: eval-tensors.npz added
READ_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
ONNX, IXRT_ONNX, REFERENCE, EVAL_CSV = "widedeep.onnx", "widedeep-ixrt.onnx", "reference.npz", "eval.csv"
EVAL_TENSORS = "eval-tensors.npz"
BUNDLE_FILES = (ONNX, IXRT_ONNX, REFERENCE, EVAL_CSV, EVAL_TENSORS)
FILES_OF_VERSION = {1: (ONNX, IXRT_ONNX, REFERENCE, EVAL_CSV), 2: BUNDLE_FILES}
CALIBRATION_CSV = "calibration.csv"
OPTIONAL_FILES = (CALIBRATION_CSV,)
REFERENCE_NAMES = ("tensorflow", "onnxruntime-fp32")
CONVERSION_PARITY_ROWS = 512  # eval rows each conversion stage is compared with the TF original on

# What the reference machine has and a device may lack (the ``reference`` extra).
TENSORFLOW_MODULES = ("tensorflow",)
CONVERSION_MODULES = ("tensorflow", "tf2onnx", "onnxsim")
NO_TF_ORIGINAL = "a bundle run: the bundle holds the TF original's probabilities, not the SavedModel"
# How a command that needs TensorFlow can be done without it here.
CLI_REMEDY = ("run it on a machine with TensorFlow; to test this machine's runtimes, write a bundle there "
              "(`widedeep-bench bundle --out DIR`) and run `widedeep-bench test --bundle DIR` here")


def missing_tensorflow(subject: str, purposes: list[str], modules, *, remedy: str) -> str | None:
    """One line saying that ``subject`` needs TensorFlow for ``purposes`` and how to do without it, or None
    when ``modules`` are there. TensorFlow is imported (a broken install is found only so, and the run
    imports it anyway); the converters are only looked up, as importing onnxsim takes seconds that a run
    whose conversion is cached never spends."""
    for module in modules:
        try:
            if module == "tensorflow":
                importlib.import_module(module)
            elif importlib.util.find_spec(module) is None:
                raise ModuleNotFoundError(f"No module named {module!r}")
        except ImportError as exc:
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return (f"{subject} needs TensorFlow to {_words(purposes)}, and {module} is not importable here "
                    f"({cause}): install widedeep-bench[reference], or {remedy}")
    return None


def synthetic_default_purposes(saved_model_origin, eval_csv_origin, onnx_origin) -> list[str]:
    """What ``missing_tensorflow`` says building the synthetic default is for, where the run builds it."""
    parts = synthetic_parts(saved_model_origin, eval_csv_origin, onnx_origin)
    return [f"build the synthetic default {' and '.join(parts)}"] if parts else []


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def conversion_rows(tensors):
    """The eval rows a conversion is checked on: the suite's and the bundle's, so they share one cache entry."""
    return tensors.head(min(CONVERSION_PARITY_ROWS, tensors.rows))


# --- reading ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its directory and manifest; the paths of its files."""

    directory: Path
    manifest: dict

    @property
    def onnx(self) -> Path:
        return self.directory / ONNX

    @property
    def reference(self) -> Path:
        return self.directory / REFERENCE

    @property
    def eval_csv(self) -> Path:
        return self.directory / EVAL_CSV

    @property
    def calibration_csv(self) -> Path | None:
        """The rows INT8 engines calibrate on, where the bundle carries them (the embedded default's)."""
        return self.directory / CALIBRATION_CSV if CALIBRATION_CSV in self.manifest["files"] else None

    @property
    def eval_tensors(self) -> Path:
        return self.directory / EVAL_TENSORS

    def tensors(self):
        """``EvalTensors`` of ``eval.csv`` as the bundle carries them (``eval-tensors.npz``), read with numpy
        alone (no pyfarmhash, no TensorFlow). A bundle of version 1 has none: one line saying so; a file whose
        fields do not match this bundle's eval.csv: one line naming the file and the field."""
        from widedeep_bench.data.eval_tensors_file import load_eval_tensors_file

        if EVAL_TENSORS not in self.manifest["files"]:
            raise WidedeepError(f"bundle {self.directory} has no {EVAL_TENSORS}: it was written before bundle "
                                f"version 2 (bundle_version {self.manifest['bundle_version']}); write it again "
                                f"with `widedeep-bench bundle` (this version writes bundle_version {BUNDLE_VERSION})")
        recorded_rows = self.manifest["made_from"].get("eval_csv", {}).get("rows")
        return load_eval_tensors_file(self.eval_tensors, eval_sha256=self.manifest["files"][EVAL_CSV]["sha256"],
                                      rows=recorded_rows if type(recorded_rows) is int else None,
                                      label=str(self.eval_tensors))

    @property
    def reference_rows(self) -> int | None:
        """Rows the saved references cover (whole batches of 1024 of eval.csv), as the manifest records them."""
        rows = self.manifest["made_from"].get("reference_rows")
        return rows if type(rows) is int else None

    def assets(self) -> Assets:
        """The run's assets: the bundle's ONNX and eval set; no SavedModel (its TF reference is saved)."""
        provenance = self.manifest.get("made_from", {}).get("provenance")
        return Assets(saved_model=None, eval_csv=self.eval_csv, onnx=self.onnx,
                      provenance=provenance if provenance in ("user", "synthetic") else "user",
                      origins={"saved_model": "absent", "eval_csv": "bundle", "onnx": "bundle"})

    def as_context(self) -> dict:
        """What a report records of the bundle it ran from."""
        return {"directory": str(self.directory), **{key: self.manifest.get(key) for key in
                ("bundle_version", "created", "widedeep_bench", "made_from", "machine")}}


def load_bundle(directory, source: str = "--wd-bundle") -> Bundle:
    """The bundle at ``directory``, after checking it: ``manifest.json`` readable and of a known
    ``bundle_version``, every file it lists present with its size and SHA-256, and no other file. Any
    problem is one ``WidedeepError`` naming ``source`` (the option or variable as typed), the file and what
    differs."""
    directory = Path(directory).expanduser()

    def fail(problem: str) -> WidedeepError:
        return WidedeepError(f"{source}={str(directory)!r}: {problem}")

    if not directory.exists():
        raise fail("no such directory; expected a bundle directory written by `widedeep-bench bundle`")
    if not directory.is_dir():
        raise fail("is not a directory; expected a bundle directory written by `widedeep-bench bundle`")
    manifest = _read_manifest(directory / MANIFEST, fail)
    files = manifest["files"]
    present = sorted(path.name for path in directory.iterdir() if path.name != MANIFEST)
    for name in sorted(files):
        path, recorded = directory / name, files[name]
        if not path.is_file():
            raise fail(f"{name} is {'not a file' if path.exists() else 'missing'}; {MANIFEST} lists it "
                       f"({recorded['bytes']} bytes)")
        size = path.stat().st_size
        if size != recorded["bytes"]:
            raise fail(f"{name} has {size} bytes, {MANIFEST} records {recorded['bytes']} (changed or truncated "
                       f"after the bundle was written)")
        digest = file_sha256(path)
        if digest != recorded["sha256"]:
            raise fail(f"{name} has SHA-256 {digest}, {MANIFEST} records {recorded['sha256']} (changed after "
                       f"the bundle was written)")
    extra = [name for name in present if name not in files]
    if extra:
        raise fail(f"{extra[0]} is not listed in {MANIFEST}; a bundle holds only the files its manifest lists")
    return Bundle(directory, manifest)


def _read_manifest(path: Path, fail) -> dict:
    """``manifest.json`` as a dict whose ``files`` map each bundle file to ``{"bytes", "sha256"}``."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"no {MANIFEST}: not a bundle (write one with `widedeep-bench bundle`), or one whose "
                   f"write did not finish") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise fail(f"{MANIFEST} is not readable JSON ({exc}); write the bundle again") from exc
    if not isinstance(manifest, dict) or "bundle_version" not in manifest:
        raise fail(f"{MANIFEST} has no bundle_version: not a bundle manifest")
    version = manifest["bundle_version"]
    if type(version) is not int or version not in READ_VERSIONS:
        raise fail(f"{MANIFEST} has bundle_version {version!r}; widedeep-bench {__version__} "
                   f"reads bundle_version {' and '.join(map(str, READ_VERSIONS))} only (written by widedeep-bench "
                   f"{manifest.get('widedeep_bench', '?')}): write the bundle again with this version")
    for table in ("files", "made_from", "machine"):  # read later (the report's bundle section): tables or nothing
        if not isinstance(manifest.get(table), dict):
            raise fail(f"{MANIFEST}: {table} is not a table: {manifest.get(table)!r}")
    files, required = manifest["files"], FILES_OF_VERSION[version]
    for name in required:
        if name not in files:
            raise fail(f"{MANIFEST} lists no {name}; a bundle of version {version} holds {list(required)}")
    for name, recorded in files.items():
        if name not in required + OPTIONAL_FILES:
            raise fail(f"{MANIFEST} lists {name!r}, which is not a bundle file of version {version} "
                       f"({list(required + OPTIONAL_FILES)})")
        if not (isinstance(recorded, dict) and type(recorded.get("bytes")) is int
                and isinstance(recorded.get("sha256"), str)):
            raise fail(f"{MANIFEST}: files[{name!r}] is not {{\"bytes\": int, \"sha256\": str}}: {recorded!r}")
    return manifest


def is_bundle(directory: Path) -> bool:
    """Whether ``directory`` holds a bundle manifest (intact or not): what ``--force`` may replace."""
    try:
        manifest = json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(manifest, dict) and "bundle_version" in manifest


# --- writing ----------------------------------------------------------------------------------------

def check_out(out: Path, *, force: bool) -> None:
    """``--out`` may be absent or an empty directory; an earlier bundle only with ``force``; anything else
    is refused (never deleted)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise WidedeepError(f"--out {out}: exists and is not a directory; refusing to replace it")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not is_bundle(out):
        raise WidedeepError(f"--out {out}: exists, is not empty and holds no bundle {MANIFEST}; refusing to "
                            f"replace it (choose another --out)")
    if not force:
        raise WidedeepError(f"--out {out}: holds a bundle already; add --force to replace it")


def write_bundle(out, *, saved_model=None, eval_csv=None, rows: int | None = None, seed: int | None = None,
                 force: bool = False, command: list[str] = ()) -> Bundle:
    """Write the bundle of ``saved_model`` on ``eval_csv`` (each resolved like ``prepare``: option,
    environment, fetched copy, synthetic default) to ``out``, and return it verified.

    The conversions and references come from the cache when an earlier run made them. Everything is
    written into a temporary directory beside ``out`` (under ``out``'s lock), renamed into place when
    complete; a killed write's temporary is removed by the next write to the same ``out``."""
    from widedeep_bench.assets import resolve_assets
    from widedeep_bench.cache import atomic_directory, lock_for

    out = Path(out).expanduser()
    check_out(out, force=force)
    problem = missing_tensorflow("this command", ["convert the SavedModel and compute the TF reference"],
                                 CONVERSION_MODULES, remedy="run `widedeep-bench bundle` on a machine with "
                                 "TensorFlow and copy its directory here")
    if problem:
        raise WidedeepError(problem)
    assets = resolve_assets(saved_model, eval_csv, rows=rows, seed=seed, resolve_onnx=False)
    with lock_for(out):
        check_out(out, force=force)  # again under the lock: another writer may have finished meanwhile
        with atomic_directory(out) as staging:
            made_from, conversions = _write_files(staging, assets)
            _write_manifest(staging, made_from, conversions, command)
    say(f"wrote the bundle {out}")
    return load_bundle(out, "--out")


def _write_files(staging: Path, assets: Assets) -> tuple[dict, dict]:
    """The bundle's files in ``staging``; returns what it was made from and the conversions' records."""
    from widedeep_bench.conversion.cached import cached_conversion
    from widedeep_bench.data.criteo_csv import load_eval_tensors
    from widedeep_bench.data.eval_tensors_file import save_eval_tensors_file
    from widedeep_bench.digests import tree_sha256
    from widedeep_bench.metrics import whole_batches
    from widedeep_bench.suite.reference import save_reference

    say(f"eval set {assets.eval_csv} ({assets.origins['eval_csv']})")
    tensors = load_eval_tensors(assets.eval_csv)
    reference_rows = whole_batches(tensors)
    shutil.copyfile(assets.eval_csv, staging / EVAL_CSV)
    if file_sha256(staging / EVAL_CSV) != tensors.sha256:
        raise WidedeepError(f"{assets.eval_csv}: changed while the bundle was written (its SHA-256 is no longer "
                            f"{tensors.sha256}); write the bundle again")
    save_eval_tensors_file(staging / EVAL_TENSORS, tensors)
    say(f"converting {assets.saved_model} ({assets.origins['saved_model']}): the plain model and the IxRT variant")
    conversions = {}
    for name, ixrt in ((ONNX, False), (IXRT_ONNX, True)):
        result = cached_conversion(assets.saved_model, ixrt=ixrt, parity_rows=conversion_rows(tensors))
        shutil.copyfile(result.final, staging / name)
        conversions[name] = {"opset": result.opset, "options": result.options,
                             "max_abs_error": {record.stage: record.max_abs_error for record in result.stages}}
    references = _references(assets, reference_rows, staging / ONNX)
    save_reference(staging / REFERENCE, references, eval_sha256=tensors.sha256)
    calibration = None
    if assets.synthetic is not None and assets.origins["eval_csv"] == "synthetic":
        from widedeep_bench.calibration import CALIBRATION_ROWS

        shutil.copyfile(assets.synthetic.training_rows(CALIBRATION_ROWS), staging / CALIBRATION_CSV)
        calibration = {"rows": CALIBRATION_ROWS, "source": f"the first {CALIBRATION_ROWS} synthetic training rows of "
                                                          f"the embedded default (world {assets.synthetic.world_seed})"}
    made_from = {"provenance": assets.provenance,
                 "saved_model": {"path": str(assets.saved_model), "origin": assets.origins["saved_model"],
                                 "tree_sha256": tree_sha256(assets.saved_model)},
                 "eval_csv": {"path": str(assets.eval_csv), "origin": assets.origins["eval_csv"],
                              "sha256": tensors.sha256, "rows": tensors.rows, "labelled": tensors.labelled},
                 "reference_rows": reference_rows.rows, "calibration": calibration}
    return made_from, conversions


def _references(assets: Assets, rows, onnx: Path) -> dict:
    """The TF original's and ONNX Runtime FP32's probabilities on ``rows``, as the suite computes (and
    caches) them."""
    from widedeep_bench.engines.store import EngineStore
    from widedeep_bench.metrics import ACCURACY_BATCH
    from widedeep_bench.suite.engines import EnginePool
    from widedeep_bench.suite.reference import ReferenceSet

    say(f"computing the reference probabilities on {rows.rows} rows: {', '.join(REFERENCE_NAMES)}")
    pool = EnginePool(onnx=onnx, saved_model=assets.saved_model, max_batch=ACCURACY_BATCH, store=EngineStore())
    try:
        references = ReferenceSet(assets, rows, onnx, pool)
        return {name: references.get(name) for name in REFERENCE_NAMES}
    finally:
        pool.close()


def _write_manifest(staging: Path, made_from: dict, conversions: dict, command) -> None:
    from widedeep_bench.environment import machine, provenance

    files = {path.name: {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
             for path in sorted(staging.iterdir())}
    software = provenance()
    manifest = {"bundle_version": BUNDLE_VERSION, "files": files, "made_from": made_from,
                "conversions": conversions, "references": list(REFERENCE_NAMES),
                "widedeep_bench": software["widedeep_bench_version"], "packages": software["versions"],
                "git_commit": software["git_commit"], "machine": machine(), "command": list(command),
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
