# Compute: instance role, launch template and the Auto Scaling group.
#
# Deploys: Terraform writes a new launch template version (new image tag in
# user_data); the pipeline then starts an instance refresh with that version as
# the desired configuration (see the outputs instance_refresh_preferences and
# launch_template_*). The group's own launch template version is therefore not
# managed after creation (ignore_changes below): on success the refresh moves
# it, on failure auto-rollback restores the previous one. Letting Terraform
# move it first would leave the rollback nothing to roll back to.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_default_tags" "current" {}

locals {
  asg_arn_pattern = "arn:${data.aws_partition.current.partition}:autoscaling:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.asg_name}"

  ssm_agent_actions = [
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
    "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
  ]

  launch_tags = merge(data.aws_default_tags.current.tags, var.tags, { Name = var.asg_name })

  instance_refresh_preferences = {
    MinHealthyPercentage      = var.instance_refresh_min_healthy_percentage
    MaxHealthyPercentage      = var.instance_refresh_max_healthy_percentage
    InstanceWarmup            = var.instance_warmup_seconds
    CheckpointPercentages     = var.instance_refresh_checkpoint_percentages
    CheckpointDelay           = var.instance_refresh_checkpoint_delay_seconds
    SkipMatching              = true
    AutoRollback              = true
    ScaleInProtectedInstances = "Refresh"
    StandbyInstances          = "Terminate"
    AlarmSpecification        = length(var.rollback_alarm_names) > 0 ? { Alarms = var.rollback_alarm_names } : null
    # Only in the StartInstanceRefresh preferences (the provider's
    # instance_refresh block has no bake time): the deploys start the refreshes.
    BakeTime = var.instance_refresh_bake_seconds
  }
}

################################################################################
# Instance role: read exactly this service's two secrets, pull from its ECR
# repository, write to its log group, complete its own lifecycle action, and
# the SSM agent (Session Manager instead of SSH; no Parameter Store reads).
################################################################################

resource "aws_iam_role" "this" {
  name                 = "${var.name}-instance"
  description          = "items-api instances: own secrets, own image, own log group, SSM"
  permissions_boundary = var.permissions_boundary_arn
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name = "items-api-runtime"
  role = aws_iam_role.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "ReadOwnSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = var.secret_arns
      },
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid    = "PullOwnImage"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
        ]
        Resource = var.ecr_repository_arn
      },
      {
        Sid      = "ShipLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = ["${var.log_group_arn}:*"]
      },
      {
        Sid      = "SignalReadiness"
        Effect   = "Allow"
        Action   = ["autoscaling:CompleteLifecycleAction"]
        Resource = local.asg_arn_pattern
      },
      {
        # The SSM agent, for Session Manager (ssm, ssmmessages) and Run
        # Command (ec2messages). Instead of AmazonSSMManagedInstanceCore, which
        # also allows ssm:GetParameter(s) on every parameter: no parameter,
        # document or association reads (the bootstrap reads no parameters).
        # None of these actions supports resource-level scoping.
        Sid      = "SessionManagerAgent"
        Effect   = "Allow"
        Action   = local.ssm_agent_actions
        Resource = "*"
      },
      ], var.secrets_kms_key_arn == null ? [] : [
      {
        # Secrets encrypted with a customer managed key: decrypt through
        # Secrets Manager only.
        Sid       = "DecryptOwnSecrets"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = var.secrets_kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${data.aws_region.current.name}.amazonaws.com" } }
      },
    ])
  })
}

resource "aws_iam_instance_profile" "this" {
  name = "${var.name}-instance"
  role = aws_iam_role.this.name

  tags = var.tags
}

################################################################################
# Launch template
################################################################################

resource "aws_launch_template" "this" {
  name                   = "${var.name}-app"
  description            = "items-api instances (Amazon Linux 2023, Docker)"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = var.security_group_ids
  update_default_version = true
  ebs_optimized          = true

  # Plain text (cloud-init also accepts gzip, but the emulator does not; the
  # tests keep the script under the 16 KB limit instead).
  user_data = base64encode(var.user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  # IMDSv2 only, and a hop limit of 1 so containers behind the Docker bridge
  # cannot reach the instance credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = var.root_device_name

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size_gb
      encrypted             = true
      kms_key_id            = var.ebs_kms_key_arn
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = var.detailed_monitoring
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.launch_tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.launch_tags
  }

  tags = var.tags
}

################################################################################
# Auto Scaling group
################################################################################

resource "aws_autoscaling_group" "this" {
  name                = var.asg_name
  vpc_zone_identifier = var.subnet_ids
  target_group_arns   = var.target_group_arns
  min_size            = var.min_size
  max_size            = var.max_size
  # desired_capacity is deliberately not set: the scaling policies own it, and
  # Terraform must not reset it on every apply.

  # ELB health: an instance is replaced when the target group health check
  # (the service's /healthz, which does not touch the database) fails.
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period_seconds
  default_instance_warmup   = var.instance_warmup_seconds
  wait_for_capacity_timeout = var.wait_for_capacity_timeout
  metrics_granularity       = "1Minute"
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupMaxSize",
    "GroupMinSize",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # New instances wait in Pending:Wait until the bootstrap sees /readyz answer
  # and completes this hook; without a signal they are abandoned and replaced.
  initial_lifecycle_hook {
    name                 = var.lifecycle_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
    heartbeat_timeout    = var.lifecycle_hook_timeout_seconds
  }

  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage       = var.instance_refresh_min_healthy_percentage
      max_healthy_percentage       = var.instance_refresh_max_healthy_percentage
      instance_warmup              = var.instance_warmup_seconds
      checkpoint_percentages       = var.instance_refresh_checkpoint_percentages
      checkpoint_delay             = var.instance_refresh_checkpoint_delay_seconds
      skip_matching                = true
      auto_rollback                = true
      scale_in_protected_instances = "Refresh"
      standby_instances            = "Terminate"

      dynamic "alarm_specification" {
        for_each = length(var.rollback_alarm_names) > 0 ? [1] : []

        content {
          alarms = var.rollback_alarm_names
        }
      }
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.asg_name })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  lifecycle {
    # The version is moved by instance refreshes (see the comment at the top).
    ignore_changes = [launch_template[0].version]
  }
}

################################################################################
# Target tracking: CPU and ALB requests per target
################################################################################

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-cpu"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.cpu_target_utilization

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}

resource "aws_autoscaling_policy" "requests" {
  name                   = "${var.name}-requests-per-target"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.requests_per_target

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${var.alb_arn_suffix}/${var.target_group_arn_suffix}"
    }
  }
}
