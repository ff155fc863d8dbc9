# The two set-up commands: `make train` and `make test`. Both create .venv if it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Exact versions the suite was last run with; pyproject.toml keeps the looser ranges for users.
CONSTRAINTS := requirements/constraints.txt
ARGS ?=
PYTEST_ARGS ?=

.PHONY: train test test-fast lint docs docs-serve image-check install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install -c $(CONSTRAINTS) -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## train the default config (MNIST; set VAE_LAB_DATA_DIR or let it download); extra overrides: make train ARGS="..."
train: install
	$(BIN)/vae-lab train $(ARGS)

## lint: ruff (lint and format), mypy and the layer contracts (import-linter), configured in pyproject.toml; `make test` runs it first
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## the documentation site (mkdocs.yml: MkDocs, Material, mkdocstrings) into site/; --strict: a broken link, a missing
## page or an unresolved API reference fails; no network needed (no remote fonts, analytics or fetching plugins)
docs: install-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## serve the site at http://127.0.0.1:8000, rebuilt on every change
docs-serve: install-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

## the edit-test loop: the suite without the tests marked slow (two thirds of the tests, under 2 minutes); lint and docs not run
test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## run the test suite, after the lint and the documentation build
test: lint docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## build the Dockerfile with buildah (chroot, no daemon) on a local Debian + torch base and run it as its user (minutes; not part of test)
image-check:
	.ci/image-check

clean:
	rm -rf $(VENV) runs outputs .pytest_cache site
