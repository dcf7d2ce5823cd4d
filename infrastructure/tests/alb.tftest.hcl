# Load balancer, listeners and target group (modules/alb).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name                         = "items-api"
  vpc_id                       = "vpc-0a1b2c3d4e5f60718"
  subnet_ids                   = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  security_group_ids           = ["sg-0bbbbbbbbbbbbbbb1"]
  app_port                     = 8080
  health_check_path            = "/healthz"
  deregistration_delay_seconds = 5
}

run "http_only_without_a_certificate" {
  command = apply

  module {
    source = "./modules/alb"
  }

  assert {
    condition     = aws_lb.this.internal == false && aws_lb.this.load_balancer_type == "application"
    error_message = "The ALB is internet-facing"
  }

  assert {
    condition     = aws_lb.this.drop_invalid_header_fields == true && aws_lb.this.desync_mitigation_mode == "strictest"
    error_message = "The ALB must drop invalid header fields and use strictest desync mitigation by default"
  }

  assert {
    condition     = aws_lb.this.access_logs[0].enabled == true && aws_lb.this.access_logs[0].bucket == aws_s3_bucket.logs[0].id
    error_message = "Access logs go to the module's bucket"
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.logs[0].block_public_acls && aws_s3_bucket_public_access_block.logs[0].restrict_public_buckets && one(aws_s3_bucket_server_side_encryption_configuration.logs[0].rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256"
    error_message = "The log bucket must be private and encrypted"
  }

  assert {
    condition     = length(aws_lb_listener.https) == 0 && aws_lb_listener.http.default_action[0].type == "forward"
    error_message = "Without a certificate there is no HTTPS listener and HTTP forwards"
  }

  assert {
    condition     = aws_lb_target_group.this.health_check[0].path == "/healthz" && aws_lb_target_group.this.health_check[0].matcher == "200" && aws_lb_target_group.this.health_check[0].port == "traffic-port"
    error_message = "The target group checks GET /healthz for 200 on the traffic port"
  }

  assert {
    condition     = aws_lb_target_group.this.deregistration_delay == "5" && aws_lb_target_group.this.port == 8080
    error_message = "Deregistration delay and port come from the inputs"
  }
}

run "https_with_a_certificate" {
  command = apply

  module {
    source = "./modules/alb"
  }

  variables {
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
  }

  assert {
    condition     = length(aws_lb_listener.https) == 1 && aws_lb_listener.https[0].port == 443 && aws_lb_listener.https[0].protocol == "HTTPS"
    error_message = "A certificate adds the HTTPS listener"
  }

  assert {
    condition     = aws_lb_listener.https[0].certificate_arn == var.certificate_arn && startswith(aws_lb_listener.https[0].ssl_policy, "ELBSecurityPolicy-TLS13")
    error_message = "The HTTPS listener uses the certificate and a TLS 1.3/1.2 policy"
  }

  assert {
    condition     = aws_lb_listener.https[0].default_action[0].target_group_arn == aws_lb_target_group.this.arn
    error_message = "HTTPS forwards to the app target group"
  }

  assert {
    condition = (
      aws_lb_listener.http.default_action[0].type == "redirect" &&
      aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS" &&
      aws_lb_listener.http.default_action[0].redirect[0].port == "443" &&
      aws_lb_listener.http.default_action[0].redirect[0].status_code == "HTTP_301"
    )
    error_message = "With a certificate, HTTP redirects permanently to HTTPS"
  }

  assert {
    condition     = length(aws_acm_certificate.this) == 0
    error_message = "An existing certificate is used as is"
  }
}

run "https_with_a_dns_validated_certificate" {
  command = apply

  module {
    source = "./modules/alb"
  }

  variables {
    domain_name     = "api.example.com"
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
  }

  assert {
    condition     = aws_acm_certificate.this[0].domain_name == "api.example.com" && aws_acm_certificate.this[0].validation_method == "DNS"
    error_message = "A domain gets a DNS-validated certificate"
  }

  assert {
    condition     = aws_lb_listener.https[0].certificate_arn == aws_acm_certificate_validation.this[0].certificate_arn && aws_lb_listener.http.default_action[0].type == "redirect"
    error_message = "The HTTPS listener waits for the validated certificate"
  }

  assert {
    condition     = aws_route53_record.alias[0].name == "api.example.com" && aws_route53_record.alias[0].alias[0].name == aws_lb.this.dns_name
    error_message = "The domain points at the ALB"
  }
}

run "rejects_readyz_as_health_check" {
  command = plan

  module {
    source = "./modules/alb"
  }

  variables {
    health_check_path            = "/readyz"
    desync_mitigation_mode       = "off"
    ssl_policy                   = "ELBSecurityPolicy-2016-08"
    deregistration_delay_seconds = 900
    app_port                     = 80
  }

  expect_failures = [
    var.health_check_path,
    var.desync_mitigation_mode,
    var.ssl_policy,
    var.deregistration_delay_seconds,
    var.app_port,
  ]
}

run "rejects_a_malformed_certificate_domain_or_log_retention" {
  command = plan

  module {
    source = "./modules/alb"
  }

  variables {
    certificate_arn = "arn:aws:iam::123456789012:server-certificate/api"
    domain_name     = "API.Example.com"
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
    access_logs     = { retention_days = 0 }
  }

  expect_failures = [var.certificate_arn, var.domain_name, var.access_logs]
}

run "rejects_a_domain_without_its_zone" {
  command = plan

  module {
    source = "./modules/alb"
  }

  variables {
    domain_name = "api.example.com"
  }

  expect_failures = [var.domain_name]
}
