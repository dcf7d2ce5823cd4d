variable "name" {
  description = "Name prefix of the role, instance profile, launch template and policies."
  type        = string
}

variable "asg_name" {
  description = "Fixed name of the Auto Scaling group (the pipeline finds it through the asg_name output)."
  type        = string
}

variable "subnet_ids" {
  description = "Private app subnets the instances run in."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the instances."
  type        = list(string)
}

variable "target_group_arns" {
  description = "Target groups the instances register with."
  type        = list(string)
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the ALB, for the requests-per-target scaling policy."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the target group, for the requests-per-target scaling policy."
  type        = string
}

variable "ami_id" {
  description = "AMI of the instances (Amazon Linux 2023)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
}

variable "root_device_name" {
  description = "Root device name of the AMI (/dev/xvda on Amazon Linux 2023)."
  type        = string
  default     = "/dev/xvda"
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume, in GiB."
  type        = number

  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 200
    error_message = "root_volume_size_gb must be 8-200 (the AL2023 AMI needs 8)."
  }
}

variable "ebs_kms_key_arn" {
  description = "KMS key for the root volume (null: the account's default EBS key)."
  type        = string
  default     = null
}

variable "detailed_monitoring" {
  description = "1-minute EC2 metrics (extra cost)."
  type        = bool
  default     = false
}

variable "user_data" {
  description = "Bootstrap script (plain text; base64-encoded here, not compressed: EC2 allows 16 KB, and the emulator does not accept gzip)."
  type        = string
}

variable "min_size" {
  description = "Minimum number of instances."
  type        = number

  validation {
    condition     = var.min_size >= 1
    error_message = "min_size must be at least 1."
  }
}

variable "max_size" {
  description = "Maximum number of instances."
  type        = number

  validation {
    condition     = var.max_size >= var.min_size
    error_message = "max_size must be at least min_size."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds after an instance enters service before ELB health checks can fail it."
  type        = number

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 3600 && floor(var.health_check_grace_period_seconds) == var.health_check_grace_period_seconds
    error_message = "health_check_grace_period_seconds must be a whole number of seconds, 0-3600: longer keeps broken instances in service for an hour."
  }
}

variable "instance_warmup_seconds" {
  description = "Seconds a new instance needs before its metrics count (scaling and instance refresh)."
  type        = number

  validation {
    condition     = var.instance_warmup_seconds >= 0 && var.instance_warmup_seconds <= 3600 && floor(var.instance_warmup_seconds) == var.instance_warmup_seconds
    error_message = "instance_warmup_seconds must be a whole number of seconds, 0-3600 (readiness is already gated by the lifecycle hook)."
  }
}

variable "wait_for_capacity_timeout" {
  description = "How long terraform apply waits for min_size healthy instances (\"0\" to not wait)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+[smh]?$", var.wait_for_capacity_timeout))
    error_message = "wait_for_capacity_timeout must be a duration like 15m or 0."
  }
}

variable "lifecycle_hook_name" {
  description = "Name of the launch lifecycle hook the bootstrap completes."
  type        = string
}

variable "lifecycle_hook_timeout_seconds" {
  description = "How long a launching instance may take to become ready before it is abandoned."
  type        = number
}

variable "instance_refresh_min_healthy_percentage" {
  description = "Share of desired capacity that must stay healthy during an instance refresh."
  type        = number

  validation {
    condition     = var.instance_refresh_min_healthy_percentage >= 50 && var.instance_refresh_min_healthy_percentage <= 100
    error_message = "instance_refresh_min_healthy_percentage must be 50-100: below half, a bad release takes most of the capacity down before the alarms can roll it back."
  }
}

variable "instance_refresh_max_healthy_percentage" {
  description = "Upper bound of capacity during an instance refresh (above 100 launches replacements before terminating)."
  type        = number

  validation {
    condition     = var.instance_refresh_max_healthy_percentage >= 100 && var.instance_refresh_max_healthy_percentage <= 200 && var.instance_refresh_max_healthy_percentage - var.instance_refresh_min_healthy_percentage <= 100
    error_message = "instance_refresh_max_healthy_percentage must be 100-200 and at most 100 points above the minimum (an EC2 Auto Scaling limit)."
  }

  validation {
    condition     = var.instance_refresh_max_healthy_percentage > var.instance_refresh_min_healthy_percentage || var.instance_refresh_min_healthy_percentage < 100
    error_message = "With instance_refresh_min_healthy_percentage = 100 the maximum must be above 100, or the refresh can never replace an instance."
  }
}

variable "instance_refresh_checkpoint_percentages" {
  description = "Refresh progress points at which to pause and let the rollback alarms judge."
  type        = list(number)
}

variable "instance_refresh_bake_seconds" {
  description = "BakeTime of a refresh started by release/deploy.sh: after the last instance is replaced, how long the rollback alarms still judge (and AutoRollback can undo) the release before the refresh counts as successful. The monitoring module derives it from the guard alarms' evaluation window (deploy_guard_bake_seconds)."
  type        = number
  default     = 0

  validation {
    condition     = var.instance_refresh_bake_seconds >= 0 && var.instance_refresh_bake_seconds <= 172800 && floor(var.instance_refresh_bake_seconds) == var.instance_refresh_bake_seconds
    error_message = "instance_refresh_bake_seconds must be a whole number of seconds, 0-172800 (the StartInstanceRefresh limit)."
  }
}

variable "instance_refresh_checkpoint_delay_seconds" {
  description = "Pause at each checkpoint, in seconds."
  type        = number

  validation {
    condition     = var.instance_refresh_checkpoint_delay_seconds >= 60 && var.instance_refresh_checkpoint_delay_seconds <= 3600 && floor(var.instance_refresh_checkpoint_delay_seconds) == var.instance_refresh_checkpoint_delay_seconds
    error_message = "instance_refresh_checkpoint_delay_seconds must be a whole number of seconds, 60-3600: under a minute the 1-minute rollback alarms cannot fire before the refresh moves on; over an hour a release stalls."
  }
}

variable "rollback_alarm_names" {
  description = "CloudWatch alarms that roll an instance refresh back when they go to ALARM."
  type        = list(string)
  default     = []
}

variable "cpu_target_utilization" {
  description = "Average CPU utilization the group tracks, in percent."
  type        = number

  validation {
    condition     = var.cpu_target_utilization >= 10 && var.cpu_target_utilization <= 90
    error_message = "cpu_target_utilization must be 10-90: above 90 leaves no headroom while new instances boot."
  }
}

variable "requests_per_target" {
  description = "ALB requests per target per minute the group tracks."
  type        = number

  validation {
    condition     = var.requests_per_target >= 1
    error_message = "requests_per_target must be positive."
  }
}

variable "secret_arns" {
  description = "The only secrets the instances may read (API keys and the database master secret)."
  type        = list(string)
}

variable "secrets_kms_key_arn" {
  description = "Customer managed KMS key of the secrets (null: AWS managed keys, which need no grant)."
  type        = string
  default     = null
}

variable "ecr_repository_arn" {
  description = "The only ECR repository the instances may pull from."
  type        = string
}

variable "log_group_arn" {
  description = "The log group the instances write to."
  type        = string
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the instance role (null for none)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource; also propagated to instances and volumes through the launch template."
  type        = map(string)
  default     = {}
}
