# Security groups, chained so each tier admits only the tier in front of it:
#
#   internet (var.alb_ingress_cidrs or the CloudFront prefix list) --80/443--> alb
#   alb --app_port--> app --5432--> db
#
# No SSH rule exists anywhere: instances are reached with SSM Session Manager.
# Rules are separate aws_vpc_security_group_*_rule resources (one rule each,
# taggable, no in-place rewrite of the whole rule set).

locals {
  alb_ports = var.https_enabled ? [80, 443] : [80]

  alb_cidr_rules = var.cloudfront_prefix_list_id == null ? {
    for pair in setproduct(local.alb_ports, var.alb_ingress_cidrs) : "${pair[0]}-${pair[1]}" => { port = pair[0], cidr = pair[1] }
  } : {}

  # The CloudFront origin-facing prefix list weighs about 55 rules against the
  # security group's rule quota (60 by default): open only the one port
  # CloudFront connects to.
  alb_prefix_list_rules = var.cloudfront_prefix_list_id != null ? { tostring(var.cloudfront_origin_port) = var.cloudfront_origin_port } : {}
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "ALB: HTTP/HTTPS from the allowed clients, out to the app port only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_security_group" "app" {
  name        = "${var.name}-app"
  description = "App instances: app port from the ALB only; out to HTTPS and the database"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-app" })
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "RDS: PostgreSQL from the app instances only; no egress"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-db" })
}

################################################################################
# ALB
################################################################################

resource "aws_vpc_security_group_ingress_rule" "alb_from_cidr" {
  for_each = local.alb_cidr_rules

  security_group_id = aws_security_group.alb.id
  description       = "HTTP${each.value.port == 443 ? "S" : ""} from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_cloudfront" {
  for_each = local.alb_prefix_list_rules

  security_group_id = aws_security_group.alb.id
  description       = "HTTP${each.value == 443 ? "S" : ""} from CloudFront origin-facing addresses only"
  ip_protocol       = "tcp"
  from_port         = each.value
  to_port           = each.value
  prefix_list_id    = var.cloudfront_prefix_list_id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the app instances (traffic and health checks)"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.app.id

  tags = var.tags
}

################################################################################
# App
################################################################################

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "App port from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.alb.id

  tags = var.tags
}

# HTTPS out: ECR, Secrets Manager, CloudWatch Logs, SSM, Auto Scaling (through
# NAT or the interface endpoints), dnf repositories and the RDS CA bundle.
resource "aws_vpc_security_group_egress_rule" "app_https" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS to AWS APIs, package repositories and the RDS trust store"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "app_to_db" {
  security_group_id            = aws_security_group.app.id
  description                  = "PostgreSQL to the database"
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
  referenced_security_group_id = aws_security_group.db.id

  tags = var.tags
}

################################################################################
# Database
################################################################################

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the app instances only"
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
  referenced_security_group_id = aws_security_group.app.id

  tags = var.tags
}
