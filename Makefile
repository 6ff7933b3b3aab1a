# Two entry points for a fresh machine; each creates its own virtual environment.
#   make demo  - runs initlab's main job on built-in data (report in initlab-demo/)
#   make test  - lint, type checks and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch that this machine kind keeps on disk; an unpinned torch pulls CUDA.
TORCH_PIN ?= torch==2.13.0
# make test-versions: the oldest supported torch (the floor in pyproject.toml and
# initlab._versions.TORCH_FLOOR) and the newest this machine's pip allows (2.14.1 lies
# on disk; 2.15 needs pip's torch cap lifted). Each gets its own venv under build/.
TORCH_OLDEST ?= 2.12.0
TORCH_NEWEST ?= 2.14.1
VERSIONS_DIR ?= build/torch-versions
# Which tests test-versions runs (default: the whole suite).
VERSIONS_PYTEST_ARGS ?=
# make test-zoo: timm and torchvision models (tests/zoo/timm_tv) in their own venv. PyPI's
# torchvision wheel is built against CUDA PyTorch: beside the CPU torch above its compiled
# part fails to load (`operator torchvision::nms does not exist`), and timm imports it. This
# venv takes the CUDA builds of torch and torchvision that lie on this machine kind's disk
# (they run on the CPU; no GPU needed) and timm from PyPI, pinned because the tests name
# timm's tensors (cls_token, gamma, relative_position_bias_table) and a new release may
# rename them. About 2.5 min and 5.3 GB the first time; the stamp skips that afterwards.
ZOO_VENV ?= build/zoo-venv
ZOO_PINS ?= torch==2.14.1 torchvision==0.29.1
ZOO_TIMM ?= timm==1.0.31

.PHONY: demo test test-fast lint typecheck bench clean browser test-versions test-zoo

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
	$(MAKE) --no-print-directory test-zoo

$(ZOO_VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(ZOO_VENV)
	$(ZOO_VENV)/bin/python -m pip install -q --upgrade pip
	$(ZOO_VENV)/bin/python -m pip install -q $(ZOO_PINS)
	$(ZOO_VENV)/bin/python -m pip install -q -e '.[test,fast,hf]' $(ZOO_TIMM) $(ZOO_PINS)
	touch $@

# Only x86_64: on aarch64 the newest torch this machine kind's pip offers is 2.9.1, below
# initlab's floor (2.12), so there is no torch for timm/torchvision to run on.
ifeq ($(shell uname -m),x86_64)
test-zoo: $(ZOO_VENV)/.installed
	$(ZOO_VENV)/bin/python -c 'import timm, torchvision, torch; print("timm", timm.__version__, "torchvision", torchvision.__version__, "torch", torch.__version__)'
	$(ZOO_VENV)/bin/python -m pytest -q -n 2 --dist loadgroup -p no:cacheprovider tests/zoo/timm_tv
else
test-zoo:
	@echo "test-zoo: the timm/torchvision zoo is not run on $$(uname -m): this machine kind's newest torch there (2.9.1) is below initlab's floor 2.12"
endif

# The suite against the oldest and the newest supported torch, each in its own venv.
# Not part of `make test`: both are CUDA builds from PyPI (5.6 GB each in the venv; the
# oldest downloads a 0.5 GB torch wheel and some CUDA libraries, the newest lies on disk);
# about an hour on a fresh machine: see docs/errors.md ("Supported versions").
test-versions:
	@set -e; for v in $(TORCH_OLDEST) $(TORCH_NEWEST); do \
	  env=$(VERSIONS_DIR)/$$v; \
	  if [ ! -f $$env/.installed ]; then \
	    $(PYTHON) -m venv $$env; \
	    $$env/bin/python -m pip install -q --upgrade pip; \
	    $$env/bin/python -m pip install -q torch==$$v; \
	    $$env/bin/python -m pip install -q -e '.[test,fast,hf]' torch==$$v; \
	    touch $$env/.installed; \
	  fi; \
	  echo "== torch $$v"; \
	  $$env/bin/python -c 'import torch, initlab; print("torch", torch.__version__)'; \
	  $$env/bin/python -m pytest -q -n 2 --dist loadgroup -p no:cacheprovider $(VERSIONS_PYTEST_ARGS); \
	done

# The fast tier while developing (under a minute here): everything but the tests marked slow
# (real-model zoo, kernels under the Triton interpreter, sharding, browsers, training runs).
test-fast: $(BIN)/.initlab-installed
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup -m "not slow"

bench: $(BIN)/.initlab-installed
	$(BIN)/python -m initlab.bench

clean:
	rm -rf $(VENV) initlab-demo .pytest_cache .mypy_cache .ruff_cache
