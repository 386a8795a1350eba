# Entry points: `make demo`, `make test`, `make bench`. Each sets up what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# ansible-core 2.21 needs Python >= 3.12; pyenv or the system may have one.
PYTHON312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))
COLLECTION_LINK := tests/output/collections/ansible_collections/tradebot/kucoin
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: help deps system-deps venvs collection demo test unit integration sanity lint bench clean

help:
	@echo "make demo   - deploy three demo bots against local OpenBao, sandbox and container hosts"
	@echo "make test   - every test tier (unit, integration, sanity, lint) on each supported ansible-core"
	@echo "make unit, make lint - one tier; no root, no host tooling (only .venv is built)"
	@echo "make bench  - benchmark against the alternatives; writes docs/benchmarks.md (QUICK=1 for a short run)"

system-deps:
	@bash scripts/system-deps.sh

define make_venv
	rm -rf $(1)
	$(2) -m venv $(1)
	$(1)/bin/pip install $(PIP_FLAGS) $(foreach r,$(3),-r $(r))
	touch $(1)/.stamp
endef

.venv/.stamp: requirements/runtime.txt requirements/test.txt requirements/lint.txt requirements/ansible-2.19.txt
	$(call make_venv,.venv,$(PYTHON),requirements/test.txt requirements/lint.txt requirements/ansible-2.19.txt)

.venv-2.17/.stamp: requirements/runtime.txt requirements/test.txt requirements/ansible-2.17.txt
	$(call make_venv,.venv-2.17,$(PYTHON),requirements/test.txt requirements/ansible-2.17.txt)

.venv-2.21/.stamp: requirements/runtime.txt requirements/test.txt requirements/ansible-2.21.txt
	@if [ -z "$(PYTHON312)" ]; then echo "no Python 3.12: cannot build .venv-2.21" >&2; exit 1; fi
	$(call make_venv,.venv-2.21,$(PYTHON312),requirements/test.txt requirements/ansible-2.21.txt)

.venv-bench/.stamp: requirements/runtime.txt requirements/test.txt requirements/bench.txt
	$(call make_venv,.venv-bench,$(PYTHON),requirements/test.txt requirements/bench.txt)

venvs: .venv/.stamp .venv-2.17/.stamp $(if $(PYTHON312),.venv-2.21/.stamp)

collection:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

# The virtualenvs do not depend on each other: pip builds them side by side.
deps: system-deps
	@$(MAKE) --no-print-directory --jobs=3 --output-sync venvs collection

demo: system-deps .venv/.stamp collection
	PYTHONPATH=tests .venv/bin/python -m harness demo

test: deps
	$(PYTHON) scripts/run_tiers.py

# Unit tests and lint need neither root nor the host tooling: only .venv (and whichever of .venv-2.17 and
# .venv-2.21 exist; `make venvs` builds them). Integration and sanity set up everything.
unit lint: .venv/.stamp collection
	$(PYTHON) scripts/run_tiers.py --only $@ --built-venvs

integration sanity: deps
	$(PYTHON) scripts/run_tiers.py --only $@

bench: system-deps .venv-bench/.stamp collection
	PYTHONPATH=tests:. .venv-bench/bin/python -m bench $(if $(QUICK),--quick)

clean:
	rm -rf .venv .venv-2.17 .venv-2.21 .venv-bench tests/output .pytest_cache .ruff_cache
