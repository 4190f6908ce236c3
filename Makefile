# zkrisk: `make demo` runs one proved update end to end; `make test` runs the test suite.
# Both install what is missing first (PyPI, npm and Debian registries only).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# py-solc-x (ape compile) finds this checkout's solc-js shim here, never another checkout's (prover.toolchain)
export SOLCX_BINARY_PATH := $(CURDIR)/.zkrisk/solcx

.PHONY: setup demo test test-fast services bench clean-keys

setup: $(STAMP_PY) $(STAMP_NODE)
	@$(PY) -c "from prover.toolchain import install_solc_shim; install_solc_shim()"

$(STAMP_PY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# wheel 0.46+ needs packaging>=24, which eth-ape's pin (23.2) excludes: keep `pip check` clean
	$(PY) -m pip install -q --upgrade pip setuptools 'wheel<0.46'
	# the machine's local CPU wheel first, so no dependency pulls a CUDA build of torch
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(STAMP_NODE): package.json package-lock.json
	# The lock records every platform's optional anvil binary, so npm ci installs this platform's
	# and never rewrites the committed file.
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

services:
	@bash scripts/ensure-services.sh

demo: setup
	$(VENV)/bin/zkrisk demo

# `make test` (and so CI) runs the test modules in reverse order: no module may depend on what another
# left behind (tests/module_order.py); plain `pytest` keeps file order. TEST_ORDER=shuffle:<seed> also works.
TEST_ORDER ?= reverse
test: setup services
	ZKRISK_TEST_ORDER=$(TEST_ORDER) $(VENV)/bin/pytest

test-fast: setup
	$(VENV)/bin/pytest -m "not slow"

bench: setup
	$(PY) scripts/bench_prover.py --json bench-results/prover.json

clean-keys:
	rm -rf .zkrisk/cache
