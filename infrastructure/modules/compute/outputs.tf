output "asg_name" {
  description = "Name of the Auto Scaling group."
  value       = aws_autoscaling_group.this.name
}

output "asg_arn" {
  description = "ARN of the Auto Scaling group."
  value       = aws_autoscaling_group.this.arn
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = aws_launch_template.this.id
}

output "launch_template_latest_version" {
  description = "Latest launch template version: the desired configuration of the next instance refresh."
  value       = aws_launch_template.this.latest_version
}

output "instance_role_arn" {
  description = "ARN of the instance role."
  value       = aws_iam_role.this.arn
}

output "instance_role_name" {
  description = "Name of the instance role."
  value       = aws_iam_role.this.name
}

output "instance_profile_arn" {
  description = "ARN of the instance profile."
  value       = aws_iam_instance_profile.this.arn
}

output "instance_refresh_preferences" {
  description = "StartInstanceRefresh preferences (API shape), identical to the group's instance_refresh block."
  value       = { for k, v in local.instance_refresh_preferences : k => v if v != null }
}

output "instance_role_policy" {
  description = "The instance role's inline policy (JSON), for review and tests."
  value       = aws_iam_role_policy.this.policy
}

output "subnet_ids" {
  description = "Subnets the Auto Scaling group launches into."
  value       = aws_autoscaling_group.this.vpc_zone_identifier
}
