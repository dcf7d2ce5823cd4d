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
