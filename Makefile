# Thin wrappers around the README's commands. Everything installs into ./.venv.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
OUT ?= runs/scifact

.PHONY: install install-dev test test-slow scifact bench

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

# The main job on the embedded defaults: SciFact + MiniLM, PQ M=48 (32x), JPQ training,
# then BM25, flat, PQ and JPQ on the test split, side by side.
scifact: install
	HF_HUB_OFFLINE=1 PATH=$(BIN):$$PATH bash scripts/scifact.sh $(OUT)

bench: install
	$(BIN)/python benchmarks/search_speed.py
