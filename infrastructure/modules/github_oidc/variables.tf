variable "name" {
  description = "Prefix of every stack resource name; the IAM permissions are scoped to it."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository allowed to assume the roles, as owner/name (case-sensitive, as GitHub spells it)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must be owner/name without wildcards: a wildcard would let other repositories deploy into this account."
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

variable "github_subject_repository" {
  description = "The repository as the OIDC subject names it (null: github_repository). Repositories on GitHub's immutable subject format (created after 15 July 2026, or opted in) are named <owner>@<owner id>/<name>@<repository id> there."
  type        = string
  default     = null

  validation {
    condition     = var.github_subject_repository == null || can(regex("^[A-Za-z0-9-]+(@[0-9]+)?/[A-Za-z0-9._-]+(@[0-9]+)?$", coalesce(var.github_subject_repository, "-")))
    error_message = "github_subject_repository must be owner/name or owner@<id>/name@<id>, without wildcards."
  }
}

variable "subject_claim_keys" {
  description = "include_claim_keys of the repository's OIDC subject customization (infrastructure/github-oidc-subject.json): the subjects the roles trust are built in this order."
  type        = list(string)
  default     = ["repo", "context", "job_workflow_ref"]

  validation {
    condition = (
      length(var.subject_claim_keys) == length(distinct(var.subject_claim_keys)) &&
      alltrue([for k in var.subject_claim_keys : contains(["repo", "context", "ref", "job_workflow_ref"], k)]) &&
      contains(var.subject_claim_keys, "repo") && contains(var.subject_claim_keys, "context") &&
      (contains(var.subject_claim_keys, "job_workflow_ref") || contains(var.subject_claim_keys, "ref"))
    )
    error_message = "subject_claim_keys must be distinct keys among repo, context, ref and job_workflow_ref, with repo, context and at least one of ref or job_workflow_ref: without the ref or the workflow, any branch's workflow that names the environment could deploy."
  }
}

variable "deploy_branch" {
  description = "The only branch whose workflows may assume the deploy role."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.deploy_branch)) && !strcontains(var.deploy_branch, "..")
    error_message = "deploy_branch must be a plain branch name without wildcards."
  }
}

variable "deploy_workflows" {
  description = "Workflow files (under .github/workflows/) whose jobs in the deployment environment may assume the deploy role."
  type        = list(string)
  default     = ["ci-cd.yml", "redeploy.yml"]

  validation {
    condition     = length(var.deploy_workflows) > 0 && alltrue([for w in var.deploy_workflows : can(regex("^[A-Za-z0-9._-]+\\.ya?ml$", w))])
    error_message = "deploy_workflows must be workflow file names such as ci-cd.yml, without paths or wildcards."
  }
}

variable "plan_workflows" {
  description = "Workflow files whose pull-request jobs may assume the plan role."
  type        = list(string)
  default     = ["ci-cd.yml"]

  validation {
    condition     = length(var.plan_workflows) > 0 && alltrue([for w in var.plan_workflows : can(regex("^[A-Za-z0-9._-]+\\.ya?ml$", w))])
    error_message = "plan_workflows must be workflow file names such as ci-cd.yml, without paths or wildcards."
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

  validation {
    condition     = var.create_oidc_provider || var.existing_oidc_provider_arn != null
    error_message = "Set existing_oidc_provider_arn when create_oidc_provider is false."
  }
}

variable "create_plan_role" {
  description = "Create the read-only role for pull-request plans."
  type        = bool
  default     = true
}

variable "state_bucket" {
  description = "S3 bucket of the Terraform state."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket must be an S3 bucket name."
  }
}

variable "state_key" {
  description = "Object key of this stack's Terraform state."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository the pipeline pushes to."
  type        = string
}

variable "manage_ecr_repository" {
  description = "The stack owns its ECR repository (the deploy role may change and delete it). false for a repository shared by several stacks (bootstrap/ owns it): the role gets no management rights on it."
  type        = bool
  default     = true
}

variable "push_images" {
  description = "The deploy role may push images and add tags to the repository; false: pull and describe only (an environment that deploys digests another one pushed)."
  type        = bool
  default     = true
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

variable "certificate_domain_name" {
  description = "The name the stack's certificate is requested for (with manage_certificate): the only name the deploy role may request."
  type        = string
  default     = null
}

variable "stack_tag_key" {
  description = "Tag key whose value is the stack name on every resource (the root's default_tags: Service = name); ACM certificates are reached only through it."
  type        = string
  default     = "Service"
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

variable "vpc_id" {
  description = "The stack's VPC: with enable_interface_endpoints, the only VPC the deploy role may associate with hosted zones."
  type        = string
  default     = null
}

variable "cloudfront_distribution_arn" {
  description = "The stack's CloudFront distribution (null until an administrator apply created it): the only one the deploy role may update."
  type        = string
  default     = null
}

variable "enable_cloudfront" {
  description = "The stack has a CloudFront distribution: the deploy role may update it (creating or removing it is an administrator apply)."
  type        = bool
  default     = false
}

variable "enable_waf" {
  description = "The stack has a WAF web ACL: the deploy role may create, change, delete and associate the stack's web ACLs (by name) with the stack's ALB."
  type        = bool
  default     = false
}
