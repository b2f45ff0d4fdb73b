# Two entry points that work on a fresh machine: `make demo` (the main job on the embedded default) and
# `make test` (the suite's own tests). Both first install the package, editable, with every extra, into
# .venv at the versions pinned in constraints.txt.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --quiet --disable-pip-version-check
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test install clean-venv

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
