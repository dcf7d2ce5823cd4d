# items-api on AWS: the root module wires the modules together.
#
#   internet -> [CloudFront + WAF, optional] -> ALB (public subnets)
#            -> Auto Scaling group of EC2 instances running the container (app subnets)
#            -> RDS PostgreSQL (database subnets)
#
# See docs/infrastructure.md for the design and README.md for how to run it.

data "aws_region" "current" {}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0

  name = var.ami_ssm_parameter
}

# The repository shared by the environments (bootstrap/ creates it): the
# stacks only read it, so tearing one down never deletes another's images.
data "aws_ecr_repository" "shared" {
  count = var.ecr_repository_name != null ? 1 : 0

  name = var.ecr_repository_name
}

data "aws_ec2_managed_prefix_list" "cloudfront" {
  count = var.cloudfront.enabled ? 1 : 0

  name = "com.amazonaws.global.cloudfront.origin-facing"
}

locals {
  # The one source of truth for the load balancer's numbers, shared with the
  # local rehearsal (rehearsal/ generates its HAProxy config from it):
  # app port, health check, deregistration delay = DRAIN_SECONDS, idle
  # timeout, SHUTDOWN_TIMEOUT_SECONDS. The modules validate the values.
  lb_settings   = jsondecode(file("${path.module}/lb-settings.json"))
  app_port      = local.lb_settings.app_port
  drain_seconds = local.lb_settings.deregistration_delay_seconds
  # Likewise for the 5xx alarm that rolls a release back (monitoring's
  # target_5xx): the rehearsal's roll guards with the same numbers.
  deploy_guard = jsondecode(file("${path.module}/deploy-guard.json"))

  asg_name            = "${var.name}-app"
  db_identifier       = "${var.name}-db"
  lifecycle_hook_name = "wait-for-readyz"
  log_group_name      = "/${var.name}/app"
  ami_id              = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023[0].insecure_value

  # Either this stack's own repository or the shared one (never both).
  ecr_repository_url  = var.ecr_repository_name != null ? data.aws_ecr_repository.shared[0].repository_url : module.registry[0].repository_url
  ecr_repository_arn  = var.ecr_repository_name != null ? data.aws_ecr_repository.shared[0].arn : module.registry[0].repository_arn
  ecr_repository_name = var.ecr_repository_name != null ? data.aws_ecr_repository.shared[0].name : module.registry[0].repository_name
  # A digest pins the bits (promotion runs what staging ran); a tag is how a
  # stack that builds its own image names it.
  image = var.image_digest != null ? "${local.ecr_repository_url}@${var.image_digest}" : "${local.ecr_repository_url}:${var.image_tag}"

  # Connection budget (validated on asg_max_size): RDS PostgreSQL's default
  # max_connections is LEAST(DBInstanceClassMemory / 9531392, 5000), and
  # DBInstanceClassMemory is below the class's nominal memory (about 190 on
  # 2 GiB). Conservative values by memory size; unknown classes assume 1 GiB.
  db_class_memory_gib = {
    "db.t3.micro"   = 1, "db.t4g.micro" = 1,
    "db.t3.small"   = 2, "db.t4g.small" = 2,
    "db.t3.medium"  = 4, "db.t4g.medium" = 4,
    "db.t3.large"   = 8, "db.t4g.large" = 8, "db.m5.large" = 8, "db.m6g.large" = 8, "db.m6i.large" = 8, "db.m7g.large" = 8,
    "db.t3.xlarge"  = 16, "db.t4g.xlarge" = 16, "db.m5.xlarge" = 16, "db.m6g.xlarge" = 16, "db.m6i.xlarge" = 16, "db.m7g.xlarge" = 16,
    "db.r5.large"   = 16, "db.r6g.large" = 16, "db.r6i.large" = 16, "db.r7g.large" = 16,
    "db.t3.2xlarge" = 32, "db.t4g.2xlarge" = 32, "db.m5.2xlarge" = 32, "db.m6g.2xlarge" = 32, "db.m6i.2xlarge" = 32, "db.m7g.2xlarge" = 32,
    "db.r5.xlarge"  = 32, "db.r6g.xlarge" = 32, "db.r6i.xlarge" = 32, "db.r7g.xlarge" = 32,
  }
  db_default_max_connections = { 1 = 80, 2 = 190, 4 = 400, 8 = 800, 16 = 1600, 32 = 3300 }
  db_max_connections         = coalesce(var.db_max_connections, local.db_default_max_connections[lookup(local.db_class_memory_gib, var.db_instance_class, 1)])
  db_connection_reserve      = 15

  https_enabled = var.certificate_arn != null || var.domain_name != null
  # CloudFront reaches the ALB over HTTPS only through a name on the ALB's
  # certificate; otherwise over HTTP, so the ALB must forward HTTP then.
  cloudfront_origin_https = var.cloudfront.origin_domain_name != null
}

module "ci" {
  source = "./modules/github_oidc"

  name                      = var.name
  github_repository         = var.github_repository
  github_environment        = var.github_environment
  github_subject_repository = var.github_subject_repository
  deploy_branch             = var.github_deploy_branch
  deploy_workflows          = var.github_deploy_workflows
  # The repository's OIDC subject customization, which
  # scripts/github-oidc-subject.sh applies: the trust is written for it.
  subject_claim_keys         = jsondecode(file("${path.module}/github-oidc-subject.json")).include_claim_keys
  create_oidc_provider       = var.create_github_oidc_provider
  existing_oidc_provider_arn = var.github_oidc_provider_arn
  state_bucket               = var.tf_state_bucket
  state_key                  = var.tf_state_key
  ecr_repository_arn         = local.ecr_repository_arn
  manage_ecr_repository      = var.ecr_repository_name == null
  push_images                = var.ci_push_images
  asg_name                   = local.asg_name
  kms_key_arn                = var.kms_key_arn
  db_identifier              = local.db_identifier

  # The deploy role gets the edge permissions only for the features in use,
  # and only on this stack's certificate, zone, VPC, distribution and ACLs.
  manage_certificate          = var.domain_name != null && var.certificate_arn == null
  certificate_domain_name     = var.certificate_arn == null ? var.domain_name : null
  route53_zone_id             = var.domain_name != null ? var.route53_zone_id : null
  enable_interface_endpoints  = var.enable_interface_endpoints
  vpc_id                      = var.enable_interface_endpoints ? module.network.vpc_id : null
  enable_cloudfront           = var.cloudfront.enabled
  cloudfront_distribution_arn = var.cloudfront.enabled ? module.cdn[0].distribution_arn : null
  enable_waf                  = var.waf.enabled
}

module "network" {
  source = "./modules/network"

  name                       = var.name
  vpc_cidr                   = var.vpc_cidr
  az_count                   = var.az_count
  one_nat_gateway_per_az     = var.one_nat_gateway_per_az
  enable_interface_endpoints = var.enable_interface_endpoints
  enable_flow_logs           = var.enable_flow_logs
  flow_logs_retention_days   = var.log_retention_days
  permissions_boundary_arn   = module.ci.permissions_boundary_arn
}

module "security_groups" {
  source = "./modules/security_groups"

  name                      = var.name
  vpc_id                    = module.network.vpc_id
  app_port                  = local.app_port
  https_enabled             = local.https_enabled
  alb_ingress_cidrs         = var.alb_ingress_cidrs
  cloudfront_prefix_list_id = var.cloudfront.enabled ? data.aws_ec2_managed_prefix_list.cloudfront[0].id : null
  cloudfront_origin_port    = local.cloudfront_origin_https ? 443 : 80
}

module "alb" {
  source = "./modules/alb"

  name                         = var.name
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.public_subnet_ids
  security_group_ids           = [module.security_groups.alb_security_group_id]
  app_port                     = local.app_port
  health_check_path            = local.lb_settings.health_check_path
  deregistration_delay_seconds = local.drain_seconds
  idle_timeout                 = local.lb_settings.idle_timeout_seconds

  health_check_interval_seconds    = local.lb_settings.health_check_interval_seconds
  health_check_timeout_seconds     = local.lb_settings.health_check_timeout_seconds
  health_check_healthy_threshold   = local.lb_settings.health_check_healthy_threshold
  health_check_unhealthy_threshold = local.lb_settings.health_check_unhealthy_threshold

  certificate_arn           = var.certificate_arn
  domain_name               = var.domain_name
  route53_zone_id           = var.route53_zone_id
  create_dns_record         = !var.cloudfront.enabled
  redirect_http_to_https    = !(var.cloudfront.enabled && !local.cloudfront_origin_https)
  ssl_policy                = var.ssl_policy
  desync_mitigation_mode    = var.alb_desync_mitigation_mode
  deletion_protection       = var.alb_deletion_protection
  access_logs               = var.alb_access_logs
  access_logs_force_destroy = var.force_destroy_buckets
  deny_insecure_transport   = var.deny_insecure_transport
}

# Stacks applied before the repository became optional keep theirs.
moved {
  from = module.registry
  to   = module.registry[0]
}

module "registry" {
  source = "./modules/registry"
  count  = var.ecr_repository_name == null ? 1 : 0

  name         = var.name
  keep_images  = var.ecr_keep_images
  force_delete = var.force_destroy_buckets
}

module "secrets" {
  source = "./modules/secrets"

  name                 = var.name
  api_keys             = var.api_keys
  api_keys_version     = var.api_keys_version
  kms_key_arn          = var.kms_key_arn
  recovery_window_days = var.secret_recovery_window_days
}

module "database" {
  source = "./modules/database"

  identifier               = local.db_identifier
  subnet_ids               = module.network.database_subnet_ids
  security_group_ids       = [module.security_groups.db_security_group_id]
  engine_version           = var.db_engine_version
  instance_class           = var.db_instance_class
  db_name                  = "items"
  master_username          = var.db_master_username
  allocated_storage_gb     = var.db_allocated_storage_gb
  max_allocated_storage_gb = var.db_max_allocated_storage_gb
  kms_key_arn              = var.kms_key_arn
  multi_az                 = var.db_multi_az
  deletion_protection      = var.db_deletion_protection
  skip_final_snapshot      = var.db_skip_final_snapshot
  backup_retention_days    = var.db_backup_retention_days
  apply_immediately        = var.db_apply_immediately

  performance_insights_enabled = var.db_performance_insights_enabled
  monitoring_interval          = var.db_monitoring_interval
  log_retention_days           = var.log_retention_days
  permissions_boundary_arn     = module.ci.permissions_boundary_arn
}

module "monitoring" {
  source = "./modules/monitoring"

  name                    = var.name
  log_group_name          = local.log_group_name
  log_retention_days      = var.log_retention_days
  alarm_email             = var.alarm_email
  alb_arn_suffix          = module.alb.arn_suffix
  target_group_arn_suffix = module.alb.target_group_arn_suffix
  asg_name                = local.asg_name
  asg_min_size            = var.asg_min_size
  db_instance_identifier  = module.database.identifier

  alarm_thresholds = var.alarm_thresholds
  deploy_guard     = local.deploy_guard
}

module "user_data" {
  source = "./modules/user_data"

  region                    = data.aws_region.current.name
  image                     = local.image
  api_keys_secret_arn       = module.secrets.api_keys_secret_arn
  db_secret_arn             = module.database.master_user_secret_arn
  db_host                   = module.database.address
  db_port                   = module.database.port
  db_name                   = module.database.db_name
  log_group_name            = module.monitoring.log_group_name
  app_port                  = local.app_port
  readiness_path            = var.readiness_path
  readiness_timeout_seconds = var.readiness_timeout_seconds
  drain_seconds             = local.drain_seconds
  shutdown_timeout_seconds  = local.lb_settings.shutdown_timeout_seconds
  log_level                 = var.log_level
  db_pool_size              = var.db_pool_size
  container_memory_mb       = var.container_memory_mb
  asg_name                  = local.asg_name
  lifecycle_hook_name       = local.lifecycle_hook_name
}

module "compute" {
  source = "./modules/compute"

  name                    = var.name
  asg_name                = local.asg_name
  subnet_ids              = module.network.app_subnet_ids
  security_group_ids      = [module.security_groups.app_security_group_id]
  target_group_arns       = [module.alb.target_group_arn]
  alb_arn_suffix          = module.alb.arn_suffix
  target_group_arn_suffix = module.alb.target_group_arn_suffix
  ami_id                  = local.ami_id
  instance_type           = var.instance_type
  root_volume_size_gb     = var.root_volume_size_gb
  ebs_kms_key_arn         = var.kms_key_arn
  user_data               = module.user_data.rendered

  min_size                          = var.asg_min_size
  max_size                          = var.asg_max_size
  health_check_grace_period_seconds = var.health_check_grace_period_seconds
  instance_warmup_seconds           = var.instance_warmup_seconds
  wait_for_capacity_timeout         = var.wait_for_capacity_timeout
  lifecycle_hook_name               = local.lifecycle_hook_name
  lifecycle_hook_timeout_seconds    = var.readiness_timeout_seconds + 120
  cpu_target_utilization            = var.cpu_target_utilization
  requests_per_target               = var.requests_per_target

  instance_refresh_min_healthy_percentage   = var.instance_refresh_min_healthy_percentage
  instance_refresh_max_healthy_percentage   = var.instance_refresh_max_healthy_percentage
  instance_refresh_checkpoint_percentages   = [50, 100]
  instance_refresh_checkpoint_delay_seconds = var.instance_refresh_checkpoint_delay_seconds
  rollback_alarm_names                      = module.monitoring.deploy_guard_alarm_names
  instance_refresh_bake_seconds             = module.monitoring.deploy_guard_bake_seconds

  secret_arns              = [module.secrets.api_keys_secret_arn, module.database.master_user_secret_arn]
  secrets_kms_key_arn      = var.kms_key_arn
  ecr_repository_arn       = local.ecr_repository_arn
  log_group_arn            = module.monitoring.log_group_arn
  permissions_boundary_arn = module.ci.permissions_boundary_arn
}

################################################################################
# Optional edge: WAF (on CloudFront when enabled, else on the ALB) and CloudFront
################################################################################

module "waf_regional" {
  source = "./modules/waf"
  count  = var.waf.enabled && !var.cloudfront.enabled ? 1 : 0

  name                     = var.name
  scope                    = "REGIONAL"
  associate_resource_arn   = module.alb.arn
  rate_limit_per_5_minutes = var.waf.rate_limit_per_5_minutes
}

module "waf_cloudfront" {
  source = "./modules/waf"
  count  = var.waf.enabled && var.cloudfront.enabled ? 1 : 0

  providers = {
    aws = aws.us_east_1
  }

  name                     = "${var.name}-edge"
  scope                    = "CLOUDFRONT"
  rate_limit_per_5_minutes = var.waf.rate_limit_per_5_minutes
}

module "cdn" {
  source = "./modules/cdn"
  count  = var.cloudfront.enabled ? 1 : 0

  name                   = var.name
  origin_domain_name     = local.cloudfront_origin_https ? var.cloudfront.origin_domain_name : module.alb.dns_name
  origin_protocol_policy = local.cloudfront_origin_https ? "https-only" : "http-only"
  aliases                = var.cloudfront.aliases
  acm_certificate_arn    = var.cloudfront.certificate_arn
  price_class            = var.cloudfront.price_class
  web_acl_arn            = var.waf.enabled ? module.waf_cloudfront[0].arn : null
}
