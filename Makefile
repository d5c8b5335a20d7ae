# VersaHub — two commands: `make up` (a working site on this machine) and `make test`.
# Every target installs what is missing first (scripts/setup.sh is idempotent).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VERSAHUB := $(VENV)/bin/versahub
PYTEST := $(VENV)/bin/pytest
OPA := .tools/opa
export PATH := $(CURDIR)/.tools:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup up down status test lint unit integration kubernetes cluster-up cluster-down \
	policy-test screenshots bench clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

setup: ## Install everything the site and the tests need (idempotent).
	@bash scripts/setup.sh

up: setup ## Start a whole site on this machine; prints its URL and a demo login.
	@$(VERSAHUB) up

down: ## Stop the site started by `make up`.
	@$(VERSAHUB) down

status: ## Show each component's state.
	@$(VERSAHUB) status

lint: ## ruff, the import layers, and OPA's own checks of the policies.
	@echo "==> ruff"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@echo "==> import-linter (the layer contract in pyproject.toml)"
	@$(VENV)/bin/lint-imports --no-cache >/dev/null || $(VENV)/bin/lint-imports --no-cache
	@echo "==> opa check --strict / opa fmt --list"
	@$(VERSAHUB) policy lint

policy-test: ## opa test with coverage (fails under 90 %).
	@$(VERSAHUB) policy test

unit: ## Unit tests (pure Python, nothing else needed).
	@$(PYTEST) tests/unit -q

integration: ## Integration tests (real OPA, JupyterHub, proxy, Docker, registry).
	@$(PYTEST) tests/integration -q -m integration

kubernetes: ## Kubernetes tests: a local control plane (scripts/k8s-cluster.sh) and Pulumi.
	@$(PYTEST) tests/kubernetes -q -rs --durations=10

cluster-up: ## Start the local Kubernetes control plane (KUBECONFIG: /tmp/versahub-k8s/kubeconfig).
	@bash scripts/k8s-cluster.sh up

cluster-down: ## Stop the local Kubernetes control plane.
	@bash scripts/k8s-cluster.sh down

# tests/kubernetes runs in its own pytest so its control plane starts once, for those tests only
test: setup ## Install what is missing and run the whole suite.
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint && \
	$(MAKE) --no-print-directory policy-test && \
	echo "==> pytest (unit + integration)" && \
	$(PYTEST) tests -q -rs --durations=15 --ignore=tests/kubernetes && \
	echo "==> pytest (kubernetes: local control plane, Pulumi)" && \
	$(PYTEST) tests/kubernetes -q -rs --durations=10 && \
	echo "==> make test passed in $$(( $$(date +%s) - start )) s"

screenshots: setup ## Refresh docs/img/ from the browser tests' screenshots.
	@VERSAHUB_UPDATE_DOCS_IMAGES=1 $(PYTEST) tests/integration/browser tests/integration/test_lti_courses.py tests/integration/test_catalogue.py tests/integration/test_accounting.py tests/integration/test_policy_impact.py -q

bench: setup ## Run the benchmarks (results: docs/benchmarks.md).
	@$(PY) bench/run.py

clean: ## Remove local state (the site's data under .versahub) and caches of the work tree.
	@$(VERSAHUB) down >/dev/null 2>&1 || true
	rm -rf .versahub .pytest_cache .ruff_cache .hypothesis
