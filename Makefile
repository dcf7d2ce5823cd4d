# items-api: the entry points. Each area keeps its targets in mk/<area>.mk;
# this file only wires them together.
#
#   make run     build and serve on http://127.0.0.1:8080 (SQLite, fresh dev key)
#   make test    every suite: unit, API on SQLite and PostgreSQL, sanitizers,
#                infrastructure, image, drills (see TEST_TARGETS below)
#   make help    list the targets

.DEFAULT_GOAL := build
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

# A pyenv python3 is reached through shims: a bash script per call that costs
# about 0.45 s of CPU before the interpreter starts. The suites call python3
# and the aws CLI thousands of times (the deploy tests: two shims per stubbed
# aws call), so the interpreter's own directory goes first on PATH: the same
# interpreter and tools, without the shim. Nothing changes without pyenv.
PYENV_BIN := $(shell case "$$(command -v python3)" in (*/shims/*) python3 -c 'import os, sys; print(os.path.dirname(sys.executable))' ;; esac)
ifneq ($(PYENV_BIN),)
export PATH := $(PYENV_BIN):$(PATH)
endif

# Suites that `make test` runs, in order. Area files append to it.
TEST_TARGETS :=

include $(sort $(wildcard mk/*.mk))

# Cheap and fundamental first, slow and end-to-end last; suites an area file
# adds without listing here run at the end. "a+b" runs a and b side by side
# (both mostly wait on emulators and timers, not on the CPU).
TEST_ORDER := test-lint test-unit test-readme test-api+test-sanitize test-faults fuzz-regress \
              test-infra+test-bootstrap+test-infra-moto+test-deploy+test-workflows \
              test-image test-stack test-drills

.PHONY: test help
test: ## run every suite (see TEST_ORDER)
	@tests/lib/run-suites.sh --order "$(TEST_ORDER)" --targets "$(TEST_TARGETS)"

help:
	@grep -hE '^[a-z][a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	    awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'
