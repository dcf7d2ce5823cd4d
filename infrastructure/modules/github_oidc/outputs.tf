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

output "deploy_subject" {
  description = "OIDC subject the deploy role trusts."
  value       = local.deploy_subject
}

output "policies" {
  description = "The boundary and the CI policies (JSON documents by name), for review and tests."
  value = {
    boundary       = aws_iam_policy.boundary.policy
    read           = aws_iam_policy.read.policy
    release        = aws_iam_policy.release.policy
    apply_infra    = aws_iam_policy.apply_infra.policy
    apply_platform = aws_iam_policy.apply_platform.policy
  }
}
