# GitHub OIDC deploy and plan roles (modules/github_oidc).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name               = "items-api"
  github_repository  = "example-org/items-api"
  github_environment = "production"
  state_bucket       = "items-api-tfstate-123456789012-eu-west-1"
  state_key          = "items-api/production/terraform.tfstate"
  ecr_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/items-api"
  asg_name           = "items-api-app"
}

run "trust_is_pinned" {
  command = apply

  module {
    source = "./modules/github_oidc"
  }

  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "The OIDC provider is GitHub's, for STS"
  }

  assert {
    condition = (
      jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/items-api:environment:production" &&
      jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com" &&
      jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity" &&
      length(jsondecode(aws_iam_role.deploy.assume_role_policy).Statement) == 1
    )
    error_message = "The deploy role trusts exactly this repository's production environment"
  }

  assert {
    condition     = !can(jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringLike)
    error_message = "No wildcard (StringLike) subject in the deploy role's trust"
  }

  assert {
    condition     = jsondecode(aws_iam_role.plan[0].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/items-api:pull_request"
    error_message = "The plan role trusts only this repository's pull requests"
  }

  assert {
    condition     = toset([for a in aws_iam_role_policy_attachment.plan : a.policy_arn]) == toset([aws_iam_policy.read.arn])
    error_message = "The plan role is read-only"
  }

  # Release permissions: exactly the repository and the group.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.release.policy).Statement :
      s.Resource == "*" ? flatten([s.Action]) == ["ecr:GetAuthorizationToken"] : true
    ])
    error_message = "Release permissions are scoped to resources"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.release.policy).Statement :
      contains(flatten([s.Action]), "autoscaling:StartInstanceRefresh") && s.Resource == "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/items-api-app"
    ])
    error_message = "The deploy role may refresh exactly this Auto Scaling group"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.release.policy).Statement :
      contains(flatten([s.Action]), "ecr:PutImage") && s.Resource == var.ecr_repository_arn
    ])
    error_message = "The deploy role may push to exactly this repository"
  }

  # Escalation guard.
  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement :
      contains(flatten([try(s.Action, [])]), "iam:CreateRole") && try(s.Condition.StringEquals["iam:PermissionsBoundary"], null) == "arn:aws:iam::123456789012:policy/items-api-workload-boundary"
    ])
    error_message = "The deploy role may only create roles that carry the workload boundary"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement :
      s.Effect == "Deny" && contains(flatten([s.Resource]), "arn:aws:iam::123456789012:role/items-api-github-deploy") && contains(flatten([s.Resource]), "arn:aws:iam::123456789012:policy/items-api-workload-boundary")
    ])
    error_message = "The deploy role must not be able to change itself or the boundary"
  }

  assert {
    condition     = alltrue([for p in [aws_iam_policy.boundary, aws_iam_policy.read, aws_iam_policy.release, aws_iam_policy.apply_infra, aws_iam_policy.apply_platform] : length(p.policy) <= 6144])
    error_message = "Each managed policy must stay within IAM's 6,144-character limit"
  }

  assert {
    condition     = !anytrue([for p in [aws_iam_policy.read, aws_iam_policy.release, aws_iam_policy.apply_infra, aws_iam_policy.apply_platform] : anytrue([for s in jsondecode(p.policy).Statement : s.Effect == "Allow" && contains(flatten([try(s.Action, [])]), "*")])])
    error_message = "No Allow statement may grant every action"
  }
}

run "rejects_wildcard_repository" {
  command = plan

  module {
    source = "./modules/github_oidc"
  }

  variables {
    github_repository  = "example-org/*"
    github_environment = "*"
  }

  expect_failures = [var.github_repository, var.github_environment]
}
