# replstack: the two commands a new user runs are `make demo` and `make test`.
SHELL := /bin/bash
PULUMI := scripts/pulumi
PYTHON := .venv/bin/python
STACK ?= local

.PHONY: setup demo preview policy destroy repair snapshot snapshots restore test unit integration bench faults \
        kube-setup

setup:
	@scripts/setup

# The kube backend's provider plugin, built once from its Go module and cached (`make demo` does not need it).
kube-setup: setup
	@scripts/setup --kube

# Builds the local demo cluster (stacks/Pulumi.local.yaml) and prints how to connect.
demo: setup
	@$(PULUMI) stack select --create $(STACK) --non-interactive >/dev/null
	@$(PULUMI) up --yes --non-interactive --stack $(STACK)
	@$(PYTHON) scripts/endpoints.py --stack $(STACK)

preview: setup
	@$(PULUMI) preview --non-interactive --stack $(STACK)

policy: setup
	@$(PULUMI) preview --non-interactive --stack $(STACK) --policy-pack policies

destroy: setup
	@$(PULUMI) destroy --yes --non-interactive --stack $(STACK)

# After an interrupted run (a killed pulumi, a reboot): clears a dead lock and pending creates, refreshes.
repair: setup
	@$(PYTHON) scripts/repair.py --stack $(STACK)

# Snapshots of a stack with database.snapshots.enabled: take one now, list them, restore the cluster from one
# (SNAPSHOT=<id>, default the newest; replaces every node's data, then runs `up --refresh`).
snapshot: setup
	@$(PYTHON) scripts/snapshot.py take --stack $(STACK)

snapshots: setup
	@$(PYTHON) scripts/snapshot.py list --stack $(STACK)

restore: setup
	@$(PYTHON) scripts/snapshot.py restore --yes --stack $(STACK) $(if $(SNAPSHOT),--snapshot $(SNAPSHOT))

# The whole suite: toolchain, unit and integration tests.
test: setup
	@$(PYTHON) -m pytest tests

unit: setup
	@$(PYTHON) -m pytest tests/unit tests/toolchain

integration: setup
	@$(PYTHON) -m pytest tests/integration

bench: setup
	@$(PYTHON) bench/local_up.py
	@$(PYTHON) bench/resize.py
	@$(PYTHON) bench/proxy.py

# Interrupted runs and killed nodes, 10 of each, with the recovery path: prints a table (not part of `make test`).
faults: setup
	@$(PYTHON) bench/faults.py
