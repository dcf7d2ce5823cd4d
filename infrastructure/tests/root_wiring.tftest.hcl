# The root module wired together, applied against mocked AWS.

mock_provider "aws" {
  source = "./tests/mocks"
}

mock_provider "aws" {
  alias  = "us_east_1"
  source = "./tests/mocks"
}

variables {
  image_tag         = "0123456789abcdef0123456789abcdef01234567"
  github_repository = "example-org/items-api"
  tf_state_bucket   = "items-api-tfstate-123456789012-eu-west-1"
  # Ephemeral: an apply run must set it (terraform test passes it to plan and apply).
  api_keys = ["test-api-key-7d1e0c5b9a3f4e2d8c6b0a9f7e5d3c1b"]
}

# The defaults but a certificate, the least a stack needs (HTTPS is required).
run "default_stack" {
  command = apply

  variables {
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
  }

  assert {
    condition     = output.alb_dns_name == "items-api-1234567890.eu-west-1.elb.amazonaws.com" && output.service_url == "https://items-api-1234567890.eu-west-1.elb.amazonaws.com"
    error_message = "alb_dns_name and service_url come from the ALB; the URL is https"
  }

  assert {
    condition     = output.asg_name == "items-api-app" && output.ecr_repository_url == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api" && output.log_group_name == "/items-api/app"
    error_message = "asg_name, ecr_repository_url and log_group_name are exported"
  }

  assert {
    condition     = startswith(output.api_keys_secret_arn, "arn:aws:secretsmanager:") && startswith(output.db_master_secret_arn, "arn:aws:secretsmanager:") && startswith(output.deploy_role_arn, "arn:aws:iam::")
    error_message = "The secret ARNs and the deploy role ARN are exported"
  }

  # The instance role reads the two secrets the stack created, and only those.
  assert {
    condition = toset(flatten([
      for s in jsondecode(module.compute.instance_role_policy).Statement : s.Resource if contains(flatten([s.Action]), "secretsmanager:GetSecretValue")
    ])) == toset([output.api_keys_secret_arn, output.db_master_secret_arn])
    error_message = "The instance role must read exactly the API keys secret and the RDS master secret"
  }

  # One source for the rollback guard: the alarm the refresh watches is
  # deploy-guard.json's, and the refresh bakes for its window plus a period.
  assert {
    condition = (
      module.monitoring.alarm_names.target_5xx == "items-api-target-5xx" &&
      contains(output.instance_refresh_preferences.AlarmSpecification.Alarms, "items-api-target-5xx") &&
      output.instance_refresh_preferences.BakeTime == local.deploy_guard.period_seconds * (local.deploy_guard.evaluation_periods + 1)
    )
    error_message = "The refresh must roll back on the deploy-guard.json alarm and bake for its evaluation window plus one period"
  }

  # One number for draining: target group deregistration delay = DRAIN_SECONDS.
  assert {
    condition     = module.user_data.environment.DRAIN_SECONDS == tostring(local.lb_settings.deregistration_delay_seconds)
    error_message = "DRAIN_SECONDS must come from lb-settings.json like the deregistration delay"
  }

  assert {
    condition     = module.user_data.stop_timeout_seconds > local.lb_settings.deregistration_delay_seconds + local.lb_settings.shutdown_timeout_seconds
    error_message = "docker stop must wait longer than DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS"
  }

  assert {
    condition     = module.user_data.environment.IMAGE == "${output.ecr_repository_url}:${var.image_tag}" && output.image == module.user_data.environment.IMAGE
    error_message = "Instances run the ECR image by its immutable tag"
  }

  assert {
    condition     = module.user_data.environment.DB_SECRET_ARN == output.db_master_secret_arn && module.user_data.environment.API_KEYS_SECRET_ARN == output.api_keys_secret_arn && module.user_data.environment.DB_NAME == "items"
    error_message = "The bootstrap reads the stack's own secrets and database"
  }

  assert {
    condition     = module.user_data.environment.LOG_GROUP == output.log_group_name && module.user_data.environment.APP_PORT == tostring(local.lb_settings.app_port)
    error_message = "Logs go to the stack's log group; the container listens on the target port"
  }

  assert {
    condition     = !strcontains(module.user_data.rendered, "test-api-key-7d1e0c5b9a3f4e2d8c6b0a9f7e5d3c1b")
    error_message = "The API key must not reach the launch template"
  }

  assert {
    condition     = length(module.user_data.rendered) < 16384
    error_message = "EC2 user data is limited to 16 KB"
  }

  assert {
    condition     = strcontains(module.user_data.rendered, "lifecycle-action-result") && strcontains(module.user_data.rendered, "/readyz")
    error_message = "The bootstrap signals readiness from /readyz"
  }

  # ALB: health on /healthz (never the DB-dependent /readyz); HTTPS.
  assert {
    condition     = local.lb_settings.health_check_path == "/healthz" && module.alb.https_enabled && module.alb.https_listener_arn != null
    error_message = "The default stack has an HTTPS listener; health checks use /healthz"
  }

  # The deploy role's trust is written for the repository's subject
  # customization (github-oidc-subject.json, which the setup script applies).
  assert {
    condition = (
      jsondecode(file("github-oidc-subject.json")).use_default == false &&
      tolist(module.ci.subject_claim_keys) == tolist(jsondecode(file("github-oidc-subject.json")).include_claim_keys) &&
      tolist(module.ci.deploy_subjects) == tolist([
        "repo:example-org/items-api:environment:production:job_workflow_ref:example-org/items-api/.github/workflows/ci-cd.yml@refs/heads/main",
        "repo:example-org/items-api:environment:production:job_workflow_ref:example-org/items-api/.github/workflows/redeploy.yml@refs/heads/main",
      ])
    )
    error_message = "The deploy role trusts the deploy workflows on main, in the subject format github-oidc-subject.json customizes"
  }

  # lb-settings.json's max_header_bytes describes the ALB's fixed 64 KiB header limit.
  assert {
    condition     = local.lb_settings.max_header_bytes == 65536
    error_message = "max_header_bytes in lb-settings.json must stay at the ALB's fixed limit (64 KiB)"
  }

  assert {
    condition     = length(module.cdn) == 0 && length(module.waf_regional) == 0 && length(module.waf_cloudfront) == 0 && output.cloudfront_domain_name == null
    error_message = "CloudFront and WAF are opt-in"
  }

  # Subnet tiers: instances in the app subnets, the database in the
  # database subnets (the mock gives every subnet its own ID).
  assert {
    condition     = toset(module.compute.subnet_ids) == toset(module.network.app_subnet_ids) && length(module.network.app_subnet_ids) == 2
    error_message = "The Auto Scaling group must launch into module.network's app subnets"
  }

  assert {
    condition     = toset(module.database.subnet_ids) == toset(module.network.database_subnet_ids) && length(setintersection(toset(module.database.subnet_ids), toset(module.network.app_subnet_ids))) == 0
    error_message = "RDS must use module.network's database subnets (and none of the app subnets)"
  }

  # Production defaults when nothing is overridden.
  assert {
    condition     = module.database.multi_az == true && module.database.deletion_protection == true && var.db_multi_az && var.db_deletion_protection
    error_message = "The database defaults to Multi-AZ with deletion protection"
  }

  # The workload boundary's RDS secret condition names the database the
  # stack actually creates.
  assert {
    condition = anytrue([
      for s in jsondecode(module.ci.policies.boundary).Statement :
      try(s.Condition.StringEquals["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"], null) == "arn:aws:rds:eu-west-1:123456789012:db:${module.database.identifier}"
    ]) && module.database.identifier == "items-api-db"
    error_message = "The boundary must scope the RDS master secret to this stack's database identifier"
  }

  # Edge features off by default: the deploy role has no edge permissions.
  assert {
    condition     = length([for s in jsondecode(module.ci.policies.apply_platform).Statement : s if contains(["AcmRequestTaggedCertificate", "AcmOwnCertificate", "DnsRecordsInTheZone", "EndpointPrivateDns", "CloudFront", "Waf", "OptionalEdge"], try(s.Sid, ""))]) == 0
    error_message = "By default the deploy role gets no ACM, Route 53, CloudFront or WAF permissions"
  }

  assert {
    condition     = output.instance_refresh_preferences.AutoRollback == true && output.instance_refresh_desired_configuration.LaunchTemplate.Version == tostring(output.launch_template_version) && output.instance_refresh_desired_configuration.LaunchTemplate.LaunchTemplateId == output.launch_template_id
    error_message = "The pipeline gets rollback-capable refresh settings for this apply's launch template version"
  }
}

run "https_and_waf_on_the_alb" {
  command = apply

  variables {
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    waf             = { enabled = true }
  }

  assert {
    condition     = module.alb.https_enabled && module.alb.https_listener_arn != null && output.service_url == "https://items-api-1234567890.eu-west-1.elb.amazonaws.com"
    error_message = "A certificate enables HTTPS"
  }

  assert {
    condition     = length(module.waf_regional) == 1 && length(module.waf_cloudfront) == 0
    error_message = "Without CloudFront, WAF protects the ALB (REGIONAL scope)"
  }

  assert {
    condition     = toset([for s in jsondecode(module.ci.policies.apply_platform).Statement : s.Sid if contains(["AcmRequestTaggedCertificate", "AcmOwnCertificate", "DnsRecordsInTheZone", "EndpointPrivateDns", "CloudFront", "Waf"], try(s.Sid, ""))]) == toset(["Waf"])
    error_message = "A given certificate and a regional WAF add only the WAF permissions to the deploy role"
  }
}

run "edge_with_cloudfront_and_waf" {
  command = apply

  # CloudFront reaches the ALB over HTTP without cloudfront.origin_domain_name:
  # an explicit opt-out.
  variables {
    cloudfront       = { enabled = true }
    waf              = { enabled = true }
    allow_plain_http = true
  }

  assert {
    condition = flatten([
      for s in jsondecode(module.ci.policies.apply_platform).Statement : s.Resource if s.Sid == "CloudFront"
    ]) == [module.cdn[0].distribution_arn]
    error_message = "The deploy role may update exactly the stack's distribution"
  }

  assert {
    condition     = length(module.cdn) == 1 && length(module.waf_cloudfront) == 1 && length(module.waf_regional) == 0
    error_message = "With CloudFront, WAF is attached to the distribution (CLOUDFRONT scope)"
  }

  assert {
    condition     = output.service_url == "https://d111111abcdef8.cloudfront.net" && output.cloudfront_domain_name == "d111111abcdef8.cloudfront.net"
    error_message = "Clients use the distribution"
  }

  assert {
    condition     = toset([for s in jsondecode(module.ci.policies.apply_platform).Statement : s.Sid if contains(["AcmRequestTaggedCertificate", "AcmOwnCertificate", "DnsRecordsInTheZone", "EndpointPrivateDns", "CloudFront", "Waf"], try(s.Sid, ""))]) == toset(["CloudFront", "Waf"])
    error_message = "CloudFront and WAF add exactly their permissions to the deploy role"
  }
}

run "certificate_and_dns_in_a_zone" {
  command = apply

  variables {
    domain_name     = "api.example.com"
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
  }

  assert {
    condition     = toset([for s in jsondecode(module.ci.policies.apply_platform).Statement : s.Sid if contains(["AcmRequestTaggedCertificate", "AcmOwnCertificate", "DnsRecordsInTheZone", "EndpointPrivateDns", "CloudFront", "Waf"], try(s.Sid, ""))]) == toset(["AcmRequestTaggedCertificate", "AcmOwnCertificate", "DnsRecordsInTheZone"])
    error_message = "A DNS-validated certificate adds the ACM and Route 53 permissions"
  }

  assert {
    condition = flatten([
      for s in jsondecode(module.ci.policies.apply_platform).Statement : s.Resource if contains(flatten([try(s.Action, [])]), "route53:ChangeResourceRecordSets")
    ]) == ["arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"]
    error_message = "The deploy role may change records only in route53_zone_id"
  }

  assert {
    condition = flatten([
      for s in jsondecode(module.ci.policies.apply_platform).Statement : s.Condition["ForAllValues:StringEquals"]["acm:DomainNames"] if s.Sid == "AcmRequestTaggedCertificate"
    ]) == ["api.example.com"] && local.default_tags.Service == var.name
    error_message = "The deploy role may request a certificate only for domain_name, tagged Service = name (the provider's default tag)"
  }
}

run "plain_http_opted_out" {
  command = plan

  variables {
    allow_plain_http = true
  }

  assert {
    condition     = output.service_url == "http://items-api-1234567890.eu-west-1.elb.amazonaws.com" && !module.alb.https_enabled && module.alb.https_listener_arn == null
    error_message = "With the explicit opt-out and no certificate, the ALB serves plain HTTP"
  }
}

run "interface_endpoints_only_with_the_stack_vpc" {
  command = apply

  variables {
    certificate_arn            = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    enable_interface_endpoints = true
  }

  assert {
    condition = flatten([
      for s in jsondecode(module.ci.policies.apply_platform).Statement : s.Condition["ForAllValues:StringEquals"]["route53:VPCs"] if s.Sid == "EndpointPrivateDns"
    ]) == ["VPCId=${module.network.vpc_id},VPCRegion=eu-west-1"]
    error_message = "Hosted zone associations are limited to the stack's VPC"
  }
}
