# Infrastructure (infrastructure/, Terraform for AWS) and its docs.
#
#   make test-infra        layers 1-2, offline: fmt, init -backend=false against the
#                          local provider mirror, validate (root, every module,
#                          bootstrap/), terraform test with mocked AWS, README
#                          reference up to date
#   make test-infra-moto   layer 3: bootstrap/ + the whole stack applied against moto,
#                          read back with boto3, re-planned, destroyed
#   make test-bootstrap    the instance user_data: rendered, shellcheck'ed, run in a
#                          sandbox with stub aws/docker/systemctl/curl/dnf
#   make docs              docs/architecture.svg from docs/architecture.dot, and the
#                          generated reference in infrastructure/README.md

.PHONY: test-infra test-infra-moto test-bootstrap docs
TEST_TARGETS += test-infra test-infra-moto test-bootstrap

test-infra: ## Terraform fmt/validate + terraform test with mocked AWS (offline)
	@infrastructure/tests/static.sh

test-infra-moto: ## Terraform apply/plan/destroy of the whole stack against moto
	@infrastructure/tests/moto/run.sh

test-bootstrap: ## Instance user_data: render, shellcheck, sandbox run with stubs
	@tools/deps.sh lint
	@infrastructure/tests/user_data/run.sh

docs: ## Render docs/architecture.svg and the infrastructure/README.md reference
	@tools/deps.sh docs
	@dot -Tsvg docs/architecture.dot -o docs/architecture.svg
	@python3 infrastructure/scripts/gen-reference.py
