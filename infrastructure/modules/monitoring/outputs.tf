output "log_group_name" {
  description = "Name of the application log group."
  value       = aws_cloudwatch_log_group.app.name
}

output "log_group_arn" {
  description = "ARN of the application log group."
  value       = aws_cloudwatch_log_group.app.arn
}

output "alarm_topic_arn" {
  description = "SNS topic that receives every alarm."
  value       = aws_sns_topic.alarms.arn
}

output "deploy_guard_alarm_names" {
  description = "Alarms that roll back an instance refresh when they fire."
  value = [
    aws_cloudwatch_metric_alarm.target_5xx.alarm_name,
    aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name,
  ]
}

output "alarm_names" {
  description = "Every alarm, by purpose."
  value = {
    alb_5xx         = aws_cloudwatch_metric_alarm.alb_5xx.alarm_name
    target_5xx      = aws_cloudwatch_metric_alarm.target_5xx.alarm_name
    unhealthy_hosts = aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name
    p99_latency     = aws_cloudwatch_metric_alarm.p99_latency.alarm_name
    in_service      = aws_cloudwatch_metric_alarm.in_service.alarm_name
    db_cpu          = aws_cloudwatch_metric_alarm.db_cpu.alarm_name
    db_free_storage = aws_cloudwatch_metric_alarm.db_free_storage.alarm_name
    db_connections  = aws_cloudwatch_metric_alarm.db_connections.alarm_name
    app_db_errors   = aws_cloudwatch_metric_alarm.app_db_errors.alarm_name
    app_5xx_rate    = aws_cloudwatch_metric_alarm.app_error_rate.alarm_name
  }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
