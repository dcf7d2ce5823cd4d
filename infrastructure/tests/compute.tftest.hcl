# Launch template, Auto Scaling group and instance role (modules/compute).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name                                      = "items-api"
  asg_name                                  = "items-api-app"
  subnet_ids                                = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
  security_group_ids                        = ["sg-0aaaaaaaaaaaaaaa1"]
  target_group_arns                         = ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/items-api-app/73e2d6bc24d8a067"]
  alb_arn_suffix                            = "app/items-api/50dc6c495c0c9188"
  target_group_arn_suffix                   = "targetgroup/items-api-app/73e2d6bc24d8a067"
  ami_id                                    = "ami-0a1b2c3d4e5f60718"
  instance_type                             = "t3.small"
  root_volume_size_gb                       = 20
  user_data                                 = "#!/bin/bash\necho test\n"
  min_size                                  = 2
  max_size                                  = 6
  health_check_grace_period_seconds         = 60
  instance_warmup_seconds                   = 60
  wait_for_capacity_timeout                 = "15m"
  lifecycle_hook_name                       = "wait-for-readyz"
  lifecycle_hook_timeout_seconds            = 540
  instance_refresh_min_healthy_percentage   = 100
  instance_refresh_max_healthy_percentage   = 150
  instance_refresh_checkpoint_percentages   = [50, 100]
  instance_refresh_checkpoint_delay_seconds = 120
  rollback_alarm_names                      = ["items-api-target-5xx", "items-api-unhealthy-hosts"]
  instance_refresh_bake_seconds             = 240
  cpu_target_utilization                    = 50
  requests_per_target                       = 1000
  secret_arns = [
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:items-api/api-keys-AbCdEf",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f9c2e7a-1b8d-4f6e-0a5c-9b2d7e1f4a8c-XyZ123",
  ]
  ecr_repository_arn       = "arn:aws:ecr:eu-west-1:123456789012:repository/items-api"
  log_group_arn            = "arn:aws:logs:eu-west-1:123456789012:log-group:/items-api/app"
  permissions_boundary_arn = "arn:aws:iam::123456789012:policy/items-api-workload-boundary"
}

run "launch_template_and_group" {
  command = apply

  module {
    source = "./modules/compute"
  }

  # Instance metadata: IMDSv2 only, and containers cannot reach it.
  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_tokens == "required" && aws_launch_template.this.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "IMDSv2 must be required with a hop limit of 1"
  }

  assert {
    condition     = alltrue([for b in aws_launch_template.this.block_device_mappings : b.ebs[0].encrypted == "true" && b.ebs[0].volume_type == "gp3"])
    error_message = "Every EBS volume must be an encrypted gp3 volume"
  }

  assert {
    condition     = length(aws_launch_template.this.network_interfaces) == 0 && aws_launch_template.this.key_name == null
    error_message = "No public IP and no SSH key pair: instances are private and reached through SSM"
  }

  assert {
    condition     = base64decode(aws_launch_template.this.user_data) == var.user_data
    error_message = "The launch template must carry the bootstrap script unchanged"
  }

  assert {
    condition     = aws_autoscaling_group.this.name == "items-api-app" && output.asg_name == "items-api-app"
    error_message = "The Auto Scaling group name is fixed and exported"
  }

  assert {
    condition     = toset(aws_autoscaling_group.this.vpc_zone_identifier) == toset(var.subnet_ids)
    error_message = "Instances must run in the private app subnets"
  }

  assert {
    condition     = aws_autoscaling_group.this.health_check_type == "ELB" && aws_autoscaling_group.this.health_check_grace_period == 60
    error_message = "The group must use ELB health checks"
  }

  assert {
    condition     = toset(aws_autoscaling_group.this.target_group_arns) == toset(var.target_group_arns)
    error_message = "Instances register with the target group"
  }

  assert {
    condition = (
      aws_autoscaling_group.this.instance_refresh[0].strategy == "Rolling" &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].min_healthy_percentage == 100 &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].auto_rollback == true &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].alarm_specification[0].alarms == var.rollback_alarm_names
    )
    error_message = "Instance refresh must be rolling, keep capacity, and roll back on the deploy-guard alarms"
  }

  assert {
    condition     = jsondecode(jsonencode(output.instance_refresh_preferences)).AutoRollback == true && output.instance_refresh_preferences.MinHealthyPercentage == 100 && output.instance_refresh_preferences.AlarmSpecification.Alarms == var.rollback_alarm_names
    error_message = "The pipeline's refresh preferences must match the group's instance_refresh block"
  }

  assert {
    condition     = output.instance_refresh_preferences.BakeTime == 240
    error_message = "The deploy's refreshes bake (AWS keeps judging them by the alarms) for instance_refresh_bake_seconds"
  }

  assert {
    condition     = one(aws_autoscaling_group.this.initial_lifecycle_hook).lifecycle_transition == "autoscaling:EC2_INSTANCE_LAUNCHING" && one(aws_autoscaling_group.this.initial_lifecycle_hook).default_result == "ABANDON"
    error_message = "New instances must wait for the readiness signal, and be abandoned without it"
  }

  assert {
    condition     = contains(aws_autoscaling_group.this.enabled_metrics, "GroupInServiceInstances")
    error_message = "The in-service alarm needs the group metrics"
  }

  assert {
    condition     = aws_autoscaling_policy.requests.target_tracking_configuration[0].predefined_metric_specification[0].resource_label == "app/items-api/50dc6c495c0c9188/targetgroup/items-api-app/73e2d6bc24d8a067"
    error_message = "Request-count scaling must track this ALB's target group"
  }

  assert {
    condition     = aws_autoscaling_policy.cpu.target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ASGAverageCPUUtilization"
    error_message = "CPU target tracking is missing"
  }

  # Instance role: exactly its own two secrets, nothing broader.
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if contains(flatten([s.Action]), "secretsmanager:GetSecretValue")
    ])) == toset(var.secret_arns)
    error_message = "The instance role must read exactly the API keys secret and the database secret"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      s.Resource != "*" || flatten([s.Action]) == ["ecr:GetAuthorizationToken"] || s.Sid == "SessionManagerAgent"
    ])
    error_message = "Only ecr:GetAuthorizationToken and the SSM agent's actions (no resource-level scoping) may use Resource *"
  }

  assert {
    condition     = !anytrue([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : anytrue([for a in flatten([s.Action]) : endswith(a, "*")])])
    error_message = "The instance policy must not use wildcard actions"
  }

  assert {
    condition     = aws_iam_role.this.permissions_boundary == var.permissions_boundary_arn
    error_message = "The instance role must carry the workload permissions boundary"
  }

  # Session Manager without AmazonSSMManagedInstanceCore (which allows
  # ssm:GetParameter(s) on every parameter, SecureStrings included).
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "SessionManagerAgent"
      ])) == toset([
      "ssm:UpdateInstanceInformation",
      "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
      "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
      "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
    ])
    error_message = "The instance role grants exactly the SSM agent's Session Manager and Run Command actions"
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      anytrue([for a in flatten([s.Action]) : startswith(a, "ssm:Get") || startswith(a, "ssm:Describe") || startswith(a, "ssm:List")])
    ])
    error_message = "The instance role must not read Parameter Store (or SSM documents and associations)"
  }

  # Secrets under the AWS managed key: no KMS statement at all.
  assert {
    condition     = !anytrue([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "kms:")])])
    error_message = "Without secrets_kms_key_arn the instance policy has no KMS permission"
  }

  # desired_capacity belongs to the scaling policies: Terraform does not set
  # it. Unset, it is computed; the mock fills computed numbers with 0, which
  # no configured value could be (min_size is 2).
  assert {
    condition     = aws_autoscaling_group.this.desired_capacity == 0 && aws_autoscaling_group.this.min_size == 2
    error_message = "desired_capacity must not be set by Terraform (the scaling policies own it)"
  }
}

run "secrets_under_a_customer_managed_key" {
  command = apply

  module {
    source = "./modules/compute"
  }

  variables {
    secrets_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      s.Sid == "DecryptOwnSecrets" && flatten([s.Action]) == ["kms:Decrypt"] && s.Resource == var.secrets_kms_key_arn &&
      try(s.Condition.StringEquals["kms:ViaService"], null) == "secretsmanager.eu-west-1.amazonaws.com"
    ])
    error_message = "With a customer managed key, the instance may decrypt with exactly that key, through Secrets Manager only"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      s.Resource != "*" || s.Sid == "EcrLogin" || s.Sid == "SessionManagerAgent"
    ])
    error_message = "The KMS permission is not granted on every key"
  }
}

# The rules on the group's inputs (the root passes asg_min_size, asg_max_size
# and the refresh and timing settings as they are). A rule that reads another
# input is skipped when that input is invalid, hence the separate runs.
run "rejects_unsafe_scaling" {
  command = plan

  module {
    source = "./modules/compute"
  }

  variables {
    root_volume_size_gb       = 4
    min_size                  = 0
    cpu_target_utilization    = 99
    requests_per_target       = 0
    wait_for_capacity_timeout = "soon"
  }

  expect_failures = [
    var.root_volume_size_gb,
    var.min_size,
    var.cpu_target_utilization,
    var.requests_per_target,
    var.wait_for_capacity_timeout,
  ]
}

run "rejects_a_maximum_below_the_minimum" {
  command = plan

  module {
    source = "./modules/compute"
  }

  variables {
    min_size = 4
    max_size = 2
  }

  expect_failures = [var.max_size]
}

run "rejects_a_refresh_below_half_capacity" {
  command = plan

  module {
    source = "./modules/compute"
  }

  variables {
    instance_refresh_min_healthy_percentage = 30
  }

  expect_failures = [var.instance_refresh_min_healthy_percentage]
}

run "rejects_a_refresh_that_cannot_progress" {
  command = plan

  module {
    source = "./modules/compute"
  }

  variables {
    instance_refresh_min_healthy_percentage = 100
    instance_refresh_max_healthy_percentage = 100
  }

  expect_failures = [var.instance_refresh_max_healthy_percentage]
}

run "rejects_bad_timings" {
  command = plan

  module {
    source = "./modules/compute"
  }

  variables {
    instance_warmup_seconds                   = -1
    health_check_grace_period_seconds         = 86400
    instance_refresh_checkpoint_delay_seconds = 10
  }

  expect_failures = [
    var.instance_warmup_seconds,
    var.health_check_grace_period_seconds,
    var.instance_refresh_checkpoint_delay_seconds,
  ]
}
