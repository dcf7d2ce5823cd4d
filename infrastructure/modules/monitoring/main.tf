# Monitoring: the application log group, an SNS topic for alarms, alarms on the
# load balancer, the database, the Auto Scaling group and the service's own
# metrics, and a dashboard.
#
# The service's own metrics arrive as CloudWatch Embedded Metric Format lines
# on stdout (namespace ItemsApi, dimension Service=items-api: Requests,
# Errors5xx, DbErrors, Latency, DbPoolWaiting). The Docker awslogs driver ships
# them to the log group and CloudWatch extracts the metrics; no agent needed.
# Two log metric filters add counters derived from the JSON log lines too.

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name

  alb_dimensions = { LoadBalancer = var.alb_arn_suffix }
  tg_dimensions  = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  db_dimensions  = { DBInstanceIdentifier = var.db_instance_identifier }
  app_dimensions = { Service = var.service_dimension }

  alarm_actions = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_log_group" "app" {
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_cloudwatch_log_metric_filter" "db_error_lines" {
  name           = "${var.name}-database-error-lines"
  log_group_name = aws_cloudwatch_log_group.app.name
  pattern        = "{ $.message = \"database error\" }"

  metric_transformation {
    name          = "DatabaseErrorLogLines"
    namespace     = "${var.metrics_namespace}/Logs"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_log_metric_filter" "http_5xx_lines" {
  name           = "${var.name}-http-5xx-lines"
  log_group_name = aws_cloudwatch_log_group.app.name
  pattern        = "{ $.message = \"request\" && $.status >= 500 }"

  metric_transformation {
    name          = "Http5xxLogLines"
    namespace     = "${var.metrics_namespace}/Logs"
    value         = "1"
    default_value = "0"
  }
}

# No SSE with the AWS managed key alias/aws/sns: CloudWatch alarms cannot
# publish to topics encrypted with it (its key policy cannot be changed).
resource "aws_sns_topic" "alarms" {
  name = "${var.name}-alarms"

  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email != null ? 1 : 0

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

################################################################################
# Alarms: one entry per alarm, one resource for them all. The key is the
# purpose (output alarm_names); the alarm name is <name>-<suffix>, which
# deploy_guard_alarm_names, the instance refresh and the runbooks refer to.
# Attributes left out of an entry are null (not sent).
################################################################################

locals {
  alarms = {
    # Load balancer and targets
    alb_5xx = {
      suffix              = "alb-5xx"
      description         = "The load balancer itself answers 5xx (no healthy target, target connection errors)."
      namespace           = "AWS/ApplicationELB"
      metric_name         = "HTTPCode_ELB_5XX_Count"
      dimensions          = local.alb_dimensions
      statistic           = "Sum"
      period              = 60
      evaluation_periods  = 5
      datapoints_to_alarm = 3
      threshold           = var.alarm_thresholds.alb_5xx_per_minute
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "notBreaching"
    }
    # The deploy guard: its numbers are deploy-guard.json's (var.deploy_guard),
    # the one source shared with the rehearsal's 5xx guard (rehearsal/), so a
    # release is judged by the same rule on both.
    target_5xx = {
      suffix              = "target-5xx"
      description         = "The service answers 5xx: more than ${var.deploy_guard.threshold} per ${var.deploy_guard.period_seconds} s in ${var.deploy_guard.datapoints_to_alarm} of ${var.deploy_guard.evaluation_periods} periods (infrastructure/deploy-guard.json). Also rolls back an instance refresh."
      namespace           = "AWS/ApplicationELB"
      metric_name         = var.deploy_guard.metric
      dimensions          = local.tg_dimensions
      statistic           = var.deploy_guard.statistic
      period              = var.deploy_guard.period_seconds
      evaluation_periods  = var.deploy_guard.evaluation_periods
      datapoints_to_alarm = var.deploy_guard.datapoints_to_alarm
      threshold           = var.deploy_guard.threshold
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "notBreaching"
    }
    unhealthy_hosts = {
      suffix              = "unhealthy-hosts"
      description         = "At least one target fails the /healthz check. Also rolls back an instance refresh."
      namespace           = "AWS/ApplicationELB"
      metric_name         = "UnHealthyHostCount"
      dimensions          = local.tg_dimensions
      statistic           = "Maximum"
      period              = 60
      evaluation_periods  = 3
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "notBreaching"
    }
    p99_latency = {
      suffix              = "p99-latency"
      description         = "p99 target response time above ${var.alarm_thresholds.p99_latency_seconds}s."
      namespace           = "AWS/ApplicationELB"
      metric_name         = "TargetResponseTime"
      dimensions          = local.tg_dimensions
      extended_statistic  = "p99"
      period              = 60
      evaluation_periods  = 5
      datapoints_to_alarm = 4
      threshold           = var.alarm_thresholds.p99_latency_seconds
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "notBreaching"
    }

    # Auto Scaling group
    in_service = {
      suffix              = "in-service-instances"
      description         = "Fewer in-service instances than the group's minimum (${var.asg_min_size})."
      namespace           = "AWS/AutoScaling"
      metric_name         = "GroupInServiceInstances"
      dimensions          = { AutoScalingGroupName = var.asg_name }
      statistic           = "Minimum"
      period              = 60
      evaluation_periods  = 5
      threshold           = var.asg_min_size
      comparison_operator = "LessThanThreshold"
      treat_missing_data  = "breaching"
    }

    # Database
    db_cpu = {
      suffix              = "db-cpu"
      description         = "Database CPU above ${var.alarm_thresholds.db_cpu_percent}% for 10 minutes."
      namespace           = "AWS/RDS"
      metric_name         = "CPUUtilization"
      dimensions          = local.db_dimensions
      statistic           = "Average"
      period              = 300
      evaluation_periods  = 2
      threshold           = var.alarm_thresholds.db_cpu_percent
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "missing"
    }
    db_free_storage = {
      suffix              = "db-free-storage"
      description         = "Less than ${var.alarm_thresholds.db_free_storage_gb} GiB of database storage left."
      namespace           = "AWS/RDS"
      metric_name         = "FreeStorageSpace"
      dimensions          = local.db_dimensions
      statistic           = "Minimum"
      period              = 300
      evaluation_periods  = 1
      threshold           = var.alarm_thresholds.db_free_storage_gb * 1024 * 1024 * 1024
      comparison_operator = "LessThanThreshold"
      treat_missing_data  = "missing"
    }
    db_connections = {
      suffix              = "db-connections"
      description         = "More than ${var.alarm_thresholds.db_connections} database connections (pool size x instances is the expected ceiling)."
      namespace           = "AWS/RDS"
      metric_name         = "DatabaseConnections"
      dimensions          = local.db_dimensions
      statistic           = "Maximum"
      period              = 300
      evaluation_periods  = 2
      threshold           = var.alarm_thresholds.db_connections
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "missing"
    }

    # The service's own (EMF) metrics
    app_db_errors = {
      suffix              = "app-db-errors"
      description         = "The service reports database errors (EMF metric ${var.metrics_namespace}/DbErrors)."
      namespace           = var.metrics_namespace
      metric_name         = "DbErrors"
      dimensions          = local.app_dimensions
      statistic           = "Sum"
      period              = 60
      evaluation_periods  = 5
      datapoints_to_alarm = 3
      threshold           = var.alarm_thresholds.app_db_errors_per_minute
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "notBreaching"
    }
    # A metric math alarm: the rate expression over two EMF metrics.
    app_5xx_rate = {
      suffix              = "app-5xx-rate"
      description         = "More than ${var.alarm_thresholds.app_5xx_rate_percent}% of requests end in 5xx (EMF metrics Errors5xx / Requests)."
      evaluation_periods  = 5
      datapoints_to_alarm = 3
      threshold           = var.alarm_thresholds.app_5xx_rate_percent
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "notBreaching"
      expression = {
        id         = "rate"
        expression = "IF(requests > 0, 100 * errors / requests, 0)"
        label      = "5xx rate (%)"
      }
      metrics = {
        errors   = { metric_name = "Errors5xx", dimensions = local.app_dimensions, stat = "Sum", period = 60 }
        requests = { metric_name = "Requests", dimensions = local.app_dimensions, stat = "Sum", period = 60 }
      }
    }
  }

  # The alarms that roll back an instance refresh (outputs deploy_guard_*).
  deploy_guard_keys = ["target_5xx", "unhealthy_hosts"]

  # The dashboard's alarm widget lists them in this order.
  alarm_order = ["alb_5xx", "target_5xx", "unhealthy_hosts", "p99_latency", "in_service", "db_cpu", "db_free_storage", "db_connections", "app_db_errors", "app_5xx_rate"]
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.value.suffix}"
  alarm_description   = each.value.description
  namespace           = try(each.value.namespace, null)
  metric_name         = try(each.value.metric_name, null)
  dimensions          = try(each.value.dimensions, null)
  statistic           = try(each.value.statistic, null)
  extended_statistic  = try(each.value.extended_statistic, null)
  period              = try(each.value.period, null)
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = try(each.value.datapoints_to_alarm, null)
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison_operator
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  dynamic "metric_query" {
    for_each = try([each.value.expression], [])

    content {
      id          = metric_query.value.id
      expression  = metric_query.value.expression
      label       = metric_query.value.label
      return_data = true
    }
  }

  dynamic "metric_query" {
    for_each = try(each.value.metrics, {})

    content {
      id = metric_query.key

      metric {
        namespace   = var.metrics_namespace
        metric_name = metric_query.value.metric_name
        dimensions  = metric_query.value.dimensions
        stat        = metric_query.value.stat
        period      = metric_query.value.period
      }
    }
  }

  tags = var.tags
}

# The alarms were one resource each; these keep an existing deployment's
# alarms (no destroy and re-create, no gap in the rollback guard).
moved {
  from = aws_cloudwatch_metric_alarm.alb_5xx
  to   = aws_cloudwatch_metric_alarm.this["alb_5xx"]
}

moved {
  from = aws_cloudwatch_metric_alarm.target_5xx
  to   = aws_cloudwatch_metric_alarm.this["target_5xx"]
}

moved {
  from = aws_cloudwatch_metric_alarm.unhealthy_hosts
  to   = aws_cloudwatch_metric_alarm.this["unhealthy_hosts"]
}

moved {
  from = aws_cloudwatch_metric_alarm.p99_latency
  to   = aws_cloudwatch_metric_alarm.this["p99_latency"]
}

moved {
  from = aws_cloudwatch_metric_alarm.in_service
  to   = aws_cloudwatch_metric_alarm.this["in_service"]
}

moved {
  from = aws_cloudwatch_metric_alarm.db_cpu
  to   = aws_cloudwatch_metric_alarm.this["db_cpu"]
}

moved {
  from = aws_cloudwatch_metric_alarm.db_free_storage
  to   = aws_cloudwatch_metric_alarm.this["db_free_storage"]
}

moved {
  from = aws_cloudwatch_metric_alarm.db_connections
  to   = aws_cloudwatch_metric_alarm.this["db_connections"]
}

moved {
  from = aws_cloudwatch_metric_alarm.app_db_errors
  to   = aws_cloudwatch_metric_alarm.this["app_db_errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.app_error_rate
  to   = aws_cloudwatch_metric_alarm.this["app_5xx_rate"]
}

################################################################################
# Dashboard
################################################################################

locals {
  app_metric = { namespace = var.metrics_namespace, dims = ["Service", var.service_dimension] }

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title  = "Requests and 5xx (service EMF)"
        region = local.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 60
        metrics = [
          concat([var.metrics_namespace, "Requests"], local.app_metric.dims),
          concat([var.metrics_namespace, "Errors5xx"], local.app_metric.dims),
          concat([var.metrics_namespace, "DbErrors"], local.app_metric.dims),
        ]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title  = "Latency p50 / p99, ms (service EMF)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          concat([var.metrics_namespace, "Latency"], local.app_metric.dims, [{ stat = "p50" }]),
          concat([var.metrics_namespace, "Latency"], local.app_metric.dims, [{ stat = "p99" }]),
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 8, height = 6
      properties = {
        title  = "DB pool waiters (service EMF)"
        region = local.region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 60
        metrics = [
          concat([var.metrics_namespace, "DbPoolWaiting"], local.app_metric.dims),
        ]
      }
    },
    {
      type = "metric", x = 8, y = 6, width = 8, height = 6
      properties = {
        title  = "ALB: requests, 5xx, p99 (s)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }],
          ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }],
          ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "Sum" }],
          ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "p99", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 16, y = 6, width = 8, height = 6
      properties = {
        title  = "Instances: in service / healthy / unhealthy"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", var.asg_name, { stat = "Minimum" }],
          ["AWS/ApplicationELB", "HealthyHostCount", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "Minimum" }],
          ["AWS/ApplicationELB", "UnHealthyHostCount", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "Maximum" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title  = "Database: CPU %, connections"
        region = local.region
        view   = "timeSeries"
        period = 300
        metrics = [
          ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", var.db_instance_identifier, { stat = "Average" }],
          ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", var.db_instance_identifier, { stat = "Maximum", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title  = "Database: free storage (bytes), log-derived error lines"
        region = local.region
        view   = "timeSeries"
        period = 300
        metrics = [
          ["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", var.db_instance_identifier, { stat = "Minimum" }],
          ["${var.metrics_namespace}/Logs", "DatabaseErrorLogLines", { stat = "Sum", yAxis = "right" }],
          ["${var.metrics_namespace}/Logs", "Http5xxLogLines", { stat = "Sum", yAxis = "right" }],
        ]
      }
    },
    {
      type = "alarm", x = 0, y = 18, width = 24, height = 4
      properties = {
        title  = "Alarms"
        alarms = [for k in local.alarm_order : aws_cloudwatch_metric_alarm.this[k].arn]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
