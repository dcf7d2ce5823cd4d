variable "aws_region" {
  description = "Region of the state bucket."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region code such as eu-west-1."
  }
}

variable "name" {
  description = "Prefix of the default bucket name <name>-tfstate-<account>-<region>."
  type        = string
  default     = "items-api"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name must be 3-20 lowercase letters, digits and hyphens."
  }
}

variable "bucket_name" {
  description = "Explicit bucket name (null: <name>-tfstate-<account>-<region>, unique per account and region)."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the state objects (null: SSE-S3). With a key, every principal that runs Terraform also needs kms:Encrypt/Decrypt on it."
  type        = string
  default     = null
}

variable "noncurrent_version_days" {
  description = "Days old state versions are kept."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_days >= 7
    error_message = "noncurrent_version_days must be at least 7, so a broken state can still be restored after a week-end."
  }
}

variable "force_destroy" {
  description = "Allow destroying the bucket with objects in it (only for disposable test accounts)."
  type        = bool
  default     = false
}

variable "deny_insecure_transport" {
  description = "Bucket policy that denies every request not made over TLS. Keep true; only the emulator test turns it off (moto ignores policy conditions, so the deny would block everything)."
  type        = bool
  default     = true
}

variable "provider_max_retries" {
  description = "Maximum retries of the AWS provider (the emulator test sets it low)."
  type        = number
  default     = 25
}

variable "s3_use_path_style" {
  description = "Path-style S3 requests (S3-compatible emulators only)."
  type        = bool
  default     = false
}

variable "ecr_repository_name" {
  description = "Name of the image repository every environment shares (set the same value as ecr_repository_name in the environments' variables). null: no repository here (a single stack creates its own)."
  type        = string
  default     = null

  validation {
    condition     = var.ecr_repository_name == null || can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", coalesce(var.ecr_repository_name, "-")))
    error_message = "ecr_repository_name must be lowercase letters, digits and . _ - separators."
  }
}

variable "ecr_keep_images" {
  description = "Number of recent images the shared repository keeps, at least 5: every environment's running image and its rollback targets must stay inside this window."
  type        = number
  default     = 30
}

variable "ecr_pull_account_ids" {
  description = "Other AWS accounts whose environments pull from the shared repository (production in its own account): read-only repository policy. Empty: same account only."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub Actions OIDC provider here (once per account), for the environments to reference (they set create_github_oidc_provider = false)."
  type        = bool
  default     = false
}
