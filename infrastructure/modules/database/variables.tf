variable "identifier" {
  description = "RDS instance identifier; also the prefix of the subnet and parameter groups."
  type        = string
}

variable "subnet_ids" {
  description = "Database subnets (at least two AZs)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the database."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL version: a major (\"16\") to take the latest minor, or major.minor."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?$", var.engine_version)) && try(tonumber(split(".", var.engine_version)[0]) >= 15, false)
    error_message = "engine_version must be PostgreSQL 15 or newer, written as \"16\" or \"16.4\"."
  }
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class such as db.t4g.small."
  }
}

variable "db_name" {
  description = "Name of the database created in the instance."
  type        = string
  default     = "items"
}

variable "master_username" {
  description = "Master user name (its password is managed by RDS in Secrets Manager)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.master_username)) && !contains(["postgres", "admin", "rdsadmin", "root"], var.master_username)
    error_message = "master_username must be a lowercase identifier and not a reserved name (postgres, admin, rdsadmin, root)."
  }
}

variable "allocated_storage_gb" {
  description = "Initial storage, in GiB."
  type        = number

  validation {
    condition     = var.allocated_storage_gb >= 20
    error_message = "allocated_storage_gb must be at least 20 (the gp3 minimum for RDS PostgreSQL)."
  }
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling, in GiB."
  type        = number

  validation {
    condition     = var.max_allocated_storage_gb >= var.allocated_storage_gb
    error_message = "max_allocated_storage_gb must be at least allocated_storage_gb."
  }
}

variable "kms_key_arn" {
  description = "KMS key for storage, the master secret and Performance Insights (null: AWS managed keys)."
  type        = string
  default     = null
}

variable "ca_cert_identifier" {
  description = "Server certificate authority of the instance (null: the region's default for new instances, rds-ca-rsa2048-g1). The instances trust the whole RDS global bundle, so any RDS CA works."
  type        = string
  default     = null
}

variable "multi_az" {
  description = "Synchronous standby in a second AZ."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse to delete the instance while true."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be 1-35: 0 would disable automated backups and point-in-time recovery."
  }
}

variable "backup_window" {
  description = "Daily backup window (UTC), hh24:mi-hh24:mi."
  type        = string
  default     = "02:00-03:00"
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC), ddd:hh24:mi-ddd:hh24:mi."
  type        = string
  default     = "sun:03:30-sun:04:30"
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot."
  type        = bool
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "performance_insights_enabled" {
  description = "Enable Performance Insights (7 days retention, free tier)."
  type        = bool
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 disables it)."
  type        = number

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "cloudwatch_logs_exports" {
  description = "PostgreSQL logs exported to CloudWatch Logs."
  type        = list(string)
  default     = ["postgresql", "upgrade"]
}

variable "log_retention_days" {
  description = "Retention of the exported RDS log groups, in days."
  type        = number
}

variable "log_min_duration_statement_ms" {
  description = "Log statements slower than this many milliseconds (-1 disables)."
  type        = number
  default     = 1000
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the monitoring role (null for none)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
