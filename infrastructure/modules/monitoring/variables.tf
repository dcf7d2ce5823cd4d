variable "name" {
  description = "Prefix of alarm, topic, filter and dashboard names."
  type        = string
}

variable "log_group_name" {
  description = "Name of the application log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the application log group, in days."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key of the log group (null: CloudWatch Logs default encryption)."
  type        = string
  default     = null
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the service's EMF metrics."
  type        = string
  default     = "ItemsApi"
}

variable "service_dimension" {
  description = "Value of the Service dimension in the service's EMF metrics."
  type        = string
  default     = "items-api"
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (null: no subscription)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address."
  }
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the ALB."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the target group."
  type        = string
}

variable "asg_name" {
  description = "Name of the Auto Scaling group."
  type        = string
}

variable "asg_min_size" {
  description = "Minimum size of the group; fewer in-service instances raise an alarm."
  type        = number
}

variable "db_instance_identifier" {
  description = "RDS instance identifier."
  type        = string
}

variable "alarm_thresholds" {
  description = "Alarm thresholds; omitted keys keep their defaults."
  type = object({
    alb_5xx_per_minute       = optional(number, 10)  # ALB-generated 5xx per minute
    p99_latency_seconds      = optional(number, 1)   # p99 target response time
    db_cpu_percent           = optional(number, 80)  # database CPU
    db_free_storage_gb       = optional(number, 5)   # free database storage, below which to alarm
    db_connections           = optional(number, 100) # database connections
    app_db_errors_per_minute = optional(number, 5)   # service metric DbErrors
    app_5xx_rate_percent     = optional(number, 5)   # share of 5xx responses (service metrics)
  })
  default = {}
}

variable "deploy_guard" {
  description = "The target-5xx alarm that rolls back a release: infrastructure/deploy-guard.json, decoded (metric, statistic, period_seconds, evaluation_periods, datapoints_to_alarm, threshold)."
  type = object({
    metric              = string
    statistic           = string
    period_seconds      = number
    evaluation_periods  = number
    datapoints_to_alarm = number
    threshold           = number
  })

  validation {
    condition     = var.deploy_guard.metric == "HTTPCode_Target_5XX_Count" && contains(["Sum", "Average", "Maximum"], var.deploy_guard.statistic)
    error_message = "deploy_guard: metric must be HTTPCode_Target_5XX_Count (the target group's 5xx) with statistic Sum, Average or Maximum."
  }

  validation {
    # CloudWatch: a period of 10, 20, 30 or a multiple of 60 s; an alarm
    # evaluates at most one day (86400 s).
    condition     = contains([10, 20, 30], var.deploy_guard.period_seconds) || (var.deploy_guard.period_seconds >= 60 && var.deploy_guard.period_seconds % 60 == 0 && var.deploy_guard.period_seconds * var.deploy_guard.evaluation_periods <= 86400)
    error_message = "deploy_guard: period_seconds must be 10, 20, 30 or a multiple of 60, and period_seconds x evaluation_periods at most 86400."
  }

  validation {
    condition     = var.deploy_guard.evaluation_periods >= 1 && var.deploy_guard.datapoints_to_alarm >= 1 && var.deploy_guard.datapoints_to_alarm <= var.deploy_guard.evaluation_periods && var.deploy_guard.threshold >= 0
    error_message = "deploy_guard: 1 <= datapoints_to_alarm <= evaluation_periods, and threshold >= 0."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
