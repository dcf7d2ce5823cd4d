# Shared mock data for `terraform test` (mock_provider "aws" { source = "./tests/mocks" }).
#
# Mocked values still go through the provider's validation, and computed
# attributes the configuration feeds into ARN- or JSON-validated arguments
# would otherwise be random strings: so every value here is realistic.
# Account 123456789012, region eu-west-1.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform-test"
    user_id    = "AIDAEXAMPLEEXAMPLE"
    id         = "123456789012"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
    id                 = "aws"
  }
}

mock_data "aws_region" {
  defaults = {
    name        = "eu-west-1"
    id          = "eu-west-1"
    description = "Europe (Ireland)"
    endpoint    = "ec2.eu-west-1.amazonaws.com"
  }
}

mock_data "aws_availability_zones" {
  defaults = {
    names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    zone_ids = ["euw1-az1", "euw1-az2", "euw1-az3"]
    id       = "eu-west-1"
  }
}

mock_data "aws_default_tags" {
  defaults = {
    tags = {
      Project   = "items-api"
      ManagedBy = "terraform"
    }
  }
}

mock_data "aws_ssm_parameter" {
  defaults = {
    arn            = "arn:aws:ssm:eu-west-1::parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    type           = "String"
    value          = "ami-0a1b2c3d4e5f60718"
    insecure_value = "ami-0a1b2c3d4e5f60718"
    version        = 1
  }
}

mock_data "aws_elb_service_account" {
  defaults = {
    arn = "arn:aws:iam::156460612806:root"
    id  = "156460612806"
  }
}

mock_data "aws_ec2_managed_prefix_list" {
  defaults = {
    id   = "pl-4fa04526"
    arn  = "arn:aws:ec2:eu-west-1:aws:prefix-list/pl-4fa04526"
    name = "com.amazonaws.global.cloudfront.origin-facing"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/items-api/50dc6c495c0c9188"
    arn_suffix = "app/items-api/50dc6c495c0c9188"
    dns_name   = "items-api-1234567890.eu-west-1.elb.amazonaws.com"
    zone_id    = "Z32O12XQLNTSW2"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/items-api-app/73e2d6bc24d8a067"
    arn_suffix = "targetgroup/items-api-app/73e2d6bc24d8a067"
  }
}

mock_resource "aws_lb_listener" {
  defaults = {
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/items-api/50dc6c495c0c9188/f2f7dc8efc522ab2"
  }
}

mock_resource "aws_acm_certificate" {
  defaults = {
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    domain_validation_options = [{
      domain_name           = "api.example.com"
      resource_record_name  = "_x1.api.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_x2.acm-validations.aws."
    }]
  }
}

mock_resource "aws_acm_certificate_validation" {
  defaults = {
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::items-api-alb-logs-123456789012-eu-west-1"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:items-api/api-keys-AbCdEf"
    id  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:items-api/api-keys-AbCdEf"
  }
}

mock_resource "aws_db_instance" {
  defaults = {
    arn     = "arn:aws:rds:eu-west-1:123456789012:db:items-api-db"
    address = "items-api-db.c9akciq32.eu-west-1.rds.amazonaws.com"
    port    = 5432
    master_user_secret = [{
      secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f9c2e7a-1b8d-4f6e-0a5c-9b2d7e1f4a8c-XyZ123"
      secret_status = "active"
      kms_key_id    = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }]
  }
}

mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:eu-west-1:123456789012:repository/items-api"
    repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api"
    registry_id    = "123456789012"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/items-api/app"
  }
}

mock_resource "aws_cloudwatch_metric_alarm" {
  defaults = {
    arn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:items-api-alarm"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-west-1:123456789012:items-api-alarms"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/items-api-role"
  }
}

mock_resource "aws_iam_policy" {
  defaults = {
    arn = "arn:aws:iam::123456789012:policy/items-api-workload-boundary"
  }
}

mock_resource "aws_iam_instance_profile" {
  defaults = {
    arn = "arn:aws:iam::123456789012:instance-profile/items-api-instance"
  }
}

mock_resource "aws_iam_openid_connect_provider" {
  defaults = {
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
  }
}

mock_resource "aws_launch_template" {
  defaults = {
    id              = "lt-0a1b2c3d4e5f60718"
    arn             = "arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0a1b2c3d4e5f60718"
    latest_version  = 1
    default_version = 1
  }
}

mock_resource "aws_autoscaling_group" {
  defaults = {
    arn = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:8e3b3a31-7c1e-4f7b-9d5d-2b6f1c0e9a11:autoScalingGroupName/items-api-app"
  }
}

mock_resource "aws_flow_log" {
  defaults = {
    arn = "arn:aws:ec2:eu-west-1:123456789012:vpc-flow-log/fl-0a1b2c3d4e5f60718"
  }
}

mock_resource "aws_wafv2_web_acl" {
  defaults = {
    arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/items-api-edge/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
  }
}

mock_resource "aws_cloudfront_distribution" {
  defaults = {
    arn         = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHEXAMPLE"
    domain_name = "d111111abcdef8.cloudfront.net"
  }
}

# The shared repository (bootstrap/) the environments read by name.
mock_data "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:eu-west-1:123456789012:repository/items-api"
    name           = "items-api"
    registry_id    = "123456789012"
    repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api"
  }
}
