# opskit.webstack — the two commands a reader needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT      := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV      := $(ROOT)/.venv
BIN       := $(VENV)/bin
PYTHON    ?= python3
COLL_LINK := $(ROOT)/.collections/ansible_collections/opskit/webstack
SCENARIOS := $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))
SCENARIO  ?= default
# Versions of the data stores for the scenarios of roles that act on them (.ci/molecule-matrix.sh):
# empty means the default images for `make molecule` and every version for `make molecule-all`;
# else all, default, or a list: pg15 pg17 redis7 redis8 valkey8.
VERSIONS  ?=
MODULE    ?= opskit.webstack.health_check
INVENTORY ?= inventories/local
# ansible-core series `make sanity` runs: the oldest meta/runtime.yml accepts (its own venv in
# .cache/sanity-2.17, pinned in .ci/sanity-2.17.lock) and the venv's 2.19, the newest for Python 3.11.
# The newest 2.x, 2.21, needs Python 3.12+: `make sanity SANITY_CORES="2.17 2.19 2.21"` with python3.12 on PATH.
SANITY_CORES ?= 2.17 2.19

export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= false
export PY_COLORS ?= 0

.PHONY: help setup venv docker-check images lint yamllint ansible-lint ruff sanity units e2e-remote \
        molecule molecule-all molecule-test test test-static remote-images e2e-remote-run demo demo-down doc build ee e2e changelog clean

help: ## List the targets
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# --- set-up -----------------------------------------------------------------------------------
setup: venv images ## Everything a test or the demo needs: venv, compose plugin, images

venv: $(VENV)/.installed ## Python toolchain in .venv, Compose v2 plugin, collection link
$(VENV)/.installed: requirements.txt requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "ERROR: $(PYTHON) not found: install Python 3.11+"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c requirements.lock
	@bash .ci/install-compose-plugin.sh $(VENV)
	@mkdir -p $(dir $(COLL_LINK)) && ln -sfn $(ROOT) $(COLL_LINK)
	@touch $@

docker-check: ## Fail clearly when Docker is missing or not running
	@bash .ci/docker-check.sh

images: docker-check ## Build every image the tests and the demo use (no registry needed)
	@bash images/build.sh

remote-images: images ## The remote e2e's images: Docker hosts (engines 20.10, 26) and the execution environment
	@bash images/remote.sh

# --- checks -----------------------------------------------------------------------------------
lint: yamllint ansible-lint ruff ## yamllint, ansible-lint (production profile), ruff

yamllint: venv
	$(BIN)/yamllint --strict .

ansible-lint: venv
	$(BIN)/ansible-lint --profile production

ruff: venv
	$(BIN)/ruff check .

sanity: venv ## ansible-test sanity, offline, on ansible-core 2.17 (oldest accepted) and the venv's (newest on its Python)
	@bash .ci/sanity.sh $(VENV) $(SANITY_CORES)

sanity-%: venv # one series: make sanity-2.17
	@bash .ci/sanity.sh $(VENV) $*

units: venv ## Unit tests (pytest) of modules and module_utils
	$(BIN)/pytest -q tests/unit

molecule: setup ## One Molecule scenario: make molecule SCENARIO=name [VERSIONS=all|pg17|redis8,valkey8]
	cd $(ROOT) && bash .ci/molecule-matrix.sh '$(or $(VERSIONS),default)' $(SCENARIO)

molecule-all: setup ## Every Molecule scenario under molecule/, the data-store roles' on every version
	@cd $(ROOT) && bash .ci/molecule-matrix.sh '$(or $(VERSIONS),all)' $(SCENARIOS)

# make test runs every scenario, the data-store roles' on every version of their store (a scenario
# runs its versions at once, one host per version, in one Molecule run); VERSIONS= narrows it.
molecule-test: setup
	@cd $(ROOT) && bash .ci/molecule-matrix.sh '$(or $(VERSIONS),all)' $(SCENARIOS)

# make test runs the checks that need no Docker (lint, sanity per series, units) beside the image
# builds (images/build.sh, then the remote e2e's Docker hosts and execution environment), which wait on
# the network and the disk more than on the CPU; then Molecule beside the remote hosts' e2e (its Ansible
# runs in the execution environment and the hosts' engines, while Molecule's leave a core idle), then
# the local e2e and the build. --output-sync keeps each step's output together.
test: venv ## Set-up, lint, sanity, unit tests, every Molecule scenario, the end-to-end release tests (remote hosts too)
	@$(MAKE) --no-print-directory -j3 --output-sync=target remote-images test-static
	@$(MAKE) --no-print-directory -j2 --output-sync=target molecule-test e2e-remote-run
	@$(MAKE) --no-print-directory e2e build
	@echo "make test: all checks passed"

test-static: yamllint ansible-lint ruff $(addprefix sanity-,$(SANITY_CORES)) units

# make e2e leaves the remote hosts' test (tests/e2e/test_remote.py) to make e2e-remote, which builds its
# images first; make test runs it beside Molecule.
e2e: setup ## The release against the example stack (pytest tests/e2e; the remote hosts' test: make e2e-remote)
	OPSKIT_E2E_REMOTE=$${OPSKIT_E2E_REMOTE:-0} $(BIN)/pytest -q --durations=0 tests/e2e

e2e-remote: setup remote-images ## The release over SSH on two Docker hosts in containers (engines 20.10 and 26), from the execution environment
	@$(MAKE) --no-print-directory e2e-remote-run

e2e-remote-run: setup
	OPSKIT_E2E_REMOTE=1 OPSKIT_E2E_HOST_IMAGES=$${OPSKIT_E2E_HOST_IMAGES:-present} $(BIN)/pytest -q -s tests/e2e/test_remote.py

# --- the demo ---------------------------------------------------------------------------------
demo: setup ## Start the example stack at v1 and release v2 with playbooks/deploy.yml
	$(BIN)/ansible-playbook playbooks/stack_down.yml -i $(INVENTORY)
	$(BIN)/ansible-playbook playbooks/stack_up.yml -i $(INVENTORY) -e webstack_app_version=v1
	$(BIN)/ansible-playbook playbooks/deploy.yml -i $(INVENTORY) -e webstack_app_version=v2
	$(BIN)/ansible-playbook playbooks/status.yml -i $(INVENTORY)

demo-down: venv ## Stop the example stack and remove its volumes
	$(BIN)/ansible-playbook playbooks/stack_down.yml -i $(INVENTORY)

# --- docs, build, benchmarks ------------------------------------------------------------------
doc: venv ## ansible-doc of a module: make doc MODULE=opskit.webstack.alembic
	$(BIN)/ansible-doc $(MODULE)

build: venv ## Build the collection tarball into .cache/dist
	@mkdir -p .cache/dist
	$(BIN)/ansible-galaxy collection build --force --output-path .cache/dist .

ee: venv ## The execution environment image (ansible-builder; base: EE_BASE_IMAGE, default opskit/base:bookworm)
	@bash images/ee/build.sh

changelog: venv ## Lint the changelog fragments
	$(BIN)/antsibull-changelog lint

bench-%: setup ## Benchmarks: make bench-backup, bench-rollout, bench-warm
	@if [ -f benchmarks/bench_$*.py ]; then $(BIN)/python benchmarks/bench_$*.py; \
	 elif [ -f benchmarks/bench_$*.sh ]; then bash benchmarks/bench_$*.sh; \
	 else echo "ERROR: no benchmark named $* under benchmarks/"; exit 2; fi

clean: ## Remove the venv, caches and build output (not the images)
	rm -rf $(VENV) .collections .cache tests/output .pytest_cache .ruff_cache
