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
  value       = [for k in local.deploy_guard_keys : aws_cloudwatch_metric_alarm.this[k].alarm_name]
}

output "deploy_guard_bake_seconds" {
  description = "How long a finished release stays watched by the deploy-guard alarms before it counts as good: the longest guard alarm's evaluation window (period x evaluation periods) plus one period, the delay before a period's datapoint reaches CloudWatch."
  value = max([
    for k in local.deploy_guard_keys :
    aws_cloudwatch_metric_alarm.this[k].period * (aws_cloudwatch_metric_alarm.this[k].evaluation_periods + 1)
  ]...)
}

output "alarm_names" {
  description = "Every alarm, by purpose."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.alarm_name }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
