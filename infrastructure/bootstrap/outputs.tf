output "state_bucket" {
  description = "Name of the state bucket: pass it as -backend-config=bucket=... and as tf_state_bucket."
  value       = aws_s3_bucket.state.id
}

output "state_bucket_arn" {
  description = "ARN of the state bucket."
  value       = aws_s3_bucket.state.arn
}

output "backend_config" {
  description = "Contents for infrastructure/backend.hcl."
  value       = <<-EOT
    bucket = "${aws_s3_bucket.state.id}"
    key    = "items-api/production/terraform.tfstate"
    region = "${var.aws_region}"
  EOT
}

output "ecr_repository_url" {
  description = "URL of the shared image repository (null without ecr_repository_name)."
  value       = try(module.registry[0].repository_url, null)
}

output "ecr_repository_arn" {
  description = "ARN of the shared image repository (null without ecr_repository_name)."
  value       = try(module.registry[0].repository_arn, null)
}

output "github_oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider (null unless create_github_oidc_provider): the environments' github_oidc_provider_arn."
  value       = try(aws_iam_openid_connect_provider.github[0].arn, null)
}
