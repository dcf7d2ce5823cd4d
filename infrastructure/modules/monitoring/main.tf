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
# Load balancer and targets
################################################################################

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  alarm_name          = "${var.name}-alb-5xx"
  alarm_description   = "The load balancer itself answers 5xx (no healthy target, target connection errors)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  dimensions          = local.alb_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.alb_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  alarm_name          = "${var.name}-target-5xx"
  alarm_description   = "The service answers 5xx. Also rolls back an instance refresh."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  dimensions          = local.tg_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.target_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-unhealthy-hosts"
  alarm_description   = "At least one target fails the /healthz check. Also rolls back an instance refresh."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = local.tg_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "p99_latency" {
  alarm_name          = "${var.name}-p99-latency"
  alarm_description   = "p99 target response time above ${var.p99_latency_threshold_seconds}s."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = local.tg_dimensions
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 4
  threshold           = var.p99_latency_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

################################################################################
# Auto Scaling group
################################################################################

resource "aws_cloudwatch_metric_alarm" "in_service" {
  alarm_name          = "${var.name}-in-service-instances"
  alarm_description   = "Fewer in-service instances than the group's minimum (${var.asg_min_size})."
  namespace           = "AWS/AutoScaling"
  metric_name         = "GroupInServiceInstances"
  dimensions          = { AutoScalingGroupName = var.asg_name }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.asg_min_size
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

################################################################################
# Database
################################################################################

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  alarm_name          = "${var.name}-db-cpu"
  alarm_description   = "Database CPU above ${var.db_cpu_threshold}% for 10 minutes."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = local.db_dimensions
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.db_cpu_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  alarm_name          = "${var.name}-db-free-storage"
  alarm_description   = "Less than ${var.db_free_storage_threshold_gb} GiB of database storage left."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = local.db_dimensions
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.db_free_storage_threshold_gb * 1024 * 1024 * 1024
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_connections" {
  alarm_name          = "${var.name}-db-connections"
  alarm_description   = "More than ${var.db_connections_threshold} database connections (pool size x instances is the expected ceiling)."
  namespace           = "AWS/RDS"
  metric_name         = "DatabaseConnections"
  dimensions          = local.db_dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.db_connections_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

################################################################################
# The service's own (EMF) metrics
################################################################################

resource "aws_cloudwatch_metric_alarm" "app_db_errors" {
  alarm_name          = "${var.name}-app-db-errors"
  alarm_description   = "The service reports database errors (EMF metric ${var.metrics_namespace}/DbErrors)."
  namespace           = var.metrics_namespace
  metric_name         = "DbErrors"
  dimensions          = local.app_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.db_errors_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "app_error_rate" {
  alarm_name          = "${var.name}-app-5xx-rate"
  alarm_description   = "More than ${var.app_5xx_rate_threshold_percent}% of requests end in 5xx (EMF metrics Errors5xx / Requests)."
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.app_5xx_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx rate (%)"
    return_data = true
  }

  metric_query {
    id = "errors"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "Errors5xx"
      dimensions  = local.app_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "Requests"
      dimensions  = local.app_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  tags = var.tags
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
        title = "Alarms"
        alarms = [
          aws_cloudwatch_metric_alarm.alb_5xx.arn,
          aws_cloudwatch_metric_alarm.target_5xx.arn,
          aws_cloudwatch_metric_alarm.unhealthy_hosts.arn,
          aws_cloudwatch_metric_alarm.p99_latency.arn,
          aws_cloudwatch_metric_alarm.in_service.arn,
          aws_cloudwatch_metric_alarm.db_cpu.arn,
          aws_cloudwatch_metric_alarm.db_free_storage.arn,
          aws_cloudwatch_metric_alarm.db_connections.arn,
          aws_cloudwatch_metric_alarm.app_db_errors.arn,
          aws_cloudwatch_metric_alarm.app_error_rate.arn,
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
