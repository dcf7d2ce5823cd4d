# Network, secrets, registry, WAF and CDN modules (monitoring: monitoring.tftest.hcl).

mock_provider "aws" {
  source = "./tests/mocks"
}

run "network_per_az_nat_and_isolated_database_tier" {
  command = apply

  module {
    source = "./modules/network"
  }

  variables {
    name = "items-api"
  }

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.app) == 2 && length(aws_subnet.database) == 2
    error_message = "Two AZs with three subnet tiers each"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 2 && alltrue([for i, n in aws_nat_gateway.this : n.subnet_id == aws_subnet.public[i].id])
    error_message = "One NAT gateway per AZ, in the public subnets"
  }

  assert {
    condition     = alltrue([for i, r in aws_route.app_nat : r.nat_gateway_id == aws_nat_gateway.this[i].id && r.route_table_id == aws_route_table.app[i].id])
    error_message = "Each AZ's app subnets leave through their own AZ's NAT gateway"
  }

  assert {
    condition     = alltrue([for a in aws_route_table_association.database : a.route_table_id == aws_route_table.database.id]) && length(aws_route_table.database.route) == 0
    error_message = "The database subnets have no route out of the VPC"
  }

  assert {
    condition     = alltrue([for s in concat(aws_subnet.public, aws_subnet.app, aws_subnet.database) : !s.map_public_ip_on_launch])
    error_message = "No subnet hands out public IPs"
  }

  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && toset(aws_vpc_endpoint.s3.route_table_ids) == toset(aws_route_table.app[*].id)
    error_message = "The app subnets reach S3 (ECR layers) through the gateway endpoint"
  }

  assert {
    condition     = length(aws_vpc_endpoint.interface) == 0 && length(aws_flow_log.this) == 1
    error_message = "Interface endpoints are opt-in; flow logs are on"
  }

  # Confused deputy guard on the flow-logs role's trust.
  assert {
    condition = (
      jsondecode(aws_iam_role.flow_logs[0].assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012" &&
      jsondecode(aws_iam_role.flow_logs[0].assume_role_policy).Statement[0].Condition.ArnLike["aws:SourceArn"] == "arn:aws:ec2:eu-west-1:123456789012:vpc-flow-log/*"
    )
    error_message = "VPC Flow Logs may assume the role only for this account's flow logs (aws:SourceAccount, aws:SourceArn)"
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group has no rules"
  }
}

run "network_single_nat_and_endpoints" {
  command = plan

  module {
    source = "./modules/network"
  }

  variables {
    name                       = "items-api"
    az_count                   = 3
    one_nat_gateway_per_az     = false
    enable_interface_endpoints = true
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_subnet.app) == 3
    error_message = "one_nat_gateway_per_az = false shares one NAT gateway"
  }

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["ecr.api", "ecr.dkr", "secretsmanager", "logs", "ssm", "ssmmessages", "ec2messages", "autoscaling"])
    error_message = "The interface endpoints cover every AWS API the instances call"
  }
}

run "api_keys_secret_is_write_only" {
  command = apply

  module {
    source = "./modules/secrets"
  }

  variables {
    name     = "items-api"
    api_keys = ["test-api-key-7d1e0c5b9a3f4e2d8c6b0a9f7e5d3c1b"]
  }

  assert {
    condition     = aws_secretsmanager_secret.api_keys.name == "items-api/api-keys"
    error_message = "The secret is named <name>/api-keys"
  }

  assert {
    condition     = aws_secretsmanager_secret_version.api_keys.secret_string_wo == null && aws_secretsmanager_secret_version.api_keys.secret_string_wo_version == 1
    error_message = "The value is write-only: never in state, written when the version changes"
  }

  assert {
    condition     = aws_secretsmanager_secret_version.api_keys.secret_string == null || aws_secretsmanager_secret_version.api_keys.secret_string == ""
    error_message = "The plain secret_string argument must stay unused"
  }
}

run "registry_is_immutable" {
  command = apply

  module {
    source = "./modules/registry"
  }

  variables {
    name = "items-api"
  }

  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push
    error_message = "Tags are immutable and images are scanned on push"
  }

  assert {
    condition     = length(jsondecode(aws_ecr_lifecycle_policy.this.policy).rules) == 2 && jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[1].selection.countNumber == 30
    error_message = "Untagged images expire and the 30 most recent stay"
  }

  assert {
    condition     = !aws_ecr_repository.this.force_delete
    error_message = "The repository is not deleted with its images by default"
  }
}

# The shared repository (bootstrap/): other accounts' environments may pull, nothing else.
run "registry_cross_account_pull" {
  command = apply

  module {
    source = "./modules/registry"
  }

  variables {
    name             = "items-api"
    pull_account_ids = ["210987654321"]
  }

  assert {
    condition = (
      jsondecode(aws_ecr_repository_policy.this[0].policy).Statement[0].Principal.AWS == ["arn:aws:iam::210987654321:root"] &&
      alltrue([for a in jsondecode(aws_ecr_repository_policy.this[0].policy).Statement[0].Action : contains(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability", "ecr:DescribeImages"], a)])
    )
    error_message = "pull_account_ids get read-only pulls, nothing else"
  }
}

run "network_rejects_a_small_vpc_or_a_single_az" {
  command = plan

  module {
    source = "./modules/network"
  }

  variables {
    name     = "items-api"
    vpc_cidr = "10.0.0.0/24"
    az_count = 1
  }

  expect_failures = [var.vpc_cidr, var.az_count]
}

run "registry_keeps_rollback_targets" {
  command = plan

  module {
    source = "./modules/registry"
  }

  variables {
    name        = "items-api"
    keep_images = 3
  }

  expect_failures = [var.keep_images]
}

run "waf_rejects_a_rate_limit_below_the_minimum" {
  command = plan

  module {
    source = "./modules/waf"
  }

  variables {
    name                     = "items-api"
    scope                    = "REGIONAL"
    rate_limit_per_5_minutes = 5
  }

  expect_failures = [var.rate_limit_per_5_minutes]
}

run "secrets_rejects_weak_keys_and_a_short_recovery_window" {
  command = plan

  module {
    source = "./modules/secrets"
  }

  variables {
    name                 = "items-api"
    api_keys             = ["short", "has a space and is long enough to pass the length rule"]
    api_keys_version     = 0
    recovery_window_days = 3
  }

  expect_failures = [var.api_keys, var.api_keys_version, var.recovery_window_days]
}

run "cdn_rejects_aliases_without_a_us_east_1_certificate" {
  command = plan

  module {
    source = "./modules/cdn"
  }

  variables {
    name                = "items-api"
    origin_domain_name  = "items-api-123456789.eu-west-1.elb.amazonaws.com"
    aliases             = ["api.example.com"]
    acm_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    price_class         = "PriceClass_Cheap"
  }

  expect_failures = [var.acm_certificate_arn, var.price_class]
}
