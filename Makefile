# Two commands on a fresh machine: `make demo` and `make test`. Every target sets up .venv itself.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo study test data lab docs readme export clean venv sysdeps

# PyTorch goes in first, pinned, so nothing pulls a multi-GB CUDA build; an existing torch (CUDA, MPS) is kept.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,ray]"
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

data: venv
	$(BIN)/fints-data build
	$(BIN)/fints-resample --all
	$(BIN)/fints-datasets
	$(BIN)/fints-data verify

# The main job: a CPU scaling sweep (15K..1M parameters, HPO per budget, 3 model seeds), test-loss fits, verdict, plots and outputs/results/summary_report.md.
demo: data
	$(BIN)/fints-demo

# A mini-study: budgets 15K, 30K and 100K x horizons 1, 3 and 5 x 3 model seeds, HPO per budget and cell, compared on skill in
# outputs/results/study_study.md. Rerun after a stop and it resumes: finished runs are skipped.
study: data
	$(BIN)/fints-experiments run --phase study --budgets 15K 30K 100K --tasks threshold_1pct --horizons 1 3 5 --seeds 0 1 2 \
		--n-trials 6 --max-epochs 20 --wandb-mode disabled

# System programs some tests use: Chromium (browser tests) and PostgreSQL (distributed HPO test). Installed with apt only as root
# or with passwordless sudo; otherwise one line says which tests will skip and how to install them. PostgreSQL also comes
# without root from the pgserver wheel in the venv.
sysdeps: venv
	@bash tools/sysdeps.sh $(BIN)/python

# ruff checks the notebooks (the source), tests, tools and benchmarks first: one format, no lint.
test: data sysdeps
	$(BIN)/ruff format --check --quiet . && $(BIN)/ruff check --quiet .
	$(BIN)/python -m pytest

# JupyterLab on the project's venv; it prints the URL with its token. Root (containers) needs --allow-root.
lab: venv
	$(BIN)/jupyter lab --notebook-dir=nbs --no-browser --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root)

# The docs site in _docs/: Quarto where it is on PATH, else Pandoc (it says which); the data dictionary page needs the data.
docs: data
	$(BIN)/python tools/docs.py site

readme: venv
	$(BIN)/python tools/docs.py readme

export: venv
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

clean:
	rm -rf _docs _proc outputs .pytest_cache
