# CI access: GitHub Actions OIDC, a deploy role and a plan role.
#
#   <name>-github-deploy  trusted only for the customized OIDC subject of a job in
#                         the deployment environment, run by one of the deploy
#                         workflows from the deploy branch:
#                           repo:<owner>/<repo>:environment:<env>:job_workflow_ref:
#                           <owner>/<repo>/.github/workflows/<file>@refs/heads/<branch>
#                         can push the image, run `terraform apply` on this stack
#                         and roll the Auto Scaling group.
#   <name>-github-plan    trusted only for pull-request jobs of the plan
#                         workflows (repo:<owner>/<repo>:pull_request:...); reads
#                         the stack and the state for `terraform plan -lock=false`
#                         (no secret value; of Parameter Store only the public
#                         Amazon Linux AMI parameters).
#
# The subject format is the repository's OIDC customization
# (infrastructure/github-oidc-subject.json, applied once with
# infrastructure/scripts/github-oidc-subject.sh): GitHub's default subject
# (repo:<owner>/<repo>:environment:<env>) names no branch and no workflow, so
# any branch's workflow that names the environment would match it.
#
# Privilege escalation guard: every IAM role the stack creates must carry the
# permissions boundary <name>-workload-boundary (the deploy role can only
# create or change roles with that boundary attached), and the deploy role can
# change neither itself, the plan role, their policies, the boundary nor the
# OIDC provider. Edge resources (certificate, DNS, CloudFront, WAF) are
# reachable only by this stack's tag, names, zone, VPC or distribution.
# Changes to this module are applied by an administrator.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name

  oidc_host         = "token.actions.githubusercontent.com"
  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.existing_oidc_provider_arn

  # The customized subject: GitHub joins the include_claim_keys in their
  # order as key:value pairs, except "context", which is given as is
  # (environment:<env>, or pull_request for a pull-request job without one).
  subject_repository = coalesce(var.github_subject_repository, var.github_repository)
  deploy_subjects = [
    for wf in var.deploy_workflows : join(":", [
      for k in var.subject_claim_keys : {
        repo             = "repo:${local.subject_repository}"
        context          = "environment:${var.github_environment}"
        ref              = "ref:refs/heads/${var.deploy_branch}"
        job_workflow_ref = "job_workflow_ref:${var.github_repository}/.github/workflows/${wf}@refs/heads/${var.deploy_branch}"
      }[k]
    ])
  ]
  # Pull requests run from refs/pull/<number>/merge: the number is the only wildcard.
  plan_subjects = [
    for wf in var.plan_workflows : join(":", [
      for k in var.subject_claim_keys : {
        repo             = "repo:${local.subject_repository}"
        context          = "pull_request"
        ref              = "ref:refs/pull/*/merge"
        job_workflow_ref = "job_workflow_ref:${var.github_repository}/.github/workflows/${wf}@refs/pull/*/merge"
      }[k]
    ])
  ]

  deploy_role_name = "${var.name}-github-deploy"
  plan_role_name   = "${var.name}-github-plan"
  boundary_name    = "${var.name}-workload-boundary"

  # ARN building blocks
  iam         = "arn:${local.partition}:iam::${local.account_id}"
  arn_region  = "${local.partition}:%s:${local.region}:${local.account_id}"
  ec2         = "arn:${format(local.arn_region, "ec2")}"
  elb         = "arn:${format(local.arn_region, "elasticloadbalancing")}"
  rds         = "arn:${format(local.arn_region, "rds")}"
  secrets     = "arn:${format(local.arn_region, "secretsmanager")}"
  logs        = "arn:${format(local.arn_region, "logs")}"
  cloudwatch  = "arn:${format(local.arn_region, "cloudwatch")}"
  sns         = "arn:${format(local.arn_region, "sns")}"
  asg_arn     = "arn:${format(local.arn_region, "autoscaling")}:autoScalingGroup:*:autoScalingGroupName/${var.asg_name}"
  boundary    = "${local.iam}:policy/${local.boundary_name}"
  state_key   = "arn:${local.partition}:s3:::${var.state_bucket}/${var.state_key}"
  kms_keys    = "arn:${format(local.arn_region, "kms")}:key/*"
  logs_bucket = "arn:${local.partition}:s3:::${var.name}-alb-logs-${local.account_id}-${local.region}"
  acm_certs   = "arn:${format(local.arn_region, "acm")}:certificate/*"
  alb_arn     = "${local.elb}:loadbalancer/app/${var.name}/*"
  # The web ACLs the root creates: <name> (REGIONAL, on the ALB) and
  # <name>-edge (CLOUDFRONT scope, which exists in us-east-1 only).
  web_acls = [
    "arn:${format(local.arn_region, "wafv2")}:regional/webacl/${var.name}/*",
    "arn:${local.partition}:wafv2:us-east-1:${local.account_id}:global/webacl/${var.name}-edge/*",
  ]

  # The RDS instance whose managed master secret workloads may read; the
  # root passes the identifier it gives the database module.
  db_identifier   = coalesce(var.db_identifier, "${var.name}-db")
  db_instance_arn = "${local.rds}:db:${local.db_identifier}"

  # Keys the secrets are encrypted with: the stack's key, else the account's
  # AWS managed aws/secretsmanager key (some key of this account and region).
  secrets_kms_keys = var.kms_key_arn != null ? var.kms_key_arn : local.kms_keys

  # Public AMI parameters (no account in their ARN) the root may resolve.
  ami_parameters = "arn:${local.partition}:ssm:${local.region}::parameter/aws/service/ami-amazon-linux-latest/*"

  # The SSM agent for Session Manager (ssm + ssmmessages) and Run Command
  # (ec2messages); the compute module's instance policy grants the same list.
  ssm_agent_actions = [
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
    "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
  ]

  # Optional edge features: each statement exists only while the feature is
  # on (the deploy role cannot change its own policies, so turning one on or
  # off is an administrator apply, like every change to this module).
  edge_statements = concat(
    [for s in [
      {
        # A new certificate must carry the stack's tag (and name only
        # domain_name, where ACM evaluates the names)...
        Sid      = "AcmRequestTaggedCertificate"
        Effect   = "Allow"
        Action   = ["acm:RequestCertificate", "acm:AddTagsToCertificate"]
        Resource = local.acm_certs
        Condition = merge(
          { StringEquals = { "aws:RequestTag/${var.stack_tag_key}" = var.name } },
          var.certificate_domain_name == null ? {} : { "ForAllValues:StringEquals" = { "acm:DomainNames" = [var.certificate_domain_name] } },
        )
      },
      {
        # ...and only certificates carrying it can be changed or deleted.
        Sid       = "AcmOwnCertificate"
        Effect    = "Allow"
        Action    = ["acm:DeleteCertificate", "acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"]
        Resource  = local.acm_certs
        Condition = { StringEquals = { "aws:ResourceTag/${var.stack_tag_key}" = var.name } }
      },
    ] : s if var.manage_certificate],
    var.route53_zone_id != null ? [{
      Sid      = "DnsRecordsInTheZone"
      Effect   = "Allow"
      Action   = ["route53:ChangeResourceRecordSets"]
      Resource = "arn:${local.partition}:route53:::hostedzone/${trimprefix(coalesce(var.route53_zone_id, "-"), "/hostedzone/")}"
    }] : [],
    var.enable_interface_endpoints ? [{
      # Interface endpoints with private DNS associate the VPC with zones AWS
      # owns (their IDs are not known in advance): any zone, but only with
      # this stack's VPC.
      Sid       = "EndpointPrivateDns"
      Effect    = "Allow"
      Action    = ["route53:AssociateVPCWithHostedZone", "route53:DisassociateVPCFromHostedZone"]
      Resource  = "arn:${local.partition}:route53:::hostedzone/*"
      Condition = { "ForAllValues:StringEquals" = { "route53:VPCs" = ["VPCId=${coalesce(var.vpc_id, "unknown")},VPCRegion=${local.region}"] }, Null = { "route53:VPCs" = "false" } }
    }] : [],
    var.enable_cloudfront ? [{
      # The distribution is created (and removed) by an administrator apply,
      # like every edge feature switch; the deploy role may only update it.
      Sid      = "CloudFront"
      Effect   = "Allow"
      Action   = ["cloudfront:UpdateDistribution", "cloudfront:TagResource", "cloudfront:UntagResource"]
      Resource = coalesce(var.cloudfront_distribution_arn, "arn:${local.partition}:cloudfront::${local.account_id}:distribution/none-yet")
    }] : [],
    var.enable_waf ? [{
      # This stack's web ACLs by name, associated only with this stack's ALB.
      Sid    = "Waf"
      Effect = "Allow"
      Action = [
        "wafv2:CreateWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL", "wafv2:AssociateWebACL",
        "wafv2:DisassociateWebACL", "wafv2:TagResource", "wafv2:UntagResource",
      ]
      Resource = concat(local.web_acls, [local.alb_arn])
    }] : [],
  )

  # IAM resources the deploy role may never change (see the header).
  protected_iam = [
    "${local.iam}:role/${local.deploy_role_name}",
    "${local.iam}:role/${local.plan_role_name}",
    "${local.iam}:policy/${var.name}-ci-*",
    local.boundary,
    "${local.iam}:oidc-provider/${local.oidc_host}",
  ]
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]

  tags = var.tags
}

################################################################################
# Permissions boundary of every workload role (instances, RDS monitoring,
# VPC flow logs): the most any of them can ever do.
################################################################################

resource "aws_iam_policy" "boundary" {
  name        = local.boundary_name
  description = "Upper bound of the roles items-api creates for its workloads"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ServiceSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = "${local.secrets}:secret:${var.name}/*"
      },
      {
        # RDS names its managed master secret rds!db-<uuid>; the tag RDS puts
        # on it is the only handle on "this stack's database".
        Sid       = "OwnDatabaseMasterSecret"
        Effect    = "Allow"
        Action    = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource  = "${local.secrets}:secret:rds!db-*"
        Condition = { StringEquals = { "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn" = local.db_instance_arn } }
      },
      {
        Sid       = "DecryptSecretsThroughSecretsManager"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = local.secrets_kms_keys
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
      },
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid      = "EcrPull"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = var.ecr_repository_arn
      },
      {
        Sid    = "WriteLogs"
        Effect = "Allow"
        Action = [
          "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:PutRetentionPolicy",
          "logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:GetLogEvents",
        ]
        Resource = "*"
      },
      {
        Sid      = "LifecycleSignal"
        Effect   = "Allow"
        Action   = ["autoscaling:CompleteLifecycleAction"]
        Resource = local.asg_arn
      },
      {
        # Session Manager and Run Command only: no parameter, document or
        # association reads (AmazonSSMManagedInstanceCore would allow
        # ssm:GetParameter(s) on every parameter).
        Sid      = "SessionManagerAgent"
        Effect   = "Allow"
        Action   = local.ssm_agent_actions
        Resource = "*"
      },
    ]
  })

  tags = var.tags
}

################################################################################
# Shared read access (plan and apply both refresh every resource)
################################################################################

resource "aws_iam_policy" "read" {
  name        = "${var.name}-ci-read"
  description = "Read the items-api stack and its Terraform state (plan)"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "DescribeStack"
        Effect = "Allow"
        Action = [
          "ec2:Describe*", "ec2:GetManagedPrefixListEntries", "elasticloadbalancing:Describe*",
          "autoscaling:Describe*", "rds:Describe*", "rds:ListTagsForResource",
          "cloudwatch:Describe*", "cloudwatch:GetDashboard", "cloudwatch:ListDashboards", "cloudwatch:ListTagsForResource",
          "logs:Describe*", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
          "sns:GetTopicAttributes", "sns:GetSubscriptionAttributes", "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic",
          "ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:ListImages", "ecr:GetLifecyclePolicy",
          "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource",
          "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:ListSecrets",

          "acm:DescribeCertificate", "acm:ListCertificates", "acm:ListTagsForCertificate",
          "route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:GetChange",
          "cloudfront:GetDistribution", "cloudfront:ListTagsForResource",
          "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:ListTagsForResource",
          "kms:DescribeKey",
        ]
        Resource = "*"
      },
      {
        # The root resolves the Amazon Linux AMI from a public parameter; no
        # other parameter (SecureString values included) is readable.
        Sid      = "ReadAmiParameter"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter", "ssm:GetParameters"]
        Resource = local.ami_parameters
      },
      {
        Sid      = "ReadStackIam"
        Effect   = "Allow"
        Action   = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:GetInstanceProfile", "iam:ListInstanceProfilesForRole", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:GetOpenIDConnectProvider"]
        Resource = ["${local.iam}:role/${var.name}-*", "${local.iam}:instance-profile/${var.name}-*", "${local.iam}:policy/${var.name}-*", "${local.iam}:oidc-provider/${local.oidc_host}", "arn:${local.partition}:iam::aws:policy/*"]
      },
      {
        Sid      = "ReadLogsBucket"
        Effect   = "Allow"
        Action   = ["s3:GetBucket*", "s3:GetLifecycleConfiguration", "s3:GetEncryptionConfiguration", "s3:GetReplicationConfiguration", "s3:GetAccelerateConfiguration", "s3:ListBucket"]
        Resource = local.logs_bucket
      },
      {
        Sid      = "ReadState"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = "arn:${local.partition}:s3:::${var.state_bucket}"
      },
      {
        Sid      = "ReadStateObject"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = local.state_key
      },
    ]
  })

  tags = var.tags
}

################################################################################
# Release: push the image, lock and write the state, roll the group
################################################################################

resource "aws_iam_policy" "release" {
  name        = "${var.name}-ci-release"
  description = "Push the items-api image, write the Terraform state, run instance refreshes"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "WriteStateAndLock"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = [local.state_key, "${local.state_key}.tflock"]
      },
      {
        Sid      = "ReleaseStateLock"
        Effect   = "Allow"
        Action   = ["s3:DeleteObject"]
        Resource = "${local.state_key}.tflock"
      },
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      # An environment that pushes (staging) may add images and tags, never
      # remove any (the repository's tags are immutable); one that only
      # promotes (production) reads the digest another environment pushed.
      var.push_images ? {
        Sid    = "EcrPush"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
          "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
          "ecr:DescribeImages",
        ]
        Resource = var.ecr_repository_arn
        } : {
        Sid      = "EcrPull"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages"]
        Resource = var.ecr_repository_arn
      },
      {
        Sid      = "RollTheGroup"
        Effect   = "Allow"
        Action   = ["autoscaling:StartInstanceRefresh", "autoscaling:CancelInstanceRefresh", "autoscaling:RollbackInstanceRefresh"]
        Resource = local.asg_arn
      },
      {
        # The smoke test makes one authenticated request with a key from
        # the API keys secret (release/deploy.sh).
        Sid      = "SmokeTestKey"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = "${local.secrets}:secret:${var.name}/api-keys-*"
      },
    ]
  })

  tags = var.tags
}

################################################################################
# Apply: create, change and delete the stack's resources
################################################################################

resource "aws_iam_policy" "apply_infra" {
  name        = "${var.name}-ci-apply-infra"
  description = "terraform apply on the items-api network, load balancer, compute and database"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        # Region-wide, not tag-conditioned: these calls may touch any VPC
        # resource in the region (see "Known limitations" in
        # docs/infrastructure.md for the exact breadth and why).
        Sid    = "Ec2NetworkAndLaunchTemplates"
        Effect = "Allow"
        Action = [
          "ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute",
          "ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute",
          "ec2:CreateInternetGateway", "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
          "ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:DisassociateAddress",
          "ec2:CreateNatGateway", "ec2:DeleteNatGateway",
          "ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute",
          "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
          "ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints", "ec2:ModifyVpcEndpoint",
          "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup",
          "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
          "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:ModifySecurityGroupRules",
          "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
          "ec2:CreateFlowLogs", "ec2:DeleteFlowLogs",
          "ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate",
          "ec2:DeleteLaunchTemplate", "ec2:DeleteLaunchTemplateVersions",
          "ec2:RunInstances", "ec2:CreateTags", "ec2:DeleteTags",
        ]
        Resource  = "*"
        Condition = { StringEquals = { "aws:RequestedRegion" = local.region } }
      },
      {
        Sid    = "LoadBalancer"
        Effect = "Allow"
        Action = ["elasticloadbalancing:*"]
        Resource = [
          "${local.elb}:loadbalancer/app/${var.name}/*",
          "${local.elb}:targetgroup/${var.name}-*/*",
          "${local.elb}:listener/app/${var.name}/*",
          "${local.elb}:listener-rule/app/${var.name}/*",
        ]
      },
      {
        Sid      = "AutoScalingGroup"
        Effect   = "Allow"
        Action   = ["autoscaling:*"]
        Resource = local.asg_arn
      },
      {
        Sid    = "Database"
        Effect = "Allow"
        Action = ["rds:*"]
        # By the database identifier, not a name prefix: stack "items-api"
        # must not reach "items-api-staging-db".
        Resource = [
          local.db_instance_arn,
          "${local.rds}:subgrp:${local.db_identifier}",
          "${local.rds}:pg:${local.db_identifier}-*",
          "${local.rds}:snapshot:${local.db_identifier}-*",
        ]
      },
      {
        # The AWS-owned default option group the instance uses: named in
        # CreateDBInstance and ModifyDBInstance, never changed itself.
        Sid      = "DatabaseDefaultOptionGroup"
        Effect   = "Allow"
        Action   = ["rds:CreateDBInstance", "rds:ModifyDBInstance"]
        Resource = "${local.rds}:og:default:postgres-*"
      },
      {
        # RDS creates the managed master secret (rds!db-<uuid>) with the
        # caller's rights; a secret that exists already must be tagged with
        # this stack's database (the condition the boundary uses).
        Sid       = "RdsManagedMasterSecretCreate"
        Effect    = "Allow"
        Action    = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
        Resource  = "${local.secrets}:secret:rds!db-*"
        Condition = { StringEqualsIfExists = { "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn" = local.db_instance_arn } }
      },
      {
        Sid       = "RdsManagedMasterSecretOfThisDatabase"
        Effect    = "Allow"
        Action    = ["secretsmanager:RotateSecret", "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret"]
        Resource  = "${local.secrets}:secret:rds!db-*"
        Condition = { StringEquals = { "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn" = local.db_instance_arn } }
      },
      {
        Sid      = "PassWorkloadRoles"
        Effect   = "Allow"
        Action   = ["iam:PassRole"]
        Resource = "${local.iam}:role/${var.name}-*"
        Condition = {
          StringEquals = { "iam:PassedToService" = ["ec2.amazonaws.com", "monitoring.rds.amazonaws.com", "vpc-flow-logs.amazonaws.com"] }
        }
      },
      {
        Sid      = "ServiceLinkedRoles"
        Effect   = "Allow"
        Action   = ["iam:CreateServiceLinkedRole"]
        Resource = "*"
        Condition = {
          StringEquals = { "iam:AWSServiceName" = ["autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com", "rds.amazonaws.com"] }
        }
      },
      ], var.kms_key_arn == null ? [] : [
      {
        Sid      = "UseTheStackKeyThroughServices"
        Effect   = "Allow"
        Action   = ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
        Resource = var.kms_key_arn
        Condition = {
          StringEquals = { "kms:ViaService" = [for s in ["rds", "ec2", "secretsmanager"] : "${s}.${local.region}.amazonaws.com"] }
        }
      },
    ])
  })

  tags = var.tags
}

resource "aws_iam_policy" "apply_platform" {
  name        = "${var.name}-ci-apply-platform"
  description = "terraform apply on the items-api secrets, registry, monitoring, IAM, edge"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "ServiceSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:*"]
        Resource = "${local.secrets}:secret:${var.name}/*"
      },
      ], var.manage_ecr_repository ? [{
        # Only a stack that owns its repository manages it: a shared one
        # (bootstrap/) is an administrator's, so no environment can delete
        # another's images or change the repository policy.
        Sid      = "Registry"
        Effect   = "Allow"
        Action   = ["ecr:*"]
        Resource = var.ecr_repository_arn
      }] : [], [
      {
        Sid    = "Logs"
        Effect = "Allow"
        Action = ["logs:*"]
        Resource = [
          "${local.logs}:log-group:/${var.name}/*",
          "${local.logs}:log-group:/aws/rds/instance/${local.db_identifier}/*",
        ]
      },
      {
        Sid    = "AlarmsAndDashboard"
        Effect = "Allow"
        Action = [
          "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource",
          "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards",
        ]
        Resource = [
          "${local.cloudwatch}:alarm:${var.name}-*",
          "arn:${local.partition}:cloudwatch::${local.account_id}:dashboard/${var.name}",
        ]
      },
      {
        Sid      = "AlarmTopic"
        Effect   = "Allow"
        Action   = ["sns:*"]
        Resource = "${local.sns}:${var.name}-*"
      },
      {
        Sid      = "AccessLogBucket"
        Effect   = "Allow"
        Action   = ["s3:*"]
        Resource = [local.logs_bucket, "${local.logs_bucket}/*"]
      },
      {
        Sid      = "WorkloadRolesOnlyWithTheBoundary"
        Effect   = "Allow"
        Action   = ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary"]
        Resource = "${local.iam}:role/${var.name}-*"
        Condition = {
          StringEquals = { "iam:PermissionsBoundary" = local.boundary }
        }
      },
      {
        Sid    = "WorkloadRolesAndProfiles"
        Effect = "Allow"
        Action = [
          "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole", "iam:UpdateRoleDescription",
          "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:AddRoleToInstanceProfile",
          "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile", "iam:UntagInstanceProfile",
        ]
        Resource = ["${local.iam}:role/${var.name}-*", "${local.iam}:instance-profile/${var.name}-*"]
      },
      ],
      local.edge_statements,
      [
        {
          Sid       = "NeverTouchTheCiAccessItself"
          Effect    = "Deny"
          NotAction = ["iam:Get*", "iam:List*"]
          Resource  = local.protected_iam
        },
        {
          Sid      = "NeverDropABoundary"
          Effect   = "Deny"
          Action   = ["iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:CreateUser", "iam:CreateAccessKey"]
          Resource = "*"
        },
    ])
  })

  tags = var.tags
}

################################################################################
# Isolation: never another stack's resources (staging vs production)
################################################################################

# Several Allow statements reach further than this stack: the EC2 network and
# launch template calls region-wide (see Known limitations in
# docs/infrastructure.md), and name prefixes (role/<name>-*) that a longer
# stack name can fall under ("items-api" vs "items-api-staging"). Every
# resource of a stack carries the provider's default tag Service = <name>, so
# a resource that carries another value belongs to another stack: no call may
# touch it. Untagged resources (AWS-owned, adopted defaults, network
# interfaces) carry no such tag and are left to the Allow statements, so the
# deny cannot break this stack's own applies.
resource "aws_iam_policy" "isolation" {
  name        = "${var.name}-ci-isolation"
  description = "Deny the items-api deploy role every resource tagged as another stack's"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "NeverAnotherStacksResources"
      Effect = "Deny"
      Action = [
        "ec2:*", "elasticloadbalancing:*", "autoscaling:*", "rds:*", "logs:*", "cloudwatch:*",
        "sns:*", "secretsmanager:*", "iam:*", "acm:*", "wafv2:*", "cloudfront:*", "ecr:*", "kms:*",
      ]
      Resource = "*"
      Condition = {
        StringNotEquals = { "aws:ResourceTag/${var.stack_tag_key}" = var.name }
        Null            = { "aws:ResourceTag/${var.stack_tag_key}" = "false" }
      }
    }]
  })

  tags = var.tags
}

################################################################################
# Roles
################################################################################

resource "aws_iam_role" "deploy" {
  name                 = local.deploy_role_name
  description          = "GitHub Actions deploys of ${var.github_repository} (environment ${var.github_environment})"
  max_session_duration = 7200 # the very first apply creates RDS Multi-AZ
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "GitHubDeployWorkflowsOnTheDeployBranchOnly"
      Effect    = "Allow"
      Principal = { Federated = local.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.oidc_host}:aud" = "sts.amazonaws.com"
          "${local.oidc_host}:sub" = local.deploy_subjects
        }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each = {
    read           = aws_iam_policy.read.arn
    release        = aws_iam_policy.release.arn
    apply_infra    = aws_iam_policy.apply_infra.arn
    apply_platform = aws_iam_policy.apply_platform.arn
    isolation      = aws_iam_policy.isolation.arn
  }

  role       = aws_iam_role.deploy.name
  policy_arn = each.value
}

resource "aws_iam_role" "plan" {
  count = var.create_plan_role ? 1 : 0

  name                 = local.plan_role_name
  description          = "GitHub Actions pull-request plans of ${var.github_repository} (read-only)"
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "GitHubPullRequestsOnly"
      Effect    = "Allow"
      Principal = { Federated = local.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = { "${local.oidc_host}:aud" = "sts.amazonaws.com" }
        StringLike   = { "${local.oidc_host}:sub" = local.plan_subjects }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "plan" {
  count = var.create_plan_role ? 1 : 0

  role       = aws_iam_role.plan[0].name
  policy_arn = aws_iam_policy.read.arn
}
