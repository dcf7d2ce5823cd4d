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
}

variable "api_keys_version" {
  description = "Version of the API keys value. The value is written when this changes; bump it to rotate."
  type        = number
  default     = 1
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
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
