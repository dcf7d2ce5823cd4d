# Internet-facing Application Load Balancer, its target group and listeners.
#
# HTTP :80 forwards to the target group, or redirects to HTTPS when a
# certificate is configured (var.certificate_arn, or var.domain_name for a
# DNS-validated ACM certificate). HTTPS :443 uses a TLS 1.3/1.2 policy.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  create_certificate = var.domain_name != null && var.certificate_arn == null
  https_enabled      = var.certificate_arn != null || var.domain_name != null
  certificate_arn    = var.certificate_arn != null ? var.certificate_arn : (local.create_certificate ? aws_acm_certificate_validation.this[0].certificate_arn : null)
  redirect_to_https  = local.https_enabled && var.redirect_http_to_https

  logs_bucket_name = "${var.name}-alb-logs-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  logs_prefix      = "alb"
}

resource "aws_lb" "this" {
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.subnet_ids
  security_groups    = var.security_group_ids

  # Reject requests with header names that are not valid HTTP tokens instead of
  # passing them to the app (request smuggling / header injection defence).
  drop_invalid_header_fields = true
  desync_mitigation_mode     = var.desync_mitigation_mode
  idle_timeout               = var.idle_timeout
  enable_http2               = true
  enable_deletion_protection = var.deletion_protection
  xff_header_processing_mode = "append"

  dynamic "access_logs" {
    for_each = var.access_logs.enabled ? [1] : []

    content {
      bucket  = aws_s3_bucket.logs[0].id
      prefix  = local.logs_prefix
      enabled = true
    }
  }

  tags = merge(var.tags, { Name = var.name })

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "this" {
  name        = "${var.name}-app"
  port        = var.app_port
  protocol    = "HTTP"
  target_type = "instance"
  vpc_id      = var.vpc_id

  # Equal to the service's DRAIN_SECONDS (both come from one root variable):
  # the ALB stops sending new requests and waits this long for in-flight ones
  # while the container finishes its own drain.
  deregistration_delay = var.deregistration_delay_seconds

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = var.health_check_path
    matcher             = "200"
    interval            = var.health_check_interval_seconds
    timeout             = var.health_check_timeout_seconds
    healthy_threshold   = var.health_check_healthy_threshold
    unhealthy_threshold = var.health_check_unhealthy_threshold
  }

  tags = merge(var.tags, { Name = "${var.name}-app" })
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.redirect_to_https ? "redirect" : "forward"
    target_group_arn = local.redirect_to_https ? null : aws_lb_target_group.this.arn

    dynamic "redirect" {
      for_each = local.redirect_to_https ? [1] : []

      content {
        protocol    = "HTTPS"
        port        = "443"
        status_code = "HTTP_301"
      }
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  count = local.https_enabled ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = local.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

################################################################################
# Optional DNS-validated ACM certificate and alias record (var.domain_name)
################################################################################

resource "aws_acm_certificate" "this" {
  count = local.create_certificate ? 1 : 0

  domain_name       = var.domain_name
  validation_method = "DNS"

  tags = merge(var.tags, { Name = var.domain_name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  # Keyed by the configured domain (known at plan time), not by the computed
  # domain_validation_options set.
  for_each = local.create_certificate ? toset([var.domain_name]) : toset([])

  zone_id         = var.route53_zone_id
  name            = one([for o in aws_acm_certificate.this[0].domain_validation_options : o.resource_record_name if o.domain_name == each.key])
  type            = one([for o in aws_acm_certificate.this[0].domain_validation_options : o.resource_record_type if o.domain_name == each.key])
  records         = [one([for o in aws_acm_certificate.this[0].domain_validation_options : o.resource_record_value if o.domain_name == each.key])]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count = local.create_certificate ? 1 : 0

  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

resource "aws_route53_record" "alias" {
  count = var.domain_name != null && var.route53_zone_id != null && var.create_dns_record ? 1 : 0

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

################################################################################
# Access logs bucket (var.access_logs.enabled)
################################################################################

data "aws_elb_service_account" "this" {
  count = var.access_logs.enabled ? 1 : 0
}

resource "aws_s3_bucket" "logs" {
  count = var.access_logs.enabled ? 1 : 0

  bucket        = local.logs_bucket_name
  force_destroy = var.access_logs_force_destroy

  tags = merge(var.tags, { Name = local.logs_bucket_name })
}

resource "aws_s3_bucket_public_access_block" "logs" {
  count = var.access_logs.enabled ? 1 : 0

  bucket                  = aws_s3_bucket.logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  count = var.access_logs.enabled ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# ALB access logs support SSE-S3 only.
resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  count = var.access_logs.enabled ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  count = var.access_logs.enabled ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {
      prefix = "${local.logs_prefix}/"
    }

    expiration {
      days = var.access_logs.retention_days
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  count = var.access_logs.enabled ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid       = "ElbAccountWritesLogs"
        Effect    = "Allow"
        Principal = { AWS = data.aws_elb_service_account.this[0].arn }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs[0].arn}/${local.logs_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"
      },
      {
        Sid       = "LogDeliveryServiceWritesLogs"
        Effect    = "Allow"
        Principal = { Service = "logdelivery.elasticloadbalancing.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs[0].arn}/${local.logs_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"
      },
      ],
      var.deny_insecure_transport ? [
        {
          Sid       = "DenyInsecureTransport"
          Effect    = "Deny"
          Principal = "*"
          Action    = "s3:*"
          Resource  = [aws_s3_bucket.logs[0].arn, "${aws_s3_bucket.logs[0].arn}/*"]
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
    ] : [])
  })

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
