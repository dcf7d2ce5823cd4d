output "rendered" {
  description = "The bootstrap script, as cloud-init receives it once decoded."
  value       = local.rendered
}

output "environment" {
  description = "The non-secret configuration written to /etc/items-api/items-api.env (without INSTANCE_ID)."
  value       = local.environment
}

output "stop_timeout_seconds" {
  description = "docker stop timeout: DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + 10."
  value       = local.stop_timeout_seconds
}
