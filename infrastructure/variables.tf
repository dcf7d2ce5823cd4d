################################################################################
# General
################################################################################

variable "aws_region" {
  description = "AWS region of the stack."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region code such as eu-west-1."
  }
}

variable "allowed_account_ids" {
  description = "AWS account IDs Terraform may touch (null: any). Set it for production so a wrong profile fails instead of building a second stack elsewhere."
  type        = list(string)
  default     = null

  validation {
    condition     = var.allowed_account_ids == null || alltrue([for id in coalesce(var.allowed_account_ids, []) : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must be 12-digit AWS account IDs."
  }
}

variable "name" {
  description = "Name of the stack: prefix of every resource name (the CI permissions are scoped to it)."
  type        = string
  default     = "items-api"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name must be 3-20 characters of lowercase letters, digits and hyphens, starting with a letter: it prefixes ALB, target group and bucket names, which have tight length and character limits."
  }
}

variable "environment" {
  description = "Environment name, used in tags."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.environment))
    error_message = "environment must be lowercase letters, digits and hyphens."
  }
}

variable "extra_tags" {
  description = "Additional tags for every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "provider_max_retries" {
  description = "Maximum retries of the AWS provider for throttled or failed calls. Keep the default on AWS; the emulator tests set it low so unsupported calls fail fast."
  type        = number
  default     = 25

  validation {
    condition     = var.provider_max_retries >= 0 && var.provider_max_retries <= 100
    error_message = "provider_max_retries must be between 0 and 100."
  }
}

variable "s3_use_path_style" {
  description = "Path-style S3 requests. Only for S3-compatible emulators; leave false on AWS."
  type        = bool
  default     = false
}

################################################################################
# Release
################################################################################

variable "image_tag" {
  description = "Tag of the image in the ECR repository to run: the git commit SHA the pipeline built. May be null only when image_digest is set (which then wins)."
  type        = string
  default     = null

  validation {
    condition     = var.image_tag != null || var.image_digest != null
    error_message = "Set image_tag (the commit SHA the pipeline built) or image_digest (the digest to promote)."
  }

  validation {
    condition     = var.image_tag == null || try(var.image_tag != "" && lower(var.image_tag) != "latest", false)
    error_message = "image_tag must name one immutable build (the commit SHA): an empty tag or \"latest\" would make instances of one release run different code and break rollbacks."
  }

  validation {
    condition     = var.image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", coalesce(var.image_tag, "-")))
    error_message = "image_tag must be a valid Docker tag: letters, digits, _ . - only, at most 128 characters."
  }
}

variable "image_digest" {
  description = "Digest (sha256:<64 hex>) of the image to run, in place of image_tag: the launch template then runs <repository>@<digest>, the very bits another environment ran (promotion). null: run <repository>:<image_tag>."
  type        = string
  default     = null

  validation {
    condition     = var.image_digest == null || can(regex("^sha256:[0-9a-f]{64}$", coalesce(var.image_digest, "-")))
    error_message = "image_digest must be sha256: followed by 64 lowercase hex digits (as docker and ECR print it)."
  }
}

variable "ecr_repository_name" {
  description = "Name of an existing ECR repository (shared by the environments, created by bootstrap/) that this stack runs its image from; it creates none. null: the stack creates its own repository named <name>."
  type        = string
  default     = null

  validation {
    condition     = var.ecr_repository_name == null || can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", coalesce(var.ecr_repository_name, "-")))
    error_message = "ecr_repository_name must be an ECR repository name: lowercase letters, digits, . _ - and / separators."
  }
}

variable "ci_push_images" {
  description = "The deploy role may push images to the repository (and add tags to them). false for an environment that only deploys digests another environment pushed and verified (production)."
  type        = bool
  default     = true
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (/16 to /20)."
  type        = string
  default     = "10.0.0.0/16"
}

variable "az_count" {
  description = "Number of availability zones (2 to 4)."
  type        = number
  default     = 2
}

variable "one_nat_gateway_per_az" {
  description = "One NAT gateway per AZ (resilient to an AZ outage) instead of one shared (about 35 USD a month cheaper per AZ saved)."
  type        = bool
  default     = true
}

variable "enable_interface_endpoints" {
  description = "Interface VPC endpoints for ECR, Secrets Manager, CloudWatch Logs, SSM and Auto Scaling (about 7.3 USD per endpoint per AZ per month): AWS API traffic stays off the NAT gateway."
  type        = bool
  default     = false
}

variable "enable_flow_logs" {
  description = "VPC flow logs to CloudWatch Logs."
  type        = bool
  default     = true
}

################################################################################
# Load balancer
################################################################################

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDRs (at least one) allowed to reach the ALB on 80/443 (ignored when cloudfront.enabled: then only CloudFront may)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ARN of an ACM certificate (arn:aws:acm:...) in aws_region for the HTTPS listener. With it (or domain_name), HTTP redirects to HTTPS."
  type        = string
  default     = null
}

variable "allow_plain_http" {
  description = "Opt out of HTTPS: let the stack serve the API over plain HTTP (no certificate_arn or domain_name, or CloudFront reaching the ALB over HTTP). API keys then cross the internet in clear text; for emulators and throwaway stacks only."
  type        = bool
  default     = false

  validation {
    condition     = var.allow_plain_http || ((var.certificate_arn != null || var.domain_name != null) && (!var.cloudfront.enabled || var.cloudfront.origin_domain_name != null))
    error_message = "HTTPS is required: set certificate_arn (an ACM certificate in aws_region) or domain_name with route53_zone_id (a DNS-validated certificate), and with cloudfront.enabled also cloudfront.origin_domain_name (a name on that certificate, so CloudFront reaches the ALB over HTTPS). To serve plain HTTP anyway, with API keys in clear text (emulators, throwaway stacks), set allow_plain_http = true."
  }
}

variable "domain_name" {
  description = "Domain (lowercase DNS name) for a DNS-validated ACM certificate and an alias record to the ALB (needs route53_zone_id). Ignored for the certificate when certificate_arn is set."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener: a TLS 1.2+ policy (ELBSecurityPolicy-TLS13-* or ELBSecurityPolicy-FS-1-2-*)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_desync_mitigation_mode" {
  description = "ALB HTTP desync mitigation: strictest (reject every non-RFC-compliant request), defensive or monitor."
  type        = string
  default     = "strictest"
}

variable "alb_access_logs" {
  description = "ALB access logs to a dedicated, encrypted, private S3 bucket: enabled (default true), retention_days before the logs expire (default 90, at least 1)."
  type = object({
    enabled        = optional(bool, true)
    retention_days = optional(number, 90)
  })
  default  = {}
  nullable = false
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the ALB (turn off before a deliberate destroy)."
  type        = bool
  default     = true
}

variable "deny_insecure_transport" {
  description = "S3 bucket policies deny every request not made over TLS. Keep true; only the emulator test turns it off (moto ignores policy conditions, so the deny would block everything)."
  type        = bool
  default     = true
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete the access log bucket and the ECR repository while they still hold objects. Keep false in production."
  type        = bool
  default     = false
}

################################################################################
# Service (the load balancer numbers -- port, health check, drain and
# shutdown times -- are in lb-settings.json, shared with rehearsal/)
################################################################################

variable "readiness_path" {
  description = "Absolute path (such as /readyz) the instance bootstrap polls before it lets the instance into service (checks the database)."
  type        = string
  default     = "/readyz"
}

variable "log_level" {
  description = "LOG_LEVEL of the service: debug, info, warn or error."
  type        = string
  default     = "info"
}

variable "db_pool_size" {
  description = "DB_POOL_SIZE: database connections per instance (1-100); the rule on asg_max_size keeps the fleet's total within the database's max_connections (db_max_connections)."
  type        = number
  default     = 16
}

################################################################################
# Compute
################################################################################

variable "instance_type" {
  description = "EC2 instance type (x86_64, to match the image and the default AMI parameter)."
  type        = string
  default     = "t3.small"
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter with the current Amazon Linux 2023 AMI ID."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

  validation {
    condition     = startswith(var.ami_ssm_parameter, "/aws/service/ami-amazon-linux-latest/al2023-")
    error_message = "ami_ssm_parameter must be an Amazon Linux 2023 parameter: the bootstrap relies on dnf, systemd and the AWS CLI of AL2023."
  }
}

variable "ami_id" {
  description = "Pin an AMI ID instead of following ami_ssm_parameter (null: follow)."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "root_volume_size_gb" {
  description = "Root volume (gp3, encrypted) size in GiB, 8-200 (the AL2023 AMI needs 8)."
  type        = number
  default     = 20
}

variable "container_memory_mb" {
  description = "Memory limit of the container in MiB, at least 128 (leave room for the OS and Docker: about 75% of the instance)."
  type        = number
  default     = 1536
}

variable "asg_min_size" {
  description = "Minimum number of instances, at least 1. 2+ keeps one instance per AZ through an instance or AZ failure."
  type        = number
  default     = 2
}

variable "asg_max_size" {
  description = "Maximum number of instances, at least asg_min_size."
  type        = number
  default     = 4

  # Peak instances: an instance refresh launches replacements before old
  # instances stop (up to instance_refresh_max_healthy_percentage of the
  # group). Each runs db_pool_size connections; local.db_connection_reserve
  # stays free for the superuser, RDS's own and operators' connections.
  validation {
    condition     = ceil(var.asg_max_size * var.instance_refresh_max_healthy_percentage / 100) * var.db_pool_size + local.db_connection_reserve <= local.db_max_connections
    error_message = "ceil(asg_max_size x instance_refresh_max_healthy_percentage / 100) x db_pool_size, plus 15 reserved connections, must not exceed the database's max_connections (db_max_connections, else the RDS PostgreSQL default of db_instance_class: about 190 for db.t4g.small, 80 assumed for classes not in the list in main.tf, so set db_max_connections for those): a scale-out or an instance refresh would exhaust it."
  }
}

variable "cpu_target_utilization" {
  description = "Average CPU utilization (%) the group keeps by scaling, 10-90 (headroom while new instances boot)."
  type        = number
  default     = 35
}

variable "requests_per_target" {
  description = "ALB requests per target per minute the group keeps by scaling (positive)."
  type        = number
  default     = 137000
}

variable "instance_warmup_seconds" {
  description = "Seconds a new instance needs before it counts (scaling metrics, instance refresh progress): a whole number, 0-3600."
  type        = number
  default     = 60
}

variable "health_check_grace_period_seconds" {
  description = "Seconds after an instance enters service before failed ELB health checks can replace it (readiness is already gated by the lifecycle hook): a whole number, 0-3600."
  type        = number
  default     = 60
}

variable "readiness_timeout_seconds" {
  description = "How long a new instance may take to answer the readiness path before its launch is abandoned."
  type        = number
  default     = 420

  validation {
    condition     = var.readiness_timeout_seconds >= 60 && var.readiness_timeout_seconds <= 3000
    error_message = "readiness_timeout_seconds must be 60-3000 (it must fit in the lifecycle hook timeout, at most 7200 s)."
  }
}

variable "instance_refresh_min_healthy_percentage" {
  description = "Capacity kept healthy during an instance refresh, 50-100 (%)."
  type        = number
  default     = 100
}

variable "instance_refresh_max_healthy_percentage" {
  description = "Capacity ceiling during an instance refresh (above 100: replacements start before old instances stop): 100-200 (%), at most 100 points above the minimum, and above 100 when the minimum is 100."
  type        = number
  default     = 150
}

variable "instance_refresh_checkpoint_delay_seconds" {
  description = "Bake time at each refresh checkpoint (50% and 100%) during which the rollback alarms can stop a bad release: whole seconds, 60-3600."
  type        = number
  default     = 120
}

variable "wait_for_capacity_timeout" {
  description = "How long terraform apply waits for the group's minimum of healthy instances (a duration such as 15m; \"0\": do not wait)."
  type        = string
  default     = "15m"
}

################################################################################
# Database
################################################################################

variable "db_engine_version" {
  description = "PostgreSQL version (15 or newer): a major such as \"16\" follows the latest minor."
  type        = string
  default     = "16"
}

variable "db_instance_class" {
  description = "RDS instance class (db.*)."
  type        = string
  default     = "db.t4g.small"
}

variable "db_max_connections" {
  description = "max_connections of the database, for the connection budget check on asg_max_size x db_pool_size (null: the RDS PostgreSQL default of db_instance_class for common classes, LEAST(DBInstanceClassMemory/9531392, 5000) rounded down; 80 for unknown classes). Set it when the class is not listed or the parameter group changes max_connections."
  type        = number
  default     = null

  validation {
    condition     = var.db_max_connections == null || try(var.db_max_connections >= 20 && var.db_max_connections <= 5000, false)
    error_message = "db_max_connections must be 20-5000 (the RDS PostgreSQL range for these classes)."
  }
}

variable "db_master_username" {
  description = "Master user name (its password is generated and rotated by RDS in Secrets Manager): a lowercase identifier, not postgres, admin, rdsadmin or root."
  type        = string
  default     = "items_admin"
}

variable "db_allocated_storage_gb" {
  description = "Initial database storage in GiB (gp3), at least 20."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB, at least db_allocated_storage_gb."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Synchronous standby in another AZ (automatic failover). Production default on; roughly doubles the database cost."
  type        = bool
  default     = true
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database. Production default on."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Delete the database without a final snapshot. Keep false in production."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Automated backup retention (point-in-time recovery window), 1-35 days."
  type        = number
  default     = 7
}

variable "db_performance_insights_enabled" {
  description = "Performance Insights (7 days free retention; check that db_instance_class supports it)."
  type        = bool
  default     = false
}

variable "db_monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds: 0 (off), 1, 5, 10, 15, 30 or 60."
  type        = number
  default     = 0
}

variable "db_apply_immediately" {
  description = "Apply database modifications immediately instead of in the maintenance window (may restart it)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for RDS storage, its master secret, the API keys secret and EBS volumes (null: AWS managed keys)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

################################################################################
# Secrets
################################################################################

variable "api_keys" {
  description = "API keys for the service (one per list item; each at least 32 characters of letters, digits and ._~+/=-), generated outside Terraform (e.g. openssl rand -hex 32). Ephemeral: never stored in state or plan files. Required at the first apply of the secret and whenever api_keys_version changes; leave unset otherwise (the stored value stays)."
  type        = list(string)
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "api_keys_version" {
  description = "Version of the API keys value. Bump it, with api_keys set, to rotate; instances pick the change up within minutes. A positive whole number."
  type        = number
  default     = 1
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret stays recoverable, 7-30 (0: immediate deletion, for disposable environments only)."
  type        = number
  default     = 30
}

################################################################################
# Registry
################################################################################

variable "ecr_keep_images" {
  description = "Number of recent images kept in ECR (rollback targets), at least 5."
  type        = number
  default     = 30
}

################################################################################
# Monitoring
################################################################################

variable "log_retention_days" {
  description = "Retention of the application, RDS and flow log groups, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "alarm_email" {
  description = "E-mail address (name@domain) that receives the alarms (null: no subscription; subscribe something to the topic yourself)."
  type        = string
  default     = null
}

variable "alarm_thresholds" {
  description = "Alarm thresholds; omitted keys keep their defaults."
  type = object({
    alb_5xx_per_minute       = optional(number, 10)
    target_5xx_per_minute    = optional(number) # retired: infrastructure/deploy-guard.json (validation below)
    p99_latency_seconds      = optional(number, 1)
    db_cpu_percent           = optional(number, 80)
    db_free_storage_gb       = optional(number, 5)
    db_connections           = optional(number, 100)
    app_db_errors_per_minute = optional(number, 5)
    app_5xx_rate_percent     = optional(number, 5)
  })
  default = {}

  # The rollback alarm's threshold has one source, shared with the rehearsal:
  # an override here would make AWS judge releases differently.
  validation {
    condition     = var.alarm_thresholds.target_5xx_per_minute == null
    error_message = "alarm_thresholds.target_5xx_per_minute is retired: the target-5xx alarm that rolls releases back takes its numbers from infrastructure/deploy-guard.json (threshold, period, evaluation periods), shared with the rehearsal. Change them there."
  }
}

################################################################################
# Edge (optional, off by default)
################################################################################

variable "cloudfront" {
  description = "A CloudFront distribution in front of the ALB (enabled, default false); the ALB then admits only CloudFront. origin_domain_name: a name on the ALB certificate that resolves to the ALB, for HTTPS between CloudFront and the ALB (null: HTTP to the ALB DNS name); aliases: alternate domain names, which need certificate_arn, an ACM certificate in us-east-1; price_class: PriceClass_100 (default), PriceClass_200 or PriceClass_All."
  type = object({
    enabled            = optional(bool, false)
    origin_domain_name = optional(string)
    aliases            = optional(list(string), [])
    certificate_arn    = optional(string)
    price_class        = optional(string, "PriceClass_100")
  })
  default  = {}
  nullable = false
}

variable "waf" {
  description = "AWS WAF with AWS managed rule groups and a per-IP rate limit (enabled, default false; on CloudFront when it is enabled, else on the ALB), about 10 USD a month plus 0.60 USD per million requests. rate_limit_per_5_minutes: requests one IP may send in 5 minutes before WAF blocks it (default 2000, at least 10, the AWS WAF minimum)."
  type = object({
    enabled                  = optional(bool, false)
    rate_limit_per_5_minutes = optional(number, 2000)
  })
  default  = {}
  nullable = false
}

################################################################################
# CI access
################################################################################

variable "github_repository" {
  description = "GitHub repository (owner/name, no wildcards) whose workflows may assume the deploy and plan roles."
  type        = string
}

variable "github_environment" {
  description = "GitHub deployment environment (with required reviewers / branch rules) whose jobs may assume the deploy role: a plain name, no wildcards."
  type        = string
  default     = "production"
}

variable "github_deploy_branch" {
  description = "The only branch whose workflows may assume the deploy role (the OIDC subject pins it, with the workflow file: docs/cicd.md)."
  type        = string
  default     = "main"
}

variable "github_deploy_workflows" {
  description = "Workflow files under .github/workflows/ whose jobs in github_environment may assume the deploy role."
  type        = list(string)
  default     = ["ci-cd.yml", "redeploy.yml"]
}

variable "github_subject_repository" {
  description = "The repository as GitHub's OIDC subject names it (null: github_repository). Repositories on GitHub's immutable subject format use <owner>@<owner id>/<name>@<repository id> (docs/cicd.md)."
  type        = string
  default     = null
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (an account has at most one per URL; set false and pass github_oidc_provider_arn if it exists)."
  type        = bool
  default     = true
}

variable "github_oidc_provider_arn" {
  description = "Existing GitHub OIDC provider ARN, required when create_github_oidc_provider is false."
  type        = string
  default     = null
}

variable "tf_state_bucket" {
  description = "S3 bucket (name) of the Terraform state (output state_bucket of bootstrap/): the deploy role may read and lock exactly this stack's state."
  type        = string
}

variable "tf_state_key" {
  description = "Object key of this stack's state in tf_state_bucket (the key passed to terraform init)."
  type        = string
  default     = "items-api/production/terraform.tfstate"
}
