# A small stand-in for infrastructure/ with the same interface towards
# release/deploy.sh (the variables it passes, the outputs it reads, a
# module.registry it can target on a first deploy), applied against moto by
# tests/deploy/run.sh. The real stack takes minutes per apply against the
# emulator; this one takes seconds, so every control-flow path can be run.
# tests/deploy/run.sh also checks that infrastructure/ still declares every
# output and variable used here.

terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}

provider "aws" {
  region              = var.aws_region
  allowed_account_ids = var.allowed_account_ids
  max_retries         = 2
}

variable "aws_region" {
  type = string
}

variable "allowed_account_ids" {
  type    = list(string)
  default = null
}

variable "name" {
  type    = string
  default = "items-api"
}

variable "image_tag" {
  type = string

  validation {
    condition     = var.image_tag != "" && lower(var.image_tag) != "latest"
    error_message = "image_tag must name one immutable build."
  }
}

variable "image_digest" {
  description = "As infrastructure/: sha256:<64 hex> runs <repository>@digest in place of the tag (promotion); null: the tag."
  type        = string
  default     = null

  validation {
    condition     = var.image_digest == null || can(regex("^sha256:[0-9a-f]{64}$", var.image_digest))
    error_message = "image_digest must be sha256:<64 hex digits>."
  }
}

variable "ecr_repository_name" {
  description = "As infrastructure/: an existing repository shared by the environments (created by bootstrap/); null: the stack creates its own, named <name>."
  type        = string
  default     = null
}

variable "github_repository" {
  type = string
}

variable "tf_state_bucket" {
  type = string
}

variable "tf_state_key" {
  type = string
}

variable "plain_http" {
  description = "The stand-in for a stack with allow_plain_http = true and no certificate: service_url is http://."
  type        = bool
  default     = false
}

variable "smoke_api_key" {
  description = "The key the fake service accepts (stored in the API-keys secret, like the real stack)."
  type        = string
  sensitive   = true
}

variable "deploy_guard" {
  description = "The rollback alarm's numbers: infrastructure/deploy-guard.json's (tests/deploy/bad_releases.sh reads the alarm back and compares)."
  type = object({
    metric              = string
    statistic           = string
    period_seconds      = number
    evaluation_periods  = number
    datapoints_to_alarm = number
    threshold           = number
  })
  default = {
    metric              = "HTTPCode_Target_5XX_Count"
    statistic           = "Sum"
    period_seconds      = 60
    evaluation_periods  = 3
    datapoints_to_alarm = 2
    threshold           = 10
  }
}

locals {
  ecr_repository_url = var.ecr_repository_name != null ? data.aws_ecr_repository.shared[0].repository_url : module.registry[0].repository_url
  asg_name           = "${var.name}-app"
  image              = var.image_digest == null ? "${local.ecr_repository_url}:${var.image_tag}" : "${local.ecr_repository_url}@${var.image_digest}"
}

# As infrastructure/: either this stack's own repository or the shared one.
module "registry" {
  count  = var.ecr_repository_name == null ? 1 : 0
  source = "./modules/registry"
  name   = var.name
}

data "aws_ecr_repository" "shared" {
  count = var.ecr_repository_name != null ? 1 : 0
  name  = var.ecr_repository_name
}

resource "aws_launch_template" "this" {
  name                   = "${var.name}-app"
  image_id               = "ami-12c6146b"
  instance_type          = "t3.micro"
  update_default_version = true
  user_data              = base64encode("#!/bin/bash\nIMAGE=${local.image}\n")

  lifecycle {
    # Lets the test make an apply fail half-way, after the new launch template
    # version exists (latest_version is unknown until then): tags starting
    # with "applyfail" fail here.
    postcondition {
      condition     = self.latest_version > 0 && !startswith(var.image_tag, "applyfail")
      error_message = "apply failure requested by the test (image_tag ${var.image_tag})"
    }
  }
}

resource "aws_autoscaling_group" "this" {
  name               = local.asg_name
  availability_zones = ["${var.aws_region}a"]
  min_size           = 0
  max_size           = 2
  desired_capacity   = 0

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  lifecycle {
    ignore_changes = [launch_template[0].version]
  }
}

# The deploy guard the refresh preferences name (the real stack's target-5xx
# alarm); the aws stub sets its state to make a release "fail real requests".
resource "aws_cloudwatch_metric_alarm" "deploy_guard" {
  alarm_name          = "${var.name}-deploy-guard"
  namespace           = "AWS/ApplicationELB"
  metric_name         = var.deploy_guard.metric
  statistic           = var.deploy_guard.statistic
  period              = var.deploy_guard.period_seconds
  evaluation_periods  = var.deploy_guard.evaluation_periods
  datapoints_to_alarm = var.deploy_guard.datapoints_to_alarm
  threshold           = var.deploy_guard.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
}

resource "aws_secretsmanager_secret" "api_keys" {
  name                    = "${var.name}/api-keys"
  recovery_window_in_days = 0
}

resource "aws_secretsmanager_secret_version" "api_keys" {
  secret_id     = aws_secretsmanager_secret.api_keys.id
  secret_string = "# smoke test key first\n${var.smoke_api_key}\nanother-key-0123456789abcdef\n"
}

output "alb_dns_name" {
  value = "${var.name}-alb.test.invalid"
}

output "service_url" {
  value = "${var.plain_http ? "http" : "https"}://${var.name}-alb.test.invalid"
}

output "asg_name" {
  value = aws_autoscaling_group.this.name
}

output "launch_template_id" {
  value = aws_launch_template.this.id
}

output "launch_template_version" {
  value = aws_launch_template.this.latest_version
}

output "instance_refresh_preferences" {
  value = jsonencode({
    MinHealthyPercentage  = 100
    MaxHealthyPercentage  = 150
    InstanceWarmup        = 60
    CheckpointPercentages = [50, 100]
    CheckpointDelay       = 120
    SkipMatching          = true
    AutoRollback          = true
    AlarmSpecification    = { Alarms = [aws_cloudwatch_metric_alarm.deploy_guard.alarm_name] }
    # monitoring's deploy_guard_bake_seconds: the window plus one period
    BakeTime = var.deploy_guard.period_seconds * (var.deploy_guard.evaluation_periods + 1)
  })
}

output "instance_refresh_desired_configuration" {
  value = jsonencode({
    LaunchTemplate = {
      LaunchTemplateId = aws_launch_template.this.id
      Version          = tostring(aws_launch_template.this.latest_version)
    }
  })
}

output "image" {
  value = local.image
}

output "ecr_repository_url" {
  value = local.ecr_repository_url
}

output "api_keys_secret_arn" {
  value = aws_secretsmanager_secret.api_keys.arn
}
