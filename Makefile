# alrun developer commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Pick another torch build here, e.g. make install TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
ARGS ?=
BENCH_DIR ?= outputs/bench
ANCHOR ?= benchmarks/anchor_digits.json
RUNS ?= outputs
REPRO_DIR ?= outputs/reproduce-mnist
# strategy:budget, each run stopping 10+ labels past the top of Gal et al. (2017) Table 1's +-30 % window
REPRO_RUNS ?= bald:200 var_ratio:150 mc_entropy:200 mean_std:290 random:330

.DEFAULT_GOAL := help
.PHONY: help install data run test test-full test-slurm lint format docs bench bench-anchor report reproduce-mnist clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev,loggers]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv (if absent) and install alrun with dev tools and the loggers extra; quick when up to date

data: ## Fetch MNIST + Fashion-MNIST into data/ (or $$ALRUN_DATA_DIR), sha256-checked; quick when present
	bash scripts/fetch_data.sh

run: install ## Run the default experiment (digits, margin); pass overrides with ARGS="strategy=entropy"
	$(VENV)/bin/alrun $(ARGS)

test: install ## Run the fast test suite (what CI runs)
	$(PY) -m pytest -q -m "not slow"

test-full: install ## Run every test, the slow ones included
	$(PY) -m pytest -q

# The Slurm tests need root (apt, daemons): `make test` skips them, naming this target. The Slurm is
# stopped afterwards whatever the tests did; its state stays in /var/lib/alrun-slurm for a quick restart.
test-slurm: install ## Start a one-node Slurm here (scripts/slurm_local.sh: root, apt), run the Slurm tests, stop it
	@t0=$$SECONDS; scripts/slurm_local.sh start && echo "test-slurm: Slurm up after $$((SECONDS - t0)) s" && \
	  ALRUN_SLURM_REQUIRED=1 $(PY) -m pytest -q -m slurm; rc=$$?; \
	  scripts/slurm_local.sh stop; echo "test-slurm: $$((SECONDS - t0)) s in all"; exit $$rc

lint: install ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check alrun hydra_plugins tests docs/examples $(wildcard benchmarks)
	$(VENV)/bin/ruff format --check alrun hydra_plugins tests docs/examples $(wildcard benchmarks)
	$(VENV)/bin/mypy

docs: install ## Build the documentation site into site/ (mkdocs, strict: a broken link fails)
	$(VENV)/bin/mkdocs build --strict

format: install ## Format and auto-fix with ruff
	$(VENV)/bin/ruff format alrun hydra_plugins tests docs/examples $(wildcard benchmarks)
	$(VENV)/bin/ruff check --fix alrun hydra_plugins tests docs/examples $(wildcard benchmarks)

# One torch thread per job, two jobs at a time: the numbers do not depend on the machine's core count,
# and spinning worker threads cannot collapse on a loaded machine. A failed job does not stop the
# report: the gate then fails on the missing seeds and the report lists the job.
bench: install ## Digits benchmark (4 strategies x 5 seeds) into outputs/bench, its report, and the gate against the anchor
	rm -rf $(BENCH_DIR)
	-OMP_NUM_THREADS=1 $(VENV)/bin/alrun -m experiment=bench_digits progress=false hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=$(BENCH_DIR)
	$(VENV)/bin/alrun-report $(BENCH_DIR) --check $(ANCHOR)

bench-anchor: install ## Store the last `make bench` run as the new anchor (benchmarks/anchor_digits.json)
	$(VENV)/bin/alrun-report $(BENCH_DIR) --write-anchor $(ANCHOR)

# One torch thread per job, two jobs at a time; a sweep that is killed continues where it stopped
# when the same command runs again (each job resumes its own run folder).
reproduce-mnist: install data ## Gal et al. 2017 Table 1, 90 % column: 5 strategies x 3 seeds of experiment=gal2017_mnist (hours on 2 cores)
	@for job in $(REPRO_RUNS); do s=$${job%%:*}; b=$${job##*:}; \
	  OMP_NUM_THREADS=1 $(VENV)/bin/alrun -m experiment=gal2017_mnist strategy=$$s budget=$$b seed=0,1,2 threads=1 \
	    progress=false hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=$(REPRO_DIR)/$$s || exit $$?; done
	$(VENV)/bin/alrun-report $(REPRO_DIR) --target 0.9 --out $(REPRO_DIR)

report: install ## Summarise runs (summary.md, curves.png): make report RUNS="outputs/multirun/<date>/<time>"
	$(VENV)/bin/alrun-report $(RUNS)

clean: ## Remove outputs, caches and the virtual environment
	find outputs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +; rm -rf multirun site .pytest_cache .mypy_cache .ruff_cache $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
