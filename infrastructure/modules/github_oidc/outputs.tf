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
