# The instance bootstrap's inputs (modules/user_data): the rules on the
# service settings the root passes through. No provider, no resources; the
# script itself is rendered and run in a sandbox by tests/user_data/run.sh.

variables {
  region                   = "eu-west-1"
  image                    = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api:0123456789abcdef0123456789abcdef01234567"
  api_keys_secret_arn      = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:items-api/api-keys-AbCdEf"
  db_secret_arn            = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f9c2e7a-XyZ123"
  db_host                  = "items-api-db.c9akciq32.eu-west-1.rds.amazonaws.com"
  log_group_name           = "/items-api/app"
  app_port                 = 8080
  drain_seconds            = 5
  shutdown_timeout_seconds = 10
  container_memory_mb      = 1536
  asg_name                 = "items-api-app"
  lifecycle_hook_name      = "wait-for-readyz"
}

run "passes_the_service_settings" {
  command = plan

  module {
    source = "./modules/user_data"
  }

  variables {
    log_level    = "warn"
    db_pool_size = 100
  }

  assert {
    condition     = output.environment.LOG_LEVEL == "warn" && output.environment.DB_POOL_SIZE == "100" && output.environment.CONTAINER_MEMORY_MB == "1536"
    error_message = "The service settings reach the environment file"
  }
}

run "rejects_bad_service_settings" {
  command = plan

  module {
    source = "./modules/user_data"
  }

  variables {
    readiness_path      = "readyz"
    log_level           = "verbose"
    db_pool_size        = 101
    container_memory_mb = 64
  }

  expect_failures = [
    var.readiness_path,
    var.log_level,
    var.db_pool_size,
    var.container_memory_mb,
  ]
}
