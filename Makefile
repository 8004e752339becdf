# The two commands of the README's quick start: `make demo` and `make test`.
# Both set up .venv first (CPU build of torch pinned by constraints.txt; Debian's Fashion-MNIST
# where apt is available). On a GPU machine, see README "GPU" before `make setup`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: setup demo test test-all test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@if [ ! -d $(FASHION_DIR) ] && command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  echo "installing Debian's dataset-fashion-mnist (offline Fashion-MNIST)"; \
	  ($$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	    || echo "note: could not install dataset-fashion-mnist; the fashion-mnist dataset stays unavailable"; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# PYTHONWARNINGS hides setuptools' notice on editable installs; errors still show
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@echo "installed tapaskit $$($(BIN)/python -c 'import tapaskit; print(tapaskit.__version__)') with torch $$($(BIN)/python -c 'import torch; print(torch.__version__)') in $(VENV)"
	touch $(STAMP)

demo: setup
	$(BIN)/tapas search digits --preset quick --out out/demo --force

test: setup
	$(BIN)/python -m pytest -q -m "not long"

test-all: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) out build *.egg-info
