variable "name" {
  description = "Name prefix for the security groups."
  type        = string
}

variable "vpc_id" {
  description = "VPC the security groups belong to."
  type        = string
}

variable "app_port" {
  description = "TCP port the service listens on inside the instances."
  type        = number
}

variable "db_port" {
  description = "TCP port of the database."
  type        = number
  default     = 5432
}

variable "https_enabled" {
  description = "Open 443 on the ALB as well as 80 (true when the ALB has an HTTPS listener)."
  type        = bool
}

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDRs allowed to reach the ALB on 80/443. Ignored when cloudfront_prefix_list_id is set."
  type        = list(string)

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for c in var.alb_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "alb_ingress_cidrs must be a non-empty list of IPv4 CIDRs such as 203.0.113.0/24."
  }
}

variable "cloudfront_prefix_list_id" {
  description = "ID of the com.amazonaws.global.cloudfront.origin-facing managed prefix list; when set, only CloudFront may reach the ALB."
  type        = string
  default     = null
}

variable "cloudfront_origin_port" {
  description = "Port CloudFront connects to on the ALB (80 for an http-only origin, 443 for https-only); the only port open to the prefix list."
  type        = number
  default     = 443

  validation {
    condition     = contains([80, 443], var.cloudfront_origin_port)
    error_message = "cloudfront_origin_port must be 80 or 443."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
