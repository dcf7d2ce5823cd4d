variable "name" {
  description = "Prefix of the secret name (<name>/api-keys)."
  type        = string
}

variable "api_keys" {
  description = "API keys to store (ephemeral: never written to state or plan). Needed when the secret is first written and when api_keys_version changes; null otherwise."
  type        = list(string)
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.api_keys == null || alltrue([for k in coalesce(var.api_keys, []) : length(k) >= 32 && can(regex("^[A-Za-z0-9._~+/=-]+$", k))])
    error_message = "Every API key must be at least 32 characters of letters, digits and ._~+/=- (no spaces, newlines or #, which the key file format reserves)."
  }
}

variable "api_keys_version" {
  description = "Version of the API keys value. The value is written when this changes; bump it to rotate."
  type        = number
  default     = 1

  validation {
    condition     = var.api_keys_version >= 1 && floor(var.api_keys_version) == var.api_keys_version
    error_message = "api_keys_version must be a positive whole number."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the secret (null: aws/secretsmanager)."
  type        = string
  default     = null
}

variable "recovery_window_days" {
  description = "Days a deleted secret can be restored (0 deletes at once)."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_days == 0 || (var.recovery_window_days >= 7 && var.recovery_window_days <= 30)
    error_message = "recovery_window_days must be 0 or 7-30."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
