# Emulator overlay for the environment stacks of the moto run (run.sh, phase
# 2): applied after environments/<env>.tfvars.example, so each stack runs with
# the example's own values (name, state key, GitHub environment, shared
# repository, sizes) and only what moto cannot do, or what would block the
# test's destroy, is changed here (as in tests/moto.tfvars). The examples'
# account 123456789012 is moto's default account.

image_tag       = "0123456789abcdef0123456789abcdef01234567"
tf_state_bucket = "items-api-tfstate-moto"

provider_max_retries = 3
s3_use_path_style    = true

alb_deletion_protection     = false
db_deletion_protection      = false
db_skip_final_snapshot      = true
force_destroy_buckets       = true
secret_recovery_window_days = 0
deny_insecure_transport     = false

api_keys = ["moto-dummy-api-key-3f9c2e7a1b8d4f6e0a5c9b2d7e1f4a8c"]
