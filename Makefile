# Thin wrappers around the README's commands. Everything installs into ./.venv.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
OUT ?= runs/scifact

.PHONY: install install-dev test test-slow scifact scifact-quick nfcorpus nfcorpus-quick bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first: the CPU wheel on this machine's disk; a bare `torch` requirement would
# otherwise pull a multi-GB CUDA build. pip keeps the installed torch afterwards.
install: $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0 || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e .

install-dev: install
	$(BIN)/pip install -q -e ".[dev]"

test: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-slow: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m slow

# The main job on the embedded defaults: the SciFact reproduction of the paper's three
# research questions (Q1 compression grid, Q2 model comparison, Q3 ablations), ending with
# the Q2 table and the paths of the report and the plot. scifact-quick: M=48 only (minutes).
scifact: install
	HF_HUB_OFFLINE=1 $(BIN)/jpq-pyserini reproduce eval/scifact.yaml --output $(OUT)

scifact-quick: install
	HF_HUB_OFFLINE=1 $(BIN)/jpq-pyserini reproduce eval/scifact.yaml --quick --output $(OUT)-quick

# The second collection (not shipped: NFCORPUS names a BEIR folder with train and dev qrels;
# default ../shared/data/nfcorpus). Reported on its official dev split.
nfcorpus: install
	HF_HUB_OFFLINE=1 $(BIN)/jpq-pyserini reproduce eval/nfcorpus.yaml --output runs/nfcorpus

nfcorpus-quick: install
	HF_HUB_OFFLINE=1 $(BIN)/jpq-pyserini reproduce eval/nfcorpus.yaml --quick --output runs/nfcorpus-quick

bench: install
	$(BIN)/python benchmarks/search_speed.py
