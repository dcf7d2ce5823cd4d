variable "name" {
  description = "Name of the web ACL."
  type        = string
}

variable "scope" {
  description = "REGIONAL (ALB) or CLOUDFRONT (must be created through a us-east-1 provider)."
  type        = string

  validation {
    condition     = contains(["REGIONAL", "CLOUDFRONT"], var.scope)
    error_message = "scope must be REGIONAL or CLOUDFRONT."
  }
}

variable "associate_resource_arn" {
  description = "Regional resource (the ALB) to protect; only with scope REGIONAL."
  type        = string
  default     = null
}

variable "rate_limit_per_5_minutes" {
  description = "Requests one IP may send in 5 minutes before it is blocked."
  type        = number
  default     = 2000

  validation {
    condition     = var.rate_limit_per_5_minutes >= 10
    error_message = "rate_limit_per_5_minutes must be at least 10 (the AWS WAF minimum)."
  }
}

variable "managed_rule_groups" {
  description = "AWS managed rule groups, in priority order; count_only_rules lists rules switched to count (e.g. SizeRestrictions_BODY for large request bodies)."
  type = list(object({
    name             = string
    count_only_rules = optional(list(string), [])
  }))
  default = [
    { name = "AWSManagedRulesAmazonIpReputationList" },
    { name = "AWSManagedRulesCommonRuleSet" },
    { name = "AWSManagedRulesKnownBadInputsRuleSet" },
  ]
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
