# Two entry points that work on a fresh machine: `make demo` (the main job on the embedded
# default) and `make test` (the suite's own tests). Both create .venv from requirements.txt first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test install clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: install
	$(PY) -m widedeep_bench prepare
	mkdir -p out
	$(PY) -m pytest tests/conformance -p no:cacheprovider --wd-report out/report.json --benchmark-json out/benchmark.json

test: install
	$(PY) -m pytest -p no:cacheprovider

clean-venv:
	rm -rf $(VENV)
