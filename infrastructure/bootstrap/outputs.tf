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
