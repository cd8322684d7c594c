# Everything runs inside .venv, and every tool's home is a folder of this checkout,
# so a test run reads nothing from, and writes nothing to, the user's own setup.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOMES := $(CURDIR)/.test-home

export JUPYTER_CONFIG_DIR := $(HOMES)/jupyter-config
export JUPYTER_DATA_DIR := $(HOMES)/jupyter-data
export JUPYTER_RUNTIME_DIR := $(HOMES)/jupyter-runtime
export JUPYTERLAB_SETTINGS_DIR := $(HOMES)/lab-settings
export JUPYTERLAB_WORKSPACES_DIR := $(HOMES)/lab-workspaces
export IPYTHONDIR := $(HOMES)/ipython
export MPLCONFIGDIR := $(HOMES)/matplotlib
export XDG_CACHE_HOME := $(HOMES)/xdg-cache
export XDG_CONFIG_HOME := $(HOMES)/xdg-config
export XDG_DATA_HOME := $(HOMES)/xdg-data
export YARN_CACHE_FOLDER := $(HOMES)/yarn-cache
export YARN_GLOBAL_FOLDER := $(HOMES)/yarn-global
export TMPDIR := $(HOMES)/tmp
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install demo lab test test-core test-browser lint bench bench-tiny clean

$(STAMP): pyproject.toml
	@mkdir -p $(TMPDIR)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test,dev]"
	@touch $@

install: $(STAMP)

## demo: make a real jellycell project, run the tour notebook headlessly, print what happened
demo: $(STAMP)
	@mkdir -p $(TMPDIR)
	$(PY) binder/make_demo.py --execute

## lab: the same demo project, opened in JupyterLab
lab: $(STAMP)
	@mkdir -p $(TMPDIR)
	$(PY) binder/make_demo.py
	$(VENV)/bin/jupyter lab --notebook-dir=.demo --LabApp.default_url=/lab/tree/tour.ipynb

## test: every test; the browser tests run as their own pytest process
test: test-core test-browser

test-core: $(STAMP)
	@mkdir -p $(TMPDIR)
	$(PY) -m pytest -m "not browser" -p no:cacheprovider

test-browser: $(STAMP)
	@mkdir -p $(TMPDIR)
	$(PY) -m pytest -m browser -p no:cacheprovider tests/browser

lint: $(STAMP)
	$(VENV)/bin/ruff format --check jellycell_jupyter tests benchmarks binder
	$(VENV)/bin/ruff check jellycell_jupyter tests benchmarks binder
	$(VENV)/bin/mypy

## bench: the speed comparison against tar, pigz and the jellycell CLI
bench: $(STAMP)
	@mkdir -p $(TMPDIR)
	$(PY) benchmarks/run.py

bench-tiny: $(STAMP)
	@mkdir -p $(TMPDIR)
	$(PY) benchmarks/run.py --tiny

clean:
	rm -rf $(VENV) $(HOMES) .demo .bench build dist jellycell_jupyter/labextension
