# The API keys secret, written through a write-only argument: its value never
# enters Terraform state or plan files. It comes from var.api_keys, an
# ephemeral variable (generated outside Terraform, e.g.
# TF_VAR_api_keys='["'$(openssl rand -hex 32)'"]'), and goes to AWS through
# secret_string_wo.
#
# The value is only sent when secret_string_wo_version changes: the first
# apply (and every rotation, with var.api_keys_version bumped) must supply
# the keys; all other applies -- the pipeline's included -- leave api_keys
# unset and the stored value untouched.

locals {
  # One key per line, as the service's API_KEYS_FILE expects.
  #
  # The provider requires secret_string_wo whenever secret_string_wo_version
  # is set, even on applies that write nothing, hence "" when no keys are
  # given. "" is never stored: between writes nothing is sent, and a write
  # (first apply, or a version bump) without keys is rejected by Secrets
  # Manager (SecretString needs at least one character), so a forgotten
  # TF_VAR_api_keys fails the apply instead of blanking the keys.
  api_keys_value = var.api_keys != null ? join("\n", var.api_keys) : ""
}

resource "aws_secretsmanager_secret" "api_keys" {
  name                    = "${var.name}/api-keys"
  description             = "items-api API keys, one per line (read by the instances, never stored in Terraform state)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "api_keys" {
  secret_id                = aws_secretsmanager_secret.api_keys.id
  secret_string_wo         = local.api_keys_value
  secret_string_wo_version = var.api_keys_version
}
