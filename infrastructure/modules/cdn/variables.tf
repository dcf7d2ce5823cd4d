variable "name" {
  description = "Name used in the distribution comment."
  type        = string
}

variable "origin_domain_name" {
  description = "Origin host: the ALB DNS name, or a name on the ALB's certificate when origin_protocol_policy is https-only."
  type        = string
}

variable "origin_protocol_policy" {
  description = "http-only (origin is the ALB DNS name) or https-only (origin_domain_name must match the ALB certificate)."
  type        = string
  default     = "http-only"

  validation {
    condition     = contains(["http-only", "https-only"], var.origin_protocol_policy)
    error_message = "origin_protocol_policy must be http-only or https-only."
  }
}

variable "aliases" {
  description = "Alternate domain names (need acm_certificate_arn in us-east-1)."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "us-east-1 ACM certificate for the aliases (null: the *.cloudfront.net certificate)."
  type        = string
  default     = null

  validation {
    condition     = length(var.aliases) == 0 || (var.acm_certificate_arn != null && can(regex(":us-east-1:", coalesce(var.acm_certificate_arn, "-"))))
    error_message = "aliases need acm_certificate_arn, an ACM certificate in us-east-1 (CloudFront only uses certificates from there)."
  }
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "web_acl_arn" {
  description = "CLOUDFRONT-scope WAF web ACL ARN (null: none)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
