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

variable "alb_5xx_threshold" {
  description = "ALB-generated 5xx per minute before alarming."
  type        = number
  default     = 10
}

variable "target_5xx_threshold" {
  description = "Target 5xx per minute before alarming (and rolling back a refresh)."
  type        = number
  default     = 10
}

variable "p99_latency_threshold_seconds" {
  description = "p99 target response time, in seconds, before alarming."
  type        = number
  default     = 1
}

variable "db_cpu_threshold" {
  description = "Database CPU percentage before alarming."
  type        = number
  default     = 80
}

variable "db_free_storage_threshold_gb" {
  description = "Free database storage, in GiB, below which to alarm."
  type        = number
  default     = 5
}

variable "db_connections_threshold" {
  description = "Database connections before alarming."
  type        = number
  default     = 100
}

variable "db_errors_threshold" {
  description = "Database errors per minute (service metric DbErrors) before alarming."
  type        = number
  default     = 5
}

variable "app_5xx_rate_threshold_percent" {
  description = "Percentage of 5xx responses (service metrics) before alarming."
  type        = number
  default     = 5
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
