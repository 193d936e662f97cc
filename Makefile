# alrun developer commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Pick another torch build here, e.g. make install TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test test-full lint format clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv (if absent) and install alrun with dev tools; quick when up to date

run: install ## Run the default experiment (digits, margin); pass overrides with ARGS="strategy=entropy"
	$(VENV)/bin/alrun $(ARGS)

test: install ## Run the fast test suite (what CI runs)
	$(PY) -m pytest -q -m "not slow"

test-full: install ## Run every test, the slow ones included
	$(PY) -m pytest -q

lint: install ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check alrun tests $(wildcard benchmarks)
	$(VENV)/bin/ruff format --check alrun tests $(wildcard benchmarks)
	$(VENV)/bin/mypy

format: install ## Format and auto-fix with ruff
	$(VENV)/bin/ruff format alrun tests $(wildcard benchmarks)
	$(VENV)/bin/ruff check --fix alrun tests $(wildcard benchmarks)

clean: ## Remove outputs, caches and the virtual environment
	find outputs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +; rm -rf multirun .pytest_cache .mypy_cache .ruff_cache $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
