variable "name" {
  description = "Prefix of every stack resource name; the IAM permissions are scoped to it."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository allowed to assume the roles, as owner/name (case-sensitive, as GitHub spells it)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must be owner/name without wildcards: a wildcard would let other repositories deploy to this account."
  }
}

variable "github_environment" {
  description = "GitHub deployment environment whose jobs may assume the deploy role."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.github_environment))
    error_message = "github_environment must be a plain environment name without wildcards."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false when the account already has one: pass existing_oidc_provider_arn)."
  type        = bool
  default     = true
}

variable "existing_oidc_provider_arn" {
  description = "ARN of an existing token.actions.githubusercontent.com OIDC provider, used when create_oidc_provider is false."
  type        = string
  default     = null
}

variable "create_plan_role" {
  description = "Create the read-only role for pull-request plans."
  type        = bool
  default     = true
}

variable "state_bucket" {
  description = "S3 bucket of the Terraform state."
  type        = string
}

variable "state_key" {
  description = "Object key of this stack's Terraform state."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository the pipeline pushes to."
  type        = string
}

variable "asg_name" {
  description = "Auto Scaling group the pipeline refreshes."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed KMS key the stack encrypts with (null: AWS managed keys); the deploy role may use it through RDS, EC2 and Secrets Manager."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "db_identifier" {
  description = "Identifier of the stack's RDS instance: workloads may read only the RDS-managed master secret tagged with its ARN (null: <name>-db, as the root names it)."
  type        = string
  default     = null
}

variable "manage_certificate" {
  description = "The stack requests and deletes an ACM certificate (domain_name without certificate_arn): the deploy role gets the ACM write actions."
  type        = bool
  default     = false
}

variable "route53_zone_id" {
  description = "Hosted zone in which the stack writes records (certificate validation, alias); null: the deploy role may change no records."
  type        = string
  default     = null
}

variable "enable_interface_endpoints" {
  description = "The stack creates interface VPC endpoints with private DNS: the deploy role may associate the VPC with their hosted zones."
  type        = bool
  default     = false
}

variable "enable_cloudfront" {
  description = "The stack has a CloudFront distribution: the deploy role may create, change and delete this account's distributions."
  type        = bool
  default     = false
}

variable "enable_waf" {
  description = "The stack has a WAF web ACL: the deploy role may create, change, delete and associate web ACLs."
  type        = bool
  default     = false
}
