output "arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch dimension LoadBalancer)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Route 53 zone of the load balancer's DNS name (for alias records)."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "ARN of the app target group."
  value       = aws_lb_target_group.this.arn
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.this.arn_suffix
}

output "https_enabled" {
  description = "Whether an HTTPS listener exists."
  value       = local.https_enabled
}

output "http_listener_arn" {
  description = "ARN of the HTTP listener."
  value       = aws_lb_listener.http.arn
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener (null without a certificate)."
  value       = try(aws_lb_listener.https[0].arn, null)
}

output "access_logs_bucket" {
  description = "Name of the access log bucket (null when disabled)."
  value       = try(aws_s3_bucket.logs[0].id, null)
}

output "access_logs_bucket_arn" {
  description = "ARN of the access log bucket (null when disabled)."
  value       = try(aws_s3_bucket.logs[0].arn, null)
}

output "certificate_arn" {
  description = "Certificate used by the HTTPS listener (null without HTTPS)."
  value       = local.certificate_arn
}
