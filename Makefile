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

demo: install
	$(VENV)/bin/widedeep-bench prepare
	mkdir -p out
	$(VENV)/bin/widedeep-bench test --wd-report out/report.json --benchmark-json out/benchmark.json

test: install
	$(PY) -m pytest -p no:cacheprovider --durations=15

clean-venv:
	rm -rf $(VENV)
