output "alb_dns_name" {
  description = "DNS name of the load balancer (clients use service_url: its certificate names the domain, not this name)."
  value       = module.alb.dns_name
}

output "service_url" {
  description = "Base URL clients should use (CloudFront, custom domain or ALB)."
  value = (
    var.cloudfront.enabled ? "https://${length(var.cloudfront.aliases) > 0 ? var.cloudfront.aliases[0] : module.cdn[0].domain_name}" :
    var.domain_name != null ? "https://${var.domain_name}" :
    "${local.https_enabled ? "https" : "http"}://${module.alb.dns_name}"
  )
}

output "asg_name" {
  description = "Name of the Auto Scaling group (fixed: <name>-app); the pipeline starts instance refreshes on it."
  value       = module.compute.asg_name
}

output "launch_template_id" {
  description = "Launch template of the group."
  value       = module.compute.launch_template_id
}

output "launch_template_version" {
  description = "Launch template version that runs image_tag: the desired configuration of the next instance refresh."
  value       = module.compute.launch_template_latest_version
}

output "instance_refresh_preferences" {
  description = "StartInstanceRefresh preferences, the same as the group's instance_refresh block (rolling, min healthy %, checkpoints, auto-rollback on the deploy-guard alarms): --preferences \"$(terraform output -json instance_refresh_preferences)\"."
  value       = module.compute.instance_refresh_preferences
}

output "instance_refresh_desired_configuration" {
  description = "StartInstanceRefresh desired configuration, this apply's launch template version (so auto-rollback can restore the previous one): --desired-configuration \"$(terraform output -json instance_refresh_desired_configuration)\"."
  value = {
    LaunchTemplate = {
      LaunchTemplateId = module.compute.launch_template_id
      Version          = tostring(module.compute.launch_template_latest_version)
    }
  }
}

output "image" {
  description = "Image the launch template runs: <repository url>@<image_digest> when image_digest is set, else <repository url>:<image_tag>."
  value       = local.image
}

output "image_digest" {
  description = "Digest the launch template runs (null when it runs image_tag)."
  value       = var.image_digest
}

output "ecr_repository_url" {
  description = "ECR repository URL to push the image to (<url>:<git sha>): the shared repository when ecr_repository_name is set."
  value       = local.ecr_repository_url
}

output "ecr_repository_name" {
  description = "ECR repository name."
  value       = local.ecr_repository_name
}

output "api_keys_secret_arn" {
  description = "Secrets Manager secret with the API keys (one per line)."
  value       = module.secrets.api_keys_secret_arn
}

output "db_master_secret_arn" {
  description = "RDS-managed Secrets Manager secret with the database master username and password."
  value       = module.database.master_user_secret_arn
}

output "db_endpoint" {
  description = "Database host name (private)."
  value       = module.database.address
}

output "deploy_role_arn" {
  description = "IAM role GitHub Actions assumes for deploys (OIDC, environment-pinned)."
  value       = module.ci.deploy_role_arn
}

output "plan_role_arn" {
  description = "Read-only IAM role GitHub Actions assumes for pull-request plans."
  value       = module.ci.plan_role_arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the service (one stream per instance)."
  value       = module.monitoring.log_group_name
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.monitoring.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}

output "vpc_id" {
  description = "VPC of the stack."
  value       = module.network.vpc_id
}

output "cloudfront_domain_name" {
  description = "CloudFront domain name (null unless cloudfront.enabled)."
  value       = try(module.cdn[0].domain_name, null)
}
