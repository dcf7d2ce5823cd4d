# Security group chain: internet -> ALB (80/443) -> app (app port) -> DB (5432).
# Runs the module with mocked AWS (apply, so the group IDs are known).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name              = "items-api"
  vpc_id            = "vpc-0a1b2c3d4e5f60718"
  app_port          = 8080
  https_enabled     = true
  alb_ingress_cidrs = ["0.0.0.0/0"]
}

run "chain_of_security_groups" {
  command = apply

  module {
    source = "./modules/security_groups"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_app.referenced_security_group_id == aws_security_group.app.id
    error_message = "The DB security group must admit the app security group"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_app.from_port == 5432 && aws_vpc_security_group_ingress_rule.db_from_app.to_port == 5432 && aws_vpc_security_group_ingress_rule.db_from_app.cidr_ipv4 == null
    error_message = "The DB security group must admit 5432 only, and no CIDR"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_from_alb.referenced_security_group_id == aws_security_group.alb.id && aws_vpc_security_group_ingress_rule.app_from_alb.from_port == 8080 && aws_vpc_security_group_ingress_rule.app_from_alb.to_port == 8080 && aws_vpc_security_group_ingress_rule.app_from_alb.cidr_ipv4 == null
    error_message = "The app security group must admit the app port from the ALB security group only"
  }

  # The module's only ingress rules toward db and app are the two above.
  assert {
    condition = alltrue([
      for r in values(aws_vpc_security_group_ingress_rule.alb_from_cidr) : r.security_group_id == aws_security_group.alb.id && contains([80, 443], r.from_port) && r.from_port == r.to_port
    ])
    error_message = "CIDR ingress may only open 80/443 on the ALB security group"
  }

  assert {
    condition     = join(",", sort([for r in values(aws_vpc_security_group_ingress_rule.alb_from_cidr) : tostring(r.from_port)])) == "443,80"
    error_message = "With HTTPS the ALB admits exactly 80 and 443"
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.alb_to_app.referenced_security_group_id == aws_security_group.app.id && aws_vpc_security_group_egress_rule.alb_to_app.from_port == 8080
    error_message = "The ALB may only send to the app port of the app security group"
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.app_to_db.referenced_security_group_id == aws_security_group.db.id && aws_vpc_security_group_egress_rule.app_to_db.from_port == 5432
    error_message = "The app reaches the database through the DB security group"
  }

  assert {
    condition = !anytrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.alb_from_cidr), [aws_vpc_security_group_ingress_rule.app_from_alb, aws_vpc_security_group_ingress_rule.db_from_app]) :
      r.from_port <= 22 && r.to_port >= 22
    ])
    error_message = "No rule may open SSH (22): instances are reached through SSM Session Manager"
  }
}

run "http_only_without_certificate" {
  command = plan

  module {
    source = "./modules/security_groups"
  }

  variables {
    https_enabled = false
  }

  assert {
    condition     = keys(aws_vpc_security_group_ingress_rule.alb_from_cidr) == ["80-0.0.0.0/0"]
    error_message = "Without HTTPS only port 80 is open"
  }
}

run "restricted_client_cidrs" {
  command = plan

  module {
    source = "./modules/security_groups"
  }

  variables {
    alb_ingress_cidrs = ["203.0.113.0/24", "198.51.100.0/24"]
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_from_cidr) == 4 && !contains([for r in values(aws_vpc_security_group_ingress_rule.alb_from_cidr) : r.cidr_ipv4], "0.0.0.0/0")
    error_message = "Only the configured client CIDRs reach the ALB"
  }
}

run "cloudfront_only" {
  command = plan

  module {
    source = "./modules/security_groups"
  }

  variables {
    cloudfront_prefix_list_id = "pl-4fa04526"
    cloudfront_origin_port    = 80
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_from_cidr) == 0 && keys(aws_vpc_security_group_ingress_rule.alb_from_cloudfront) == ["80"]
    error_message = "Behind CloudFront the ALB admits only the CloudFront origin-facing prefix list, on the origin port only (the list weighs ~55 rules)"
  }

  assert {
    condition     = alltrue([for r in values(aws_vpc_security_group_ingress_rule.alb_from_cloudfront) : r.prefix_list_id == "pl-4fa04526"])
    error_message = "CloudFront rules must use the managed prefix list"
  }
}

run "rejects_invalid_cidr" {
  command = plan

  module {
    source = "./modules/security_groups"
  }

  variables {
    alb_ingress_cidrs = ["everyone"]
  }

  expect_failures = [var.alb_ingress_cidrs]
}

run "rejects_an_empty_cidr_list" {
  command = plan

  module {
    source = "./modules/security_groups"
  }

  variables {
    alb_ingress_cidrs = []
  }

  expect_failures = [var.alb_ingress_cidrs]
}
