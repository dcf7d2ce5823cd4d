# Variables for the emulator run (make test-infra-moto). Anyone can repeat it:
#
#   eval "$(../tests/lib/moto.sh start /tmp/moto)"     # from the repository root
#   terraform plan -var-file=tests/moto.tfvars        # from infrastructure/
#
# Production defaults stay on where moto can emulate them (Multi-AZ, NAT per
# AZ, flow logs, access logs, Performance-Insights-free defaults); what moto
# cannot do, or what would block the test's destroy, is switched off here.
# The test adds -var certificate_arn=<a certificate it imports into moto's ACM>
# to exercise the HTTPS listener and the HTTP->HTTPS redirect: HTTPS is
# required (a plan by hand without it needs -var allow_plain_http=true).

aws_region  = "eu-west-1"
name        = "items-api"
environment = "moto"
image_tag   = "0123456789abcdef0123456789abcdef01234567"

# Fail fast on calls moto does not implement (e.g. instance refresh) instead of
# retrying for minutes; moto's S3 needs path-style addressing.
provider_max_retries = 3
s3_use_path_style    = true

# A disposable stack: let destroy remove everything.
alb_deletion_protection     = false
db_deletion_protection      = false
db_skip_final_snapshot      = true
force_destroy_buckets       = true
secret_recovery_window_days = 0

# moto ignores bucket policy conditions: the TLS-only deny would deny everything.
deny_insecure_transport = false

# Dummy secret (moto only). The test asserts it never appears in the state.
api_keys = ["moto-dummy-api-key-3f9c2e7a1b8d4f6e0a5c9b2d7e1f4a8c"]

alarm_email       = "oncall@example.com"
github_repository = "example-org/items-api"
tf_state_bucket   = "items-api-tfstate-moto"
tf_state_key      = "items-api/moto/terraform.tfstate"
