output "state_bucket" {
  description = "Name of the state bucket: pass it as -backend-config=bucket=... and as tf_state_bucket."
  value       = aws_s3_bucket.state.id
}

output "state_bucket_arn" {
  description = "ARN of the state bucket."
  value       = aws_s3_bucket.state.arn
}

output "backend_config" {
  description = "Contents for infrastructure/environments/production.backend.hcl (staging: the same with key items-api/staging/terraform.tfstate)."
  value       = <<-EOT
    bucket = "${aws_s3_bucket.state.id}"
    key    = "items-api/production/terraform.tfstate"
    region = "${var.aws_region}"
  EOT
}

output "backend_configs" {
  description = "Contents of infrastructure/environments/<env>.backend.hcl for each environment: terraform output -json backend_configs."
  value = { for env in ["staging", "production"] : env => <<-EOT
    bucket = "${aws_s3_bucket.state.id}"
    key    = "items-api/${env}/terraform.tfstate"
    region = "${var.aws_region}"
  EOT
  }
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
