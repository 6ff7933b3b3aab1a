# Two entry points for a fresh machine; each creates its own virtual environment.
#   make demo  - runs initlab's main job on built-in data (report in initlab-demo/)
#   make test  - lint, type checks and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch that this machine kind keeps on disk; an unpinned torch pulls CUDA.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test lint typecheck bench clean browser

$(BIN)/.initlab-installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e '.[report,test,fast,triton,hf]' $(TORCH_PIN)
	touch $@

demo: $(BIN)/.initlab-installed
	$(BIN)/initlab demo --out initlab-demo

lint: $(BIN)/.initlab-installed
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)

typecheck: $(BIN)/.initlab-installed
	$(BIN)/mypy

# Headless Chromium for the report-rendering tests (Debian package; root on this machine kind).
# Without it those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) 2>/dev/null || \
	    echo "chromium could not be installed: browser tests will be skipped"; }

test: lint typecheck browser
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

bench: $(BIN)/.initlab-installed
	$(BIN)/python -m initlab.bench

clean:
	rm -rf $(VENV) initlab-demo .pytest_cache .mypy_cache .ruff_cache
