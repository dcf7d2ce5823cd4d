output "deploy_role_arn" {
  description = "Role the deploy job assumes (aws-actions/configure-aws-credentials role-to-assume)."
  value       = aws_iam_role.deploy.arn
}

output "plan_role_arn" {
  description = "Read-only role for pull-request plans (null when not created)."
  value       = try(aws_iam_role.plan[0].arn, null)
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider."
  value       = local.oidc_provider_arn
}

output "permissions_boundary_arn" {
  description = "Boundary that every workload role must carry."
  value       = aws_iam_policy.boundary.arn
}

output "deploy_subjects" {
  description = "OIDC subjects the deploy role trusts (one per deploy workflow), in the repository's customized subject format."
  value       = local.deploy_subjects
}

output "plan_subjects" {
  description = "OIDC subject patterns the plan role trusts (StringLike: the pull-request number is the wildcard)."
  value       = local.plan_subjects
}

output "subject_claim_keys" {
  description = "include_claim_keys of the repository's OIDC subject customization that the trust policies are written for."
  value       = var.subject_claim_keys
}

output "policies" {
  description = "The boundary and the CI policies (JSON documents by name), for review and tests."
  value = {
    boundary       = aws_iam_policy.boundary.policy
    read           = aws_iam_policy.read.policy
    release        = aws_iam_policy.release.policy
    apply_infra    = aws_iam_policy.apply_infra.policy
    apply_platform = aws_iam_policy.apply_platform.policy
    isolation      = aws_iam_policy.isolation.policy
  }
}
