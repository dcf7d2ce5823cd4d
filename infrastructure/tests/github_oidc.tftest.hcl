# GitHub OIDC deploy and plan roles (modules/github_oidc).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name               = "items-api"
  github_repository  = "example-org/items-api"
  github_environment = "production"
  state_bucket       = "items-api-tfstate-123456789012-eu-west-1"
  state_key          = "items-api/production/terraform.tfstate"
  ecr_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/items-api"
  asg_name           = "items-api-app"
}

run "trust_is_pinned" {
  command = apply

  module {
    source = "./modules/github_oidc"
  }

  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "The OIDC provider is GitHub's, for STS"
  }

  # The customized subject (infrastructure/github-oidc-subject.json) pins the
  # workflow file and the branch: a workflow on another branch that names the
  # production environment gets another subject.
  assert {
    condition = (
      jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == [
        "repo:example-org/items-api:environment:production:job_workflow_ref:example-org/items-api/.github/workflows/ci-cd.yml@refs/heads/main",
        "repo:example-org/items-api:environment:production:job_workflow_ref:example-org/items-api/.github/workflows/redeploy.yml@refs/heads/main",
      ] &&
      jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com" &&
      jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity" &&
      length(jsondecode(aws_iam_role.deploy.assume_role_policy).Statement) == 1
    )
    error_message = "The deploy role trusts exactly ci-cd.yml and redeploy.yml of this repository, on main, in the production environment"
  }

  assert {
    condition     = !contains(flatten([jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]]), "repo:example-org/items-api:environment:production")
    error_message = "The deploy role must not trust GitHub's default subject, which names no branch and no workflow"
  }

  assert {
    condition     = alltrue([for s in output.deploy_subjects : endswith(s, "@refs/heads/main") && strcontains(s, ":environment:production:")])
    error_message = "Every trusted deploy subject names the environment and the main branch"
  }

  assert {
    condition     = !can(jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringLike)
    error_message = "No wildcard (StringLike) subject in the deploy role's trust"
  }

  assert {
    condition = (
      jsondecode(aws_iam_role.plan[0].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == [
        "repo:example-org/items-api:pull_request:job_workflow_ref:example-org/items-api/.github/workflows/ci-cd.yml@refs/pull/*/merge",
      ] &&
      jsondecode(aws_iam_role.plan[0].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    )
    error_message = "The plan role trusts only this repository's pull-request jobs of ci-cd.yml"
  }

  assert {
    condition     = alltrue([for s in output.plan_subjects : length(split("*", s)) == 2 && strcontains(s, "@refs/pull/*/merge")])
    error_message = "The pull-request number is the plan subject's only wildcard"
  }

  assert {
    condition     = toset([for a in aws_iam_role_policy_attachment.plan : a.policy_arn]) == toset([aws_iam_policy.read.arn])
    error_message = "The plan role is read-only"
  }

  # Release permissions: exactly the repository and the group.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.release.policy).Statement :
      s.Resource == "*" ? flatten([s.Action]) == ["ecr:GetAuthorizationToken"] : true
    ])
    error_message = "Release permissions are scoped to resources"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.release.policy).Statement :
      contains(flatten([s.Action]), "autoscaling:StartInstanceRefresh") && s.Resource == "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/items-api-app"
    ])
    error_message = "The deploy role may refresh exactly this Auto Scaling group"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.release.policy).Statement :
      contains(flatten([s.Action]), "ecr:PutImage") && s.Resource == var.ecr_repository_arn
    ])
    error_message = "The deploy role may push to exactly this repository"
  }

  # Escalation guard.
  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement :
      contains(flatten([try(s.Action, [])]), "iam:CreateRole") && try(s.Condition.StringEquals["iam:PermissionsBoundary"], null) == "arn:aws:iam::123456789012:policy/items-api-workload-boundary"
    ])
    error_message = "The deploy role may only create roles that carry the workload boundary"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement :
      s.Effect == "Deny" && contains(flatten([s.Resource]), "arn:aws:iam::123456789012:role/items-api-github-deploy") && contains(flatten([s.Resource]), "arn:aws:iam::123456789012:policy/items-api-workload-boundary")
    ])
    error_message = "The deploy role must not be able to change itself or the boundary"
  }

  assert {
    condition     = alltrue([for p in [aws_iam_policy.boundary, aws_iam_policy.read, aws_iam_policy.release, aws_iam_policy.apply_infra, aws_iam_policy.apply_platform] : length(p.policy) <= 6144])
    error_message = "Each managed policy must stay within IAM's 6,144-character limit"
  }

  assert {
    condition     = !anytrue([for p in [aws_iam_policy.read, aws_iam_policy.release, aws_iam_policy.apply_infra, aws_iam_policy.apply_platform] : anytrue([for s in jsondecode(p.policy).Statement : s.Effect == "Allow" && contains(flatten([try(s.Action, [])]), "*")])])
    error_message = "No Allow statement may grant every action"
  }

  # Parameter Store: no role and no boundary reads parameters on "*".
  assert {
    condition = !anytrue(flatten([
      for p in [aws_iam_policy.boundary, aws_iam_policy.read, aws_iam_policy.release, aws_iam_policy.apply_infra, aws_iam_policy.apply_platform] : [
        for s in jsondecode(p.policy).Statement :
        s.Effect == "Allow" && contains(flatten([try(s.Resource, [])]), "*") && anytrue([for a in flatten([try(s.Action, [])]) : startswith(a, "ssm:Get") || a == "ssm:*"])
      ]
    ]))
    error_message = "No policy may allow ssm:GetParameter(s) on every parameter"
  }

  assert {
    condition     = !anytrue([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "ssm:Get")])])
    error_message = "The workload boundary must not allow Parameter Store reads"
  }

  # The plan (and deploy) role reads only the public AMI parameters.
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_policy.read.policy).Statement : s.Resource if anytrue([for a in flatten([s.Action]) : startswith(a, "ssm:")])
    ])) == toset(["arn:aws:ssm:eu-west-1::parameter/aws/service/ami-amazon-linux-latest/*"])
    error_message = "The read policy may read exactly the public Amazon Linux AMI parameters"
  }

  # Boundary: KMS only through Secrets Manager, only this account's keys;
  # the RDS master secret only of this stack's database.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.boundary.policy).Statement :
      try(s.Condition.StringEquals["kms:ViaService"], null) == "secretsmanager.eu-west-1.amazonaws.com" && s.Resource == "arn:aws:kms:eu-west-1:123456789012:key/*"
      if anytrue([for a in flatten([s.Action]) : startswith(a, "kms:")])
    ]) && anytrue([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : contains(flatten([s.Action]), "kms:Decrypt")])
    error_message = "The boundary's kms:Decrypt must be conditioned on kms:ViaService = Secrets Manager and limited to the account's keys"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.boundary.policy).Statement :
      try(s.Condition.StringEquals["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"], null) == "arn:aws:rds:eu-west-1:123456789012:db:items-api-db"
      if anytrue([for r in flatten([s.Resource]) : strcontains(r, "secret:rds!db-")])
    ]) && anytrue([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : contains(flatten([s.Resource]), "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-*")])
    error_message = "The boundary may read only the RDS master secret of this stack's database (items-api-db)"
  }

  # Optional edge features are off: no ACM, Route 53, CloudFront or WAF writes.
  assert {
    condition = !anytrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement :
      s.Effect == "Allow" && anytrue([for a in flatten([try(s.Action, [])]) : anytrue([for p in ["acm:", "route53:", "cloudfront:", "wafv2:", "elasticloadbalancing:SetWebAcl"] : startswith(a, p)])])
    ])
    error_message = "Without edge features the deploy role has no ACM, Route 53, CloudFront or WAF write permission (no OptionalEdge)"
  }

  # RDS: the managed master secret only of this stack's database; the
  # default option group only named in instance calls.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.apply_infra.policy).Statement :
      try(s.Condition.StringEquals["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"], s.Condition.StringEqualsIfExists["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"], null) == "arn:aws:rds:eu-west-1:123456789012:db:items-api-db"
      if anytrue([for r in flatten([s.Resource]) : strcontains(r, "secret:rds!db-")])
    ])
    error_message = "Every deploy-role statement on rds!db-* secrets is conditioned on this stack's database (items-api-db)"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.apply_infra.policy).Statement :
      try(s.Condition.StringEquals["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"], null) != null
      if anytrue([for a in flatten([s.Action]) : contains(["secretsmanager:RotateSecret", "secretsmanager:DeleteSecret"], a)])
    ])
    error_message = "RotateSecret and DeleteSecret need the database tag (no IfExists)"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.apply_infra.policy).Statement :
      toset(flatten([s.Action])) == toset(["rds:CreateDBInstance", "rds:ModifyDBInstance"]) && flatten([s.Resource]) == ["arn:aws:rds:eu-west-1:123456789012:og:default:postgres-*"]
      if anytrue([for r in flatten([s.Resource]) : strcontains(r, ":og:")])
    ])
    error_message = "The default option group is only named in CreateDBInstance/ModifyDBInstance (no rds:* on og:default:*)"
  }

  # Only three Allow statements of the deploy role reach "*": the ECR login,
  # the region-conditioned EC2 network calls and service-linked roles.
  assert {
    condition = toset(flatten([
      for p in [aws_iam_policy.release, aws_iam_policy.apply_infra, aws_iam_policy.apply_platform] : [
        for s in jsondecode(p.policy).Statement : s.Sid if s.Effect == "Allow" && contains(flatten([s.Resource]), "*")
      ]
    ])) == toset(["EcrLogin", "Ec2NetworkAndLaunchTemplates", "ServiceLinkedRoles"])
    error_message = "No other deploy-role statement may allow actions on every resource"
  }
}

# An environment on a shared repository that only promotes (production):
# pull and describe, no push, no management; never another stack's resources.
run "shared_repository_without_push" {
  command = apply

  module {
    source = "./modules/github_oidc"
  }

  variables {
    name                  = "items-api-production"
    asg_name              = "items-api-production-app"
    manage_ecr_repository = false
    push_images           = false
  }

  assert {
    condition = !anytrue(flatten([
      for p in [aws_iam_policy.release, aws_iam_policy.apply_infra, aws_iam_policy.apply_platform] : [
        for s in jsondecode(p.policy).Statement : s.Effect == "Allow" && anytrue([for a in flatten([try(s.Action, [])]) : contains(["ecr:*", "ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:BatchDeleteImage"], a)])
      ]
    ]))
    error_message = "Without push_images and manage_ecr_repository, the deploy role neither pushes nor manages the repository"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.release.policy).Statement :
      s.Sid == "EcrPull" && s.Resource == var.ecr_repository_arn && contains(s.Action, "ecr:BatchGetImage") && contains(s.Action, "ecr:DescribeImages")
    ])
    error_message = "The deploy role pulls and describes the shared repository (promotion checks the digest)"
  }

  assert {
    condition = (
      jsondecode(aws_iam_policy.isolation.policy).Statement[0].Effect == "Deny" &&
      jsondecode(aws_iam_policy.isolation.policy).Statement[0].Condition.StringNotEquals["aws:ResourceTag/Service"] == "items-api-production" &&
      jsondecode(aws_iam_policy.isolation.policy).Statement[0].Condition.Null["aws:ResourceTag/Service"] == "false" &&
      contains(jsondecode(aws_iam_policy.isolation.policy).Statement[0].Action, "ec2:*") &&
      aws_iam_role_policy_attachment.deploy["isolation"].policy_arn == aws_iam_policy.isolation.arn
    )
    error_message = "The deploy role is denied every resource tagged with another stack's Service"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.apply_infra.policy).Statement :
      alltrue([for r in flatten([s.Resource]) : !strcontains(r, ":rds:") || strcontains(r, ":items-api-production-db") || strcontains(r, ":og:default:")])
    ])
    error_message = "RDS resources are named by the database identifier (items-api-production-db), not a bare name prefix"
  }
}

run "edge_features_on" {
  command = apply

  module {
    source = "./modules/github_oidc"
  }

  variables {
    manage_certificate          = true
    route53_zone_id             = "Z0123456789ABCDEFGHIJ"
    enable_interface_endpoints  = true
    enable_cloudfront           = true
    enable_waf                  = true
    kms_key_arn                 = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    db_identifier               = "items-api-db"
    certificate_domain_name     = "api.example.com"
    vpc_id                      = "vpc-0123456789abcdef0"
    cloudfront_distribution_arn = "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE12345"
  }

  assert {
    condition     = toset([for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement : s.Sid if contains(["AcmRequestTaggedCertificate", "AcmOwnCertificate", "DnsRecordsInTheZone", "EndpointPrivateDns", "CloudFront", "Waf"], s.Sid)]) == toset(["AcmRequestTaggedCertificate", "AcmOwnCertificate", "DnsRecordsInTheZone", "EndpointPrivateDns", "CloudFront", "Waf"])
    error_message = "Each enabled edge feature gets its statements"
  }

  assert {
    condition = flatten([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement : s.Resource if contains(flatten([try(s.Action, [])]), "route53:ChangeResourceRecordSets")
    ]) == ["arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"]
    error_message = "Record changes are limited to the stack's hosted zone"
  }

  # Edge resources of other stacks are out of reach.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement : (
        s.Resource == "arn:aws:acm:eu-west-1:123456789012:certificate/*" && (
          s.Sid == "AcmRequestTaggedCertificate" ?
          try(s.Condition.StringEquals["aws:RequestTag/Service"] == "items-api" && s.Condition["ForAllValues:StringEquals"]["acm:DomainNames"] == ["api.example.com"], false) :
          try(s.Condition.StringEquals["aws:ResourceTag/Service"] == "items-api", false)
        )
      ) if anytrue([for a in flatten([try(s.Action, [])]) : startswith(a, "acm:")])
    ])
    error_message = "ACM: new certificates must carry the stack tag and name only domain_name; existing ones are deleted or retagged only with the stack tag"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement :
      s.Condition["ForAllValues:StringEquals"]["route53:VPCs"] == ["VPCId=vpc-0123456789abcdef0,VPCRegion=eu-west-1"] && s.Condition.Null["route53:VPCs"] == "false"
      if contains(flatten([try(s.Action, [])]), "route53:AssociateVPCWithHostedZone")
    ])
    error_message = "Hosted zone associations only with the stack's VPC"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement :
      s.Resource == "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE12345" && !contains(s.Action, "cloudfront:DeleteDistribution") && !contains(s.Action, "cloudfront:CreateDistribution")
      if anytrue([for a in flatten([try(s.Action, [])]) : startswith(a, "cloudfront:")])
    ])
    error_message = "CloudFront: only the stack's distribution, updated, never created or deleted by the deploy role"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement :
      toset(s.Resource) == toset([
        "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/items-api/*",
        "arn:aws:wafv2:us-east-1:123456789012:global/webacl/items-api-edge/*",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/items-api/*",
      ])
      if anytrue([for a in flatten([try(s.Action, [])]) : startswith(a, "wafv2:")])
    ])
    error_message = "WAF: only the stack's web ACLs (by name) and the stack's ALB"
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(aws_iam_policy.apply_platform.policy).Statement : s.Effect == "Allow" && contains(flatten([s.Resource]), "*")
    ])
    error_message = "With every edge feature on, no platform statement allows actions on every resource"
  }

  assert {
    condition = flatten([
      for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s.Resource if contains(flatten([s.Action]), "kms:Decrypt")
    ]) == [var.kms_key_arn]
    error_message = "With a customer managed key, the boundary's kms:Decrypt is limited to that key"
  }

  assert {
    condition     = length(aws_iam_policy.apply_platform.policy) <= 6144
    error_message = "The platform policy must stay within IAM's 6,144-character limit with every feature on"
  }
}

run "subject_with_ref_and_immutable_repository" {
  command = plan

  module {
    source = "./modules/github_oidc"
  }

  variables {
    subject_claim_keys        = ["repo", "context", "ref", "job_workflow_ref"]
    github_subject_repository = "example-org@1234/items-api@5678"
    deploy_branch             = "release"
    deploy_workflows          = ["ci-cd.yml"]
  }

  assert {
    condition     = output.deploy_subjects == ["repo:example-org@1234/items-api@5678:environment:production:ref:refs/heads/release:job_workflow_ref:example-org/items-api/.github/workflows/ci-cd.yml@refs/heads/release"]
    error_message = "The subject follows the claim keys in order, with the immutable repository name"
  }
}

run "rejects_an_unpinned_subject" {
  command = plan

  module {
    source = "./modules/github_oidc"
  }

  variables {
    subject_claim_keys = ["repo", "context"]
    deploy_branch      = "*"
    deploy_workflows   = ["*.yml"]
    plan_workflows     = ["../x.yml"]
  }

  expect_failures = [var.subject_claim_keys, var.deploy_branch, var.deploy_workflows, var.plan_workflows]
}

run "rejects_wildcard_repository" {
  command = plan

  module {
    source = "./modules/github_oidc"
  }

  variables {
    github_repository  = "example-org/*"
    github_environment = "*"
  }

  expect_failures = [var.github_repository, var.github_environment]
}

run "rejects_a_missing_provider_or_a_bad_state_bucket" {
  command = plan

  module {
    source = "./modules/github_oidc"
  }

  variables {
    create_oidc_provider = false
    state_bucket         = "Not A Bucket"
  }

  expect_failures = [var.existing_oidc_provider_arn, var.state_bucket]
}
