# Renders modules/user_data -- the very module the launch template uses -- with
# fixed test inputs, for tests/user_data/run.sh. No provider, no resources.
#
#   terraform init -backend-config=path=<state file>
#   terraform apply -auto-approve -var path_prefix=<sandbox root>
#   terraform output -raw user_data

terraform {
  required_version = ">= 1.11"

  backend "local" {}
}

variable "path_prefix" {
  description = "Sandbox root (empty for the script exactly as instances get it)."
  type        = string
  default     = ""
}

variable "readiness_timeout_seconds" {
  description = "Readiness timeout to render."
  type        = number
  default     = 300
}

locals {
  lb_settings = jsondecode(file("${path.module}/../../../lb-settings.json"))
}

module "user_data" {
  source = "../../../modules/user_data"

  region                    = "eu-west-1"
  image                     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api:0123456789abcdef0123456789abcdef01234567"
  api_keys_secret_arn       = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:items-api/api-keys-AbCdEf"
  db_secret_arn             = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f9c2e7a-1b8d-4f6e-0a5c-9b2d7e1f4a8c-XyZ123"
  db_host                   = "items-api-db.c9akciq32.eu-west-1.rds.amazonaws.com"
  db_port                   = 5432
  db_name                   = "items"
  log_group_name            = "/items-api/app"
  app_port                  = local.lb_settings.app_port
  drain_seconds             = local.lb_settings.deregistration_delay_seconds
  shutdown_timeout_seconds  = local.lb_settings.shutdown_timeout_seconds
  readiness_timeout_seconds = var.readiness_timeout_seconds
  container_memory_mb       = 1536
  asg_name                  = "items-api-app"
  lifecycle_hook_name       = "wait-for-readyz"
  path_prefix               = var.path_prefix
}

output "user_data" {
  description = "The rendered bootstrap script."
  value       = module.user_data.rendered
}

output "environment" {
  description = "The rendered non-secret configuration."
  value       = module.user_data.environment
}
