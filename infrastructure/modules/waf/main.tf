# AWS WAF web ACL: AWS managed rule groups plus a per-IP rate limit.
# scope = "REGIONAL" protects the ALB directly (associated here);
# scope = "CLOUDFRONT" must be created in us-east-1 and is attached by the
# distribution (web_acl_id).

locals {
  metric_prefix = replace(var.name, "-", "")

  managed_rule_groups = [
    for i, g in var.managed_rule_groups : merge(g, { priority = 10 + i })
  ]
}

resource "aws_wafv2_web_acl" "this" {
  name        = var.name
  description = "items-api: AWS managed rules and a per-IP rate limit"
  scope       = var.scope

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.rate_limit_per_5_minutes
        aggregate_key_type    = "IP"
        evaluation_window_sec = 300
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.metric_prefix}RateLimit"
      sampled_requests_enabled   = true
    }
  }

  dynamic "rule" {
    for_each = local.managed_rule_groups

    content {
      name     = rule.value.name
      priority = rule.value.priority

      override_action {
        none {}
      }

      statement {
        managed_rule_group_statement {
          vendor_name = "AWS"
          name        = rule.value.name

          dynamic "rule_action_override" {
            for_each = rule.value.count_only_rules

            content {
              name = rule_action_override.value

              action_to_use {
                count {}
              }
            }
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${local.metric_prefix}${rule.value.name}"
        sampled_requests_enabled   = true
      }
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.metric_prefix
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.scope == "REGIONAL" && var.associate_resource_arn != null ? 1 : 0

  resource_arn = var.associate_resource_arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}
