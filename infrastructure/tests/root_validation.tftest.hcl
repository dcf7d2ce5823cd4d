# Variable validations of the root module reject bad input (plan only).
#
# Only the rules that live in the root are here: the ones on a single module's
# input live in that module's variables.tf and are tested with the module
# (alb, compute, database, github_oidc, monitoring, platform, security_groups,
# user_data .tftest.hcl); a root plan with such a value fails with the module's message
# (terraform test cannot expect a failure inside a child module).

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
  # HTTPS, the default requirement (the runs below test other rules).
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
}

# HTTPS by default: without a certificate, the plan is refused unless the
# operator opts out explicitly.
run "rejects_plain_http_by_default" {
  command = plan

  variables {
    certificate_arn = null
  }

  expect_failures = [var.allow_plain_http]
}

run "rejects_cloudfront_over_http_to_the_alb" {
  command = plan

  variables {
    cloudfront = { enabled = true }
  }

  expect_failures = [var.allow_plain_http]
}

run "accepts_a_dns_validated_certificate" {
  command = plan

  variables {
    certificate_arn = null
    domain_name     = "api.example.com"
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
  }

  assert {
    condition     = output.service_url == "https://api.example.com"
    error_message = "A domain serves HTTPS"
  }
}

run "accepts_cloudfront_over_https_to_the_alb" {
  command = plan

  variables {
    cloudfront = { enabled = true, origin_domain_name = "origin.example.com" }
  }
}

run "accepts_plain_http_only_when_opted_out" {
  command = plan

  variables {
    certificate_arn  = null
    allow_plain_http = true
  }

  assert {
    condition     = !module.alb.https_enabled
    error_message = "allow_plain_http = true lets a stack without a certificate through"
  }
}

run "rejects_empty_image_tag" {
  command = plan

  variables {
    image_tag = ""
  }

  expect_failures = [var.image_tag]
}

run "rejects_latest_image_tag" {
  command = plan

  variables {
    image_tag = "latest"
  }

  expect_failures = [var.image_tag]
}

run "rejects_a_bad_digest_or_no_image" {
  command = plan

  variables {
    image_tag    = null
    image_digest = "sha256:ABC"
  }

  expect_failures = [var.image_digest]
}

run "requires_a_tag_or_a_digest" {
  command = plan

  variables {
    image_tag = null
  }

  expect_failures = [var.image_tag]
}

run "rejects_unsafe_settings" {
  command = plan

  variables {
    name               = "Items_API"
    log_retention_days = 10
    ami_ssm_parameter  = "/aws/service/ami-windows-latest/Windows_Server-2022"
  }

  expect_failures = [
    var.name,
    var.log_retention_days,
    var.ami_ssm_parameter,
  ]
}

run "rejects_pool_that_exhausts_the_database" {
  command = plan

  variables {
    asg_max_size = 60
    db_pool_size = 20
  }

  expect_failures = [var.asg_max_size]
}

run "rejects_pool_beyond_the_default_class_connections" {
  command = plan

  # db.t4g.small: about 190 connections. 10 instances, up to 15 during a
  # refresh at 150 %, x 12 = 180, + 15 reserved > 190 (the old rule, 400,
  # let this through).
  variables {
    asg_max_size = 10
    db_pool_size = 12
  }

  expect_failures = [var.asg_max_size]
}

run "accepts_a_larger_pool_on_a_larger_class" {
  command = plan

  variables {
    asg_max_size      = 10
    db_pool_size      = 12
    db_instance_class = "db.m6g.large"
  }
}

run "accepts_an_explicit_max_connections" {
  command = plan

  variables {
    asg_max_size       = 10
    db_pool_size       = 12
    db_instance_class  = "db.x2g.large"
    db_max_connections = 1000
  }
}

run "rejects_an_unknown_class_without_max_connections" {
  command = plan

  # Unknown classes assume 80 connections: 9 x 8 + 15 = 87.
  variables {
    db_instance_class = "db.x2g.large"
    asg_max_size      = 6
    db_pool_size      = 8
  }

  expect_failures = [var.asg_max_size]
}

# The rollback alarm's numbers live in deploy-guard.json only.
run "rejects_a_target_5xx_threshold_override" {
  command = plan

  variables {
    alarm_thresholds = { target_5xx_per_minute = 50 }
  }

  expect_failures = [var.alarm_thresholds]
}
