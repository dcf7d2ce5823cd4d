variable "name" {
  description = "Repository name."
  type        = string
}

variable "keep_images" {
  description = "How many recent images to keep. Deployed and rollback images must stay inside this window."
  type        = number
  default     = 30

  validation {
    condition     = var.keep_images >= 5
    error_message = "keep_images must be at least 5 so the running image and a few rollback targets are never expired."
  }
}

variable "untagged_expiry_days" {
  description = "Days before untagged images expire."
  type        = number
  default     = 7
}

variable "force_delete" {
  description = "Allow deleting the repository while it still holds images."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for image encryption (null: AES256)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "pull_account_ids" {
  description = "Other AWS accounts (12-digit IDs) whose principals may pull images: a repository policy grants them BatchGetImage and GetDownloadUrlForLayer (their own IAM policies must allow it too). Empty: no repository policy, same-account access only."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.pull_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "pull_account_ids must be 12-digit AWS account IDs."
  }
}
