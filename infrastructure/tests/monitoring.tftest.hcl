# CloudWatch logs, alarms and dashboard (modules/monitoring).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name                    = "items-api"
  log_group_name          = "/items-api/app"
  log_retention_days      = 30
  alarm_email             = "oncall@example.com"
  alb_arn_suffix          = "app/items-api/50dc6c495c0c9188"
  target_group_arn_suffix = "targetgroup/items-api-app/73e2d6bc24d8a067"
  asg_name                = "items-api-app"
  asg_min_size            = 2
  db_instance_identifier  = "items-api-db"
  # The rollback alarm's one source, as the root reads it.
  deploy_guard = jsondecode(file("deploy-guard.json"))
}

run "monitoring_uses_the_service_metrics" {
  command = apply

  module {
    source = "./modules/monitoring"
  }

  assert {
    condition     = aws_cloudwatch_log_group.app.retention_in_days == 30
    error_message = "The log group has a retention"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["app_db_errors"].namespace == "ItemsApi" && aws_cloudwatch_metric_alarm.this["app_db_errors"].metric_name == "DbErrors" && aws_cloudwatch_metric_alarm.this["app_db_errors"].dimensions == tomap({ Service = "items-api" })
    error_message = "An alarm watches the service's EMF metric DbErrors (namespace ItemsApi, Service=items-api)"
  }

  assert {
    condition     = strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "\"ItemsApi\"") && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "DbPoolWaiting") && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "\"p99\"")
    error_message = "The dashboard shows the service's EMF metrics"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["unhealthy_hosts"].dimensions.TargetGroup == "targetgroup/items-api-app/73e2d6bc24d8a067" && aws_cloudwatch_metric_alarm.this["p99_latency"].extended_statistic == "p99"
    error_message = "Target group alarms use the right dimensions and p99"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["in_service"].threshold == 2 && aws_cloudwatch_metric_alarm.this["in_service"].comparison_operator == "LessThanThreshold"
    error_message = "Fewer in-service instances than the minimum raise an alarm"
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : contains(a.alarm_actions, aws_sns_topic.alarms.arn) && contains(a.ok_actions, aws_sns_topic.alarms.arn)])
    error_message = "Alarms notify the SNS topic"
  }

  assert {
    condition     = aws_sns_topic_subscription.email[0].protocol == "email" && aws_sns_topic_subscription.email[0].endpoint == "oncall@example.com"
    error_message = "The optional e-mail subscription"
  }

  assert {
    condition = sort(values(output.alarm_names)) == sort([
      "items-api-alb-5xx", "items-api-target-5xx", "items-api-unhealthy-hosts", "items-api-p99-latency", "items-api-in-service-instances",
      "items-api-db-cpu", "items-api-db-free-storage", "items-api-db-connections", "items-api-app-db-errors", "items-api-app-5xx-rate",
    ])
    error_message = "The alarm names stay what the runbooks, the rollback guard and existing deployments know"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this["app_5xx_rate"].metric_query) == 3 && aws_cloudwatch_metric_alarm.this["app_5xx_rate"].namespace == null && aws_cloudwatch_metric_alarm.this["db_free_storage"].threshold == 5 * 1024 * 1024 * 1024
    error_message = "The 5xx rate is a metric math alarm; the free storage threshold is in bytes"
  }

  assert {
    condition     = output.deploy_guard_alarm_names == ["items-api-target-5xx", "items-api-unhealthy-hosts"]
    error_message = "Target 5xx and unhealthy hosts guard deployments"
  }
}

run "monitoring_rejects_a_malformed_alarm_email" {
  command = plan

  module {
    source = "./modules/monitoring"
  }

  variables {
    alarm_email = "not-an-address"
  }

  expect_failures = [var.alarm_email]
}

# The alarm that rolls releases back is deploy-guard.json, number for number,
# and a finished refresh bakes for its evaluation window plus one period.
run "target_5xx_alarm_is_deploy_guard_json" {
  command = apply

  module {
    source = "./modules/monitoring"
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["target_5xx"].metric_name == jsondecode(file("deploy-guard.json")).metric &&
      aws_cloudwatch_metric_alarm.this["target_5xx"].statistic == jsondecode(file("deploy-guard.json")).statistic &&
      aws_cloudwatch_metric_alarm.this["target_5xx"].period == jsondecode(file("deploy-guard.json")).period_seconds &&
      aws_cloudwatch_metric_alarm.this["target_5xx"].evaluation_periods == jsondecode(file("deploy-guard.json")).evaluation_periods &&
      aws_cloudwatch_metric_alarm.this["target_5xx"].datapoints_to_alarm == jsondecode(file("deploy-guard.json")).datapoints_to_alarm &&
      aws_cloudwatch_metric_alarm.this["target_5xx"].threshold == jsondecode(file("deploy-guard.json")).threshold
    )
    error_message = "The target-5xx alarm must equal infrastructure/deploy-guard.json (metric, statistic, period, evaluation periods, datapoints, threshold)"
  }

  assert {
    condition     = output.deploy_guard_bake_seconds == jsondecode(file("deploy-guard.json")).period_seconds * (jsondecode(file("deploy-guard.json")).evaluation_periods + 1)
    error_message = "The bake is the guard's evaluation window plus one period (both guard alarms are 60 s x 3 today)"
  }
}

# Other numbers in the file move the alarm and the bake with them.
run "target_5xx_alarm_follows_the_guard" {
  command = apply

  module {
    source = "./modules/monitoring"
  }

  variables {
    deploy_guard = {
      metric             = "HTTPCode_Target_5XX_Count", statistic = "Sum", period_seconds = 120,
      evaluation_periods = 4, datapoints_to_alarm = 3, threshold = 25
    }
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["target_5xx"].period == 120 && aws_cloudwatch_metric_alarm.this["target_5xx"].evaluation_periods == 4 && aws_cloudwatch_metric_alarm.this["target_5xx"].datapoints_to_alarm == 3 && aws_cloudwatch_metric_alarm.this["target_5xx"].threshold == 25
    error_message = "The target-5xx alarm takes every number from deploy_guard"
  }

  assert {
    condition     = output.deploy_guard_bake_seconds == 600
    error_message = "The bake is the longest guard alarm's window plus one period: 120 s x (4 + 1)"
  }
}

run "monitoring_rejects_a_guard_cloudwatch_cannot_evaluate" {
  command = plan

  module {
    source = "./modules/monitoring"
  }

  variables {
    deploy_guard = {
      metric             = "HTTPCode_Target_5XX_Count", statistic = "Sum", period_seconds = 45,
      evaluation_periods = 2, datapoints_to_alarm = 3, threshold = 10
    }
  }

  expect_failures = [var.deploy_guard]
}
