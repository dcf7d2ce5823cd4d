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
    aws_cloudwatch_metric_alarm.this["target_5xx"].alarm_name,
    aws_cloudwatch_metric_alarm.this["unhealthy_hosts"].alarm_name,
  ]
}

output "alarm_names" {
  description = "Every alarm, by purpose."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.alarm_name }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
