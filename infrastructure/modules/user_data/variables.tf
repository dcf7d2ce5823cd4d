locals {
  # Characters that would break out of a double-quoted value in the env file.
  unsafe_env_value = "[\"\\\\$`\\n]"
}

variable "region" {
  description = "AWS region of the Secrets Manager secrets, the log group and ECR."
  type        = string
}

variable "image" {
  description = "Container image to run: <ecr repository url>:<tag> or <ecr repository url>@sha256:<digest>."
  type        = string

  validation {
    condition = (
      (can(regex("^[a-z0-9.-]+/[a-z0-9._/-]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image)) && !endswith(var.image, ":latest")) ||
      can(regex("^[a-z0-9.-]+/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$", var.image))
    )
    error_message = "image must be <registry>/<repository>:<tag> with an immutable tag (not latest) or <registry>/<repository>@sha256:<digest>, so every instance of a release runs the same bits."
  }
}

variable "api_keys_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the API keys (one per line)."
  type        = string

  validation {
    condition     = !can(regex(local.unsafe_env_value, var.api_keys_secret_arn))
    error_message = "api_keys_secret_arn must not contain quotes, backslashes, dollar signs, backticks or newlines."
  }
}

variable "db_secret_arn" {
  description = "ARN of the RDS-managed master user secret (JSON with username and password)."
  type        = string

  validation {
    condition     = !can(regex(local.unsafe_env_value, var.db_secret_arn))
    error_message = "db_secret_arn must not contain quotes, backslashes, dollar signs, backticks or newlines."
  }
}

variable "db_host" {
  description = "Host name of the database."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+$", var.db_host))
    error_message = "db_host must be a DNS name (letters, digits, dots and hyphens)."
  }
}

variable "db_port" {
  description = "TCP port of the database."
  type        = number
  default     = 5432
}

variable "db_name" {
  description = "Database name in the connection URI."
  type        = string
  default     = "items"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.db_name))
    error_message = "db_name must be a plain PostgreSQL identifier."
  }
}

variable "log_group_name" {
  description = "CloudWatch Logs group the container's stdout is shipped to (awslogs driver)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_./#-]+$", var.log_group_name))
    error_message = "log_group_name may contain letters, digits and _ . / # - only."
  }
}

variable "app_port" {
  description = "Port the container listens on (env PORT), published on the same host port."
  type        = number

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535
    error_message = "app_port must be 1024-65535: the container runs as a non-root user."
  }
}

variable "readiness_path" {
  description = "Path polled on 127.0.0.1 before the instance is allowed into service (the service's /readyz)."
  type        = string
  default     = "/readyz"

  validation {
    condition     = can(regex("^/[A-Za-z0-9/_.-]*$", var.readiness_path))
    error_message = "readiness_path must be an absolute URL path starting with / (letters, digits, / _ . - only), such as /readyz."
  }
}

variable "readiness_timeout_seconds" {
  description = "How long the bootstrap waits for the readiness path before abandoning the launch."
  type        = number
  default     = 300

  validation {
    condition     = var.readiness_timeout_seconds >= 10
    error_message = "readiness_timeout_seconds must be at least 10."
  }
}

variable "readiness_interval_seconds" {
  description = "Seconds between readiness checks."
  type        = number
  default     = 5

  validation {
    condition     = var.readiness_interval_seconds >= 1
    error_message = "readiness_interval_seconds must be at least 1."
  }
}

variable "drain_seconds" {
  description = "DRAIN_SECONDS passed to the service; equals the target group's deregistration delay."
  type        = number

  validation {
    condition     = var.drain_seconds >= 0 && var.drain_seconds <= 300 && floor(var.drain_seconds) == var.drain_seconds
    error_message = "drain_seconds must be a whole number from 0 to 300."
  }
}

variable "shutdown_timeout_seconds" {
  description = "SHUTDOWN_TIMEOUT_SECONDS passed to the service."
  type        = number

  validation {
    condition     = var.shutdown_timeout_seconds >= 1 && var.shutdown_timeout_seconds <= 300 && floor(var.shutdown_timeout_seconds) == var.shutdown_timeout_seconds
    error_message = "shutdown_timeout_seconds must be a whole number from 1 to 300."
  }
}

variable "log_level" {
  description = "LOG_LEVEL passed to the service."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "db_pool_size" {
  description = "DB_POOL_SIZE passed to the service."
  type        = number
  default     = 16

  validation {
    condition     = var.db_pool_size >= 1 && var.db_pool_size <= 100 && floor(var.db_pool_size) == var.db_pool_size
    error_message = "db_pool_size must be a whole number from 1 to 100."
  }
}

variable "container_memory_mb" {
  description = "Hard memory limit of the container, in MiB."
  type        = number

  validation {
    condition     = var.container_memory_mb >= 128 && floor(var.container_memory_mb) == var.container_memory_mb
    error_message = "container_memory_mb must be a whole number of at least 128."
  }
}

variable "container_uid" {
  description = "Numeric user the container runs as; owns the secret files."
  type        = number
  default     = 10001
}

variable "asg_name" {
  description = "Auto Scaling group whose launch lifecycle action the bootstrap completes."
  type        = string
}

variable "lifecycle_hook_name" {
  description = "Launch lifecycle hook completed when the service is ready (empty string: no hook, no signal)."
  type        = string
}

variable "rds_ca_url" {
  description = "URL of the RDS CA bundle mounted as rds-ca.pem for sslmode=verify-full."
  type        = string
  default     = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

  validation {
    condition     = startswith(var.rds_ca_url, "https://")
    error_message = "rds_ca_url must be an https:// URL: the bundle is the trust anchor for the database connection."
  }
}

variable "secret_refresh_minutes" {
  description = "How often the instance re-reads its secrets (RDS rotates the managed master password)."
  type        = number
  default     = 5
}

variable "path_prefix" {
  description = "Root prefix for every file the script writes. Empty on instances; the sandbox test sets a temporary directory."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(/[A-Za-z0-9._/-]+)?$", var.path_prefix))
    error_message = "path_prefix must be empty or an absolute path without spaces or quotes."
  }
}
