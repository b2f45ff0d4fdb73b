# Two entry points that work on a fresh machine: `make demo` (the main job on the embedded default) and
# `make test` (the suite's own tests). Both first install the package, editable, with every extra, into
# .venv at the versions pinned in constraints.txt.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --quiet --disable-pip-version-check
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test install clean-venv gpu-kit gpu-rehearsal

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt -e ".[all]"
	touch $@

# The run's pages are written whatever its verdict (a failed run is the one whose page gets read); make's exit
# status is the run's.
demo: install
	$(VENV)/bin/widedeep-bench prepare
	mkdir -p out
	$(VENV)/bin/widedeep-bench test --wd-report out/report.json --benchmark-json out/benchmark.json; \
	status=$$?; \
	$(VENV)/bin/widedeep-bench -q report out/report.json --html out/report.html --markdown out/report.md > /dev/null; \
	exit $$status

# The self-test times each conformance perf case for at least 5 rounds and 0.5 s (the suite's defaults are 20
# rounds and 1 s): at batch 16384 a round takes about 0.5 s beside the TF original's, at 1024 (the batch the
# profile gates) 0.5 s still holds 15-20 paired rounds; it keeps the whole CI run within its budget on 2
# cores (23.7 minutes with 10 rounds and 1 s, 2026-11-30).
test: install
	$(PY) -m pytest -p no:cacheprovider --durations=15 --wd-perf-rounds 5 --wd-perf-duration 0.5

clean-venv:
	rm -rf $(VENV)

# What the GPU machine needs (docs/gpu.md): a bundle of 65,536 eval rows of the embedded default (the converted ONNX,
# the rows already preprocessed, the TF original's probabilities) and this suite as a wheel, 40-45 MB in all.
GPU_KIT ?= .gpu-kit
gpu-kit: install
	$(VENV)/bin/widedeep-bench -q bundle --out $(GPU_KIT)/bundle --rows 65536 --force
	rm -rf $(GPU_KIT)/wheels
	$(PIP) wheel --no-deps --wheel-dir $(GPU_KIT)/wheels .
	{ echo "kit made $$(date -u +%Y-%m-%dT%H:%M:%SZ) from commit $$(git rev-parse HEAD 2>/dev/null || echo unknown)$$(git diff --quiet HEAD 2>/dev/null || echo ' with uncommitted changes')"; \
	  cd $(GPU_KIT) && sha256sum wheels/*.whl bundle/manifest.json; } > $(GPU_KIT)/provenance.txt
	cat $(GPU_KIT)/provenance.txt
	du -sh $(GPU_KIT)

# The device's command, rehearsed here on the CPU in a venv shaped like the GPU machine's Python: torch (CPU build),
# numpy, onnx, onnxruntime and the other packages it has, and neither TensorFlow nor pyfarmhash. CPython 3.11 (the
# machine has 3.12; the CPU build of torch here is a 3.11 wheel).
REHEARSAL_VENV ?= .venv-gpu-rehearsal
DEVICE_PACKAGES := torch numpy onnx onnxruntime scipy scikit-learn joblib filelock xxhash tqdm pyarrow pytest pytest-benchmark pytest-xdist
gpu-rehearsal: gpu-kit
	test -x $(REHEARSAL_VENV)/bin/python || $(PYTHON) -m venv $(REHEARSAL_VENV)
	$(REHEARSAL_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt $(DEVICE_PACKAGES)
	$(REHEARSAL_VENV)/bin/python -I -c "import importlib.util as u, sys; present = [m for m in ('tensorflow', 'farmhash') if u.find_spec(m)]; sys.exit(f'the rehearsal venv has {present}: it must not' if present else 0)"
	PYTHON=$(REHEARSAL_VENV)/bin/python OUT=out/gpu-rehearsal bash tools/gpu-device.sh $(GPU_KIT)
