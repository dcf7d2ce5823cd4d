# One environment's variables file (environments/<env>.tfvars.example) applied
# against mocked AWS. static.sh runs this directory once per example:
#
#   terraform test -test-directory=tests/environments \
#       -var-file=environments/staging.tfvars.example
#
# so every validation of the root passes for the file as shipped, and the
# assertions hold for each environment by its own variables.

mock_provider "aws" {
  source = "./tests/mocks"
}

mock_provider "aws" {
  alias  = "us_east_1"
  source = "./tests/mocks"
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
  # What the examples leave for the operator to fill in (HTTPS is required).
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
  api_keys        = ["test-api-key-7d1e0c5b9a3f4e2d8c6b0a9f7e5d3c1b"]
}

run "environment_stack" {
  command = apply

  # Own names, state key, GitHub environment.
  assert {
    condition     = startswith(var.name, "items-api-") && endswith(var.name, var.environment) && var.github_environment == var.environment
    error_message = "An environment's name is items-api-<environment>, and its deploy role trusts the GitHub environment of the same name"
  }

  assert {
    condition     = var.tf_state_key == "items-api/${var.environment}/terraform.tfstate"
    error_message = "Each environment has its own state key items-api/<environment>/terraform.tfstate"
  }

  assert {
    condition     = output.asg_name == "${var.name}-app" && output.log_group_name == "/${var.name}/app" && output.dashboard_name == var.name
    error_message = "Resource names derive from name (the mocked role ARNs do not: the github_oidc tests check the role names)"
  }

  assert {
    condition     = alltrue([for s in module.ci.deploy_subjects : strcontains(s, ":environment:${var.environment}:")]) && length(module.ci.deploy_subjects) > 0
    error_message = "The deploy role trusts only jobs of its own GitHub environment"
  }

  # Shared account-level resources from bootstrap/: read, never created.
  assert {
    condition     = length(module.registry) == 0 && output.ecr_repository_name == var.ecr_repository_name && output.image == "${output.ecr_repository_url}:${var.image_tag}"
    error_message = "The environments run from the shared repository and create none"
  }

  assert {
    condition     = !var.create_github_oidc_provider && module.ci.oidc_provider_arn == var.github_oidc_provider_arn
    error_message = "The environments reference the account's OIDC provider (bootstrap/) instead of owning it"
  }

  assert {
    condition     = length([for s in jsondecode(module.ci.policies.apply_platform).Statement : s if contains(flatten([try(s.Action, [])]), "ecr:*")]) == 0
    error_message = "No environment may manage (delete, re-policy) the shared repository"
  }

  # Push only where ci_push_images (staging); production reads the digest.
  assert {
    condition = anytrue([
      for p in values(module.ci.policies) : anytrue([for s in jsondecode(p).Statement : contains(flatten([try(s.Action, [])]), "ecr:PutImage")])
    ]) == var.ci_push_images
    error_message = "ecr:PutImage is granted exactly when ci_push_images"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(module.ci.policies.release).Statement :
      s.Resource == data.aws_ecr_repository.shared[0].arn && contains(try(s.Action, []), "ecr:BatchGetImage") && contains(try(s.Action, []), "ecr:DescribeImages")
    ])
    error_message = "Every environment's deploy role can describe and pull the shared repository's images (promotion checks the digest)"
  }
}

# Promotion: the digest wins over the tag.
run "environment_runs_a_digest" {
  command = apply

  variables {
    image_tag    = null
    image_digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  }

  assert {
    condition     = output.image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" && output.image_digest == var.image_digest && module.user_data.environment.IMAGE == output.image
    error_message = "With image_digest, the launch template runs <repository>@<digest>"
  }
}
