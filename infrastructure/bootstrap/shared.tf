# Account-level resources the environments share (staging and production, and
# any further stack): applied once by an administrator, before any of them.
#
# - The image repository: one for every environment, so production runs the
#   very digest staging pushed and ran (a digest is only meaningful inside one
#   repository; copying images between repositories would be a second build
#   artifact to trust), and tearing down staging never deletes production's
#   images. The environments only read it (ecr_repository_name in their
#   variables); the staging deploy role may push.
# - The GitHub OIDC provider: an account has at most one per URL, so no
#   environment stack may own it (destroying that stack would break the
#   other's CI). The environments set create_github_oidc_provider = false
#   and github_oidc_provider_arn to this output.

module "registry" {
  source = "../modules/registry"
  count  = var.ecr_repository_name != null ? 1 : 0

  name             = var.ecr_repository_name
  keep_images      = var.ecr_keep_images
  force_delete     = var.force_destroy
  pull_account_ids = var.ecr_pull_account_ids

  tags = { Component = "image-repository" }
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_github_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]

  tags = { Component = "ci-access" }
}
