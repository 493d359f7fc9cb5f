# Two commands on a fresh machine: `make demo` and `make test`. Every target sets up .venv itself.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml tools/excluded.txt | cksum | cut -d' ' -f1)

.PHONY: demo study pool test data lab docs readme export clean venv sysdeps

# Python writes the bytecode of what it imports, once, into the venv and the package, even where the environment sets
# PYTHONDONTWRITEBYTECODE (containers often do): else every process and kernel compiles torch, pandas and the rest again from
# source. Compiled on first import, only what runs is compiled: about a fifth of the venv's files, not all of them up front.
unexport PYTHONDONTWRITEBYTECODE

# PyTorch goes in first, pinned, with pip (it reads pip's configuration, where a machine keeps its wheels), so nothing pulls a
# multi-GB CUDA build; an existing torch (CUDA, MPS) is kept. uv installs the rest, about 4x faster than pip (15 s, not 55, from
# an empty cache), leaving out what tools/excluded.txt lists; pip does it where uv cannot be installed or cannot reach an index
# (uv does not read pip's configuration).
$(STAMP): pyproject.toml tools/excluded.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q --no-compile torch==2.13.0
	$(BIN)/pip install -q uv && UV_LINK_MODE=copy $(BIN)/uv pip install -q --python $(BIN)/python --excludes tools/excluded.txt \
		-e ".[dev,ray]" || $(BIN)/pip install -q --no-compile -e ".[dev,ray]"
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

data: venv
	$(BIN)/fints-data build
	$(BIN)/fints-resample --all
	$(BIN)/fints-datasets
	$(BIN)/fints-data verify

# The main job: a CPU scaling sweep (15K..300K parameters, HPO per budget, 3 model seeds), test-loss fits, verdict, plots and outputs/results/summary_report.md;
# min(4, cores) notebooks run at once, each kernel on its share of the cores.
demo: data
	$(BIN)/fints-demo

# A mini-study: budgets 15K, 30K and 100K x horizons 1, 3 and 5 x 3 model seeds, HPO per budget and cell, compared on skill in
# outputs/results/study_study.md. Rerun after a stop and it resumes: finished runs are skipped.
study: data
	$(BIN)/fints-experiments run --phase study --budgets 15K 30K 100K --tasks threshold_1pct --horizons 1 3 5 --seeds 0 1 2 \
		--n-trials 6 --max-epochs 20 --wandb-mode disabled

# Does pooling help? The three embedded series (SP500, NASDAQ, MSFT) on one calendar, judged on SP500's own test windows: SP500
# alone (solo), all three (pool) and all three with a series embedding (poolembed), budgets 30K, 100K and 300K x 3 model seeds
# at horizon 1 with the trainer's default hyperparameters, on threshold_1pct and on threshold_1vol (a move of one recent
# standard deviation); solo and pool also on the most recent half of their history. Then the paired comparisons, the forecasts
# as they are and recalibrated on each series' val windows, and L(N, D) over the threshold_1pct runs. Finished runs are skipped.
POOL_RUNS := $(foreach b,30K 100K 300K,$(foreach s,0 1 2,$(foreach t,1pct 1vol,$(foreach c,solo pool poolembed,$(c):$(t):$(b):$(s):1)))) \
	$(foreach b,30K 100K 300K,$(foreach c,solo pool,$(c):1pct:$(b):0:0.5))
POOLING := $(BIN)/fints-pooling --series SP500
pool: data
	@for run in $(POOL_RUNS); do IFS=: read c t b s f <<< "$$run"; \
		out=outputs/results/$${c}_daily_threshold_$${t}_h1/$$b$$([ $$f = 1 ] || echo _d$$f)$$([ $$s = 0 ] || echo _seed$$s).json; \
		[ -f $$out ] || $(BIN)/fints-train --config configs/experiments/$${c}_daily_threshold_1pct.yaml --task threshold_$$t --horizon 1 \
			--budget $$b --model-seed $$s --train-fraction $$f --wandb-mode disabled --no-mlflow > /dev/null || exit 1; echo "$$out"; done
	@for t in 1pct 1vol; do for c in pool poolembed; do for k in "" --calibrated; do \
		$(POOLING) --pooled $${c}_daily_threshold_$${t}_h1 --alone solo_daily_threshold_$${t}_h1 $$k; done; done; done
	$(POOLING) --pooled pool_daily_threshold_1pct_h1 --alone solo_daily_threshold_1pct_h1 --law

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
