# The commands the README names. Each target installs what it needs into a virtualenv
# (.venv by default) through constraints.txt, which pins the CPU torch wheel served on the
# project's build machines, so no CUDA packages are downloaded.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PIP_INSTALL := $(PIP) install --quiet -c constraints.txt
# A second virtualenv for `make test-oldest`: the same test extra, with the oldest
# scikit-learn that pyproject.toml allows (pinned in constraints-oldest.txt).
VENV_OLDEST ?= .venv-oldest
BIN_OLDEST := $(VENV_OLDEST)/bin
PYTEST_ARGS ?=
DEMO_ARGS ?=
BENCH_ARGS ?= --quick
# `make gpu-check`: the interpreter that already holds (CUDA) torch: the virtualenv when there
# is one, else $(PYTHON); nothing is installed, so a GPU machine's torch stays untouched.
GPU_CHECK_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
GPU_CHECK_OUT ?= benchmarks/results/gpu_check
GPU_CHECK_ARGS ?=

.PHONY: help demo test test-oldest docs bench gpu-check lint clean

help:
	@echo "make demo   install skultr and run the demo on built-in synthetic data"
	@echo "make test   install skultr with its test extra and run the whole suite"
	@echo "make test-oldest  the same suite in $(VENV_OLDEST), on the oldest scikit-learn allowed"
	@echo "make docs   build the HTML documentation (warnings are errors)"
	@echo "make bench  run every benchmark script (BENCH_ARGS=--quick by default)"
	@echo "make gpu-check  pytest -m gpu + CPU-vs-GPU throughput (GPU_CHECK_OUT=dir; dry run without CUDA)"
	@echo "make lint   run ruff"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files: re-install only when the package metadata or the pins change.
$(VENV)/.installed-core: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e .
	@touch $@

$(VENV)/.installed-%: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e ".[$*]"
	@touch $@

demo: $(VENV)/.installed-core
	$(BIN)/python -m skultr $(DEMO_ARGS)

# pytest exits 5 when it collects no test: that is a broken suite, not a pass.
test: $(VENV)/.installed-test
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

$(BIN_OLDEST)/python:
	$(PYTHON) -m venv $(VENV_OLDEST)

$(VENV_OLDEST)/.installed-test: pyproject.toml constraints.txt constraints-oldest.txt \
		| $(BIN_OLDEST)/python
	$(BIN_OLDEST)/python -m pip install --quiet -c constraints.txt -c constraints-oldest.txt \
		-e ".[test]"
	@touch $@

test-oldest: $(VENV_OLDEST)/.installed-test
	@$(BIN_OLDEST)/python -c "import sklearn; print('scikit-learn', sklearn.__version__)"
	@$(BIN_OLDEST)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

docs: $(VENV)/.installed-docs
	$(BIN)/python -m sphinx -W --keep-going -b html doc doc/_build/html

bench: $(VENV)/.installed-bench
	@set -e; for script in benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script $(BENCH_ARGS); done

gpu-check:
	$(GPU_CHECK_PYTHON) benchmarks/gpu_check.py --out $(GPU_CHECK_OUT) $(GPU_CHECK_ARGS)

lint: $(VENV)/.installed-lint
	$(BIN)/python -m ruff check skultr tests benchmarks examples doc/conf.py doc/sphinxext conftest.py
	$(BIN)/python -m ruff format --check skultr tests benchmarks examples doc/conf.py doc/sphinxext conftest.py

clean:
	rm -rf $(VENV) $(VENV_OLDEST) build dist *.egg-info doc/_build doc/auto_examples doc/generated \
		.pytest_cache .hypothesis .ruff_cache
