# Renders the instance bootstrap script (EC2 user_data) for the items-api
# service. No provider and no resources: the compute module puts the result
# into the launch template, and infrastructure/tests/user_data renders the very
# same module to run the script in a sandbox. EC2 accepts at most 16 KB of user
# data; the tests assert the rendered size.

locals {
  stop_timeout_seconds = var.drain_seconds + var.shutdown_timeout_seconds + 10

  # /etc/items-api/items-api.env: non-secret configuration, read by systemd
  # (EnvironmentFile) and by items-api-run. Values are validated in
  # variables.tf to contain no quotes, backslashes or dollar signs.
  environment = {
    AWS_REGION               = var.region
    IMAGE                    = var.image
    ECR_REGISTRY             = split("/", var.image)[0]
    API_KEYS_SECRET_ARN      = var.api_keys_secret_arn
    DB_SECRET_ARN            = var.db_secret_arn
    DB_HOST                  = var.db_host
    DB_PORT                  = tostring(var.db_port)
    DB_NAME                  = var.db_name
    LOG_GROUP                = var.log_group_name
    APP_PORT                 = tostring(var.app_port)
    DRAIN_SECONDS            = tostring(var.drain_seconds)
    SHUTDOWN_TIMEOUT_SECONDS = tostring(var.shutdown_timeout_seconds)
    STOP_TIMEOUT_SECONDS     = tostring(local.stop_timeout_seconds)
    LOG_LEVEL                = var.log_level
    DB_POOL_SIZE             = tostring(var.db_pool_size)
    CONTAINER_MEMORY_MB      = tostring(var.container_memory_mb)
    CONTAINER_UID            = tostring(var.container_uid)
    CONTAINER_SECRETS_DIR    = "/run/items-api"
    ITEMS_API_RUN_DIR        = "${var.path_prefix}/run/items-api"
    RDS_CA_URL               = var.rds_ca_url
  }
  env_file = join("\n", [for k in sort(keys(local.environment)) : "${k}=\"${local.environment[k]}\""])

  unit_vars = {
    path_prefix          = var.path_prefix
    stop_timeout_seconds = local.stop_timeout_seconds
    refresh_minutes      = var.secret_refresh_minutes
  }

  rendered = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    path_prefix                = var.path_prefix
    region                     = var.region
    image                      = var.image
    asg_name                   = var.asg_name
    lifecycle_hook_name        = var.lifecycle_hook_name
    app_port                   = var.app_port
    readiness_path             = var.readiness_path
    readiness_timeout_seconds  = var.readiness_timeout_seconds
    readiness_interval_seconds = var.readiness_interval_seconds
    env_file                   = local.env_file
    # Inserted verbatim (interpolated values are not re-parsed as templates)
    # into quoted heredocs (no shell expansion either). trimsuffix keeps the
    # heredoc terminators on their own lines.
    run_script      = trimsuffix(file("${path.module}/templates/items-api-run.sh"), "\n")
    service_unit    = trimsuffix(templatefile("${path.module}/templates/items-api.service.tftpl", local.unit_vars), "\n")
    refresh_service = trimsuffix(templatefile("${path.module}/templates/items-api-refresh.service.tftpl", local.unit_vars), "\n")
    refresh_timer   = trimsuffix(templatefile("${path.module}/templates/items-api-refresh.timer.tftpl", local.unit_vars), "\n")
  })
}
