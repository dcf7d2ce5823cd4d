variable "name" {
  description = "Name of the load balancer; the target group is <name>-app. At most 28 characters (ALB/target group names are limited to 32)."
  type        = string

  validation {
    condition     = length(var.name) <= 28
    error_message = "name must be at most 28 characters: ALB and target group names are limited to 32."
  }
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets, one per AZ, the ALB is placed in."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the ALB."
  type        = list(string)
}

variable "app_port" {
  description = "Port the targets listen on."
  type        = number

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535
    error_message = "app_port must be 1024-65535: the container runs as a non-root user and cannot bind privileged ports."
  }
}

variable "health_check_path" {
  description = "HTTP path of the target group health check. It must not depend on the database (see docs/infrastructure.md)."
  type        = string
  default     = "/healthz"

  validation {
    condition     = can(regex("^/[A-Za-z0-9/_.-]*$", var.health_check_path)) && var.health_check_path != "/readyz"
    error_message = "health_check_path must be an absolute path other than /readyz: /readyz fails while the database is down, so the ELB health check would make the Auto Scaling group terminate every healthy instance during a database outage."
  }
}

variable "health_check_interval_seconds" {
  description = "Seconds between health checks of one target."
  type        = number
  default     = 10

  validation {
    condition     = var.health_check_interval_seconds >= 5 && var.health_check_interval_seconds <= 300
    error_message = "health_check_interval_seconds must be 5-300 (the ALB's range)."
  }
}

variable "health_check_timeout_seconds" {
  description = "Seconds before a health check counts as failed; shorter than the interval."
  type        = number
  default     = 5

  validation {
    condition     = var.health_check_timeout_seconds >= 2 && var.health_check_timeout_seconds < var.health_check_interval_seconds
    error_message = "health_check_timeout_seconds must be at least 2 and shorter than the interval, or checks overlap."
  }
}

variable "health_check_healthy_threshold" {
  description = "Consecutive successes before a target is healthy."
  type        = number
  default     = 2

  validation {
    condition     = var.health_check_healthy_threshold >= 2 && var.health_check_healthy_threshold <= 10
    error_message = "health_check_healthy_threshold must be 2-10."
  }
}

variable "health_check_unhealthy_threshold" {
  description = "Consecutive failures before a target is unhealthy."
  type        = number
  default     = 3

  validation {
    condition     = var.health_check_unhealthy_threshold >= 2 && var.health_check_unhealthy_threshold <= 10
    error_message = "health_check_unhealthy_threshold must be 2-10: a single failed check must not take a target out of service."
  }
}

variable "deregistration_delay_seconds" {
  description = "Connection draining time for deregistering targets; the service's DRAIN_SECONDS is the same number."
  type        = number

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 300 && floor(var.deregistration_delay_seconds) == var.deregistration_delay_seconds
    error_message = "deregistration_delay_seconds must be a whole number from 0 to 300: longer drains stall every deploy and scale-in."
  }
}

variable "certificate_arn" {
  description = "ARN of an existing ACM certificate for the HTTPS listener (null: none, unless domain_name is set)."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)."
  }
}

variable "domain_name" {
  description = "Domain for a DNS-validated ACM certificate created here (needs route53_zone_id). Ignored when certificate_arn is set."
  type        = string
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain_name))
    error_message = "domain_name must be a lowercase DNS name such as api.example.com."
  }

  validation {
    condition     = var.domain_name == null || var.route53_zone_id != null
    error_message = "domain_name needs route53_zone_id: the certificate is validated through DNS records in that zone."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone for the certificate validation records and the alias record."
  type        = string
  default     = null
}

variable "create_dns_record" {
  description = "Create an alias A record domain_name -> ALB (false when CloudFront serves the domain)."
  type        = bool
  default     = true
}

variable "redirect_http_to_https" {
  description = "When HTTPS is enabled, answer HTTP with a 301 to HTTPS instead of forwarding."
  type        = bool
  default     = true
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-") || startswith(var.ssl_policy, "ELBSecurityPolicy-FS-1-2-")
    error_message = "ssl_policy must be a TLS 1.2+ policy (ELBSecurityPolicy-TLS13-* or ELBSecurityPolicy-FS-1-2-*): older policies allow TLS 1.0/1.1 and weak ciphers."
  }
}

variable "desync_mitigation_mode" {
  description = "ALB HTTP desync mitigation: strictest (reject every non-RFC-compliant request), defensive or monitor."
  type        = string
  default     = "strictest"

  validation {
    condition     = contains(["strictest", "defensive", "monitor"], var.desync_mitigation_mode)
    error_message = "desync_mitigation_mode must be strictest, defensive or monitor."
  }
}

variable "idle_timeout" {
  description = "Idle connection timeout in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.idle_timeout >= 1 && var.idle_timeout <= 4000
    error_message = "idle_timeout must be 1-4000 seconds."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the ALB while true."
  type        = bool
  default     = true
}

variable "access_logs" {
  description = "Access logs to a dedicated S3 bucket: enabled, and retention_days before log objects expire."
  type = object({
    enabled        = optional(bool, true)
    retention_days = optional(number, 90)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.access_logs.retention_days >= 1
    error_message = "access_logs.retention_days must be at least 1."
  }
}

variable "access_logs_force_destroy" {
  description = "Allow destroying the log bucket while it still holds logs."
  type        = bool
  default     = false
}

variable "deny_insecure_transport" {
  description = "Deny non-TLS requests in the log bucket policy."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
