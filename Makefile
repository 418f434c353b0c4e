# Every target sets itself up: a fresh clone needs nothing but python3 (and apt-get for the browser tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo lab test lint bench install-dev install-demo install-lab clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Stamp files record which extras are installed; they are redone when pyproject.toml changes.
$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[demo]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[demo,dask,dev]'
	touch $@

$(VENV)/.lab-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[demo,notebook]'
	touch $@

install-demo: $(VENV)/.demo-installed
install-lab: $(VENV)/.lab-installed
install-dev: $(VENV)/.dev-installed

# Copies the demo pipeline into pipetest_workspace/demo, runs it, and prints where the run and its report are.
demo: install-demo
	$(VENV)/bin/pipetest demo

# JupyterLab on notebooks/ with the package and its demo installed in .venv (LAB_ARGS passes options,
# e.g. make lab LAB_ARGS="--no-browser --port 8890").
LAB_ARGS ?=
lab: install-lab
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

# ruff, then the layer contracts of pyproject.toml ([tool.importlinter]): a broken layer fails the build.
lint: install-dev
	$(VENV)/bin/ruff check pipetest_nb tests
	$(VENV)/bin/lint-imports

# The browser tests drive Debian's chromium (never `playwright install`); install it when missing.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver)

test: install-dev lint chromium
	$(PY) -m pytest

$(VENV)/.bench-installed: $(VENV)/.dev-installed
	$(PIP) install -e '.[demo,dask,dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) tests/benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
