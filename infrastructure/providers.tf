locals {
  default_tags = merge(var.extra_tags, {
    Project     = "items-api"
    Service     = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
    Repository  = var.github_repository
  })
}

provider "aws" {
  region              = var.aws_region
  allowed_account_ids = var.allowed_account_ids
  max_retries         = var.provider_max_retries
  s3_use_path_style   = var.s3_use_path_style

  default_tags {
    tags = local.default_tags
  }
}

# CloudFront-scope WAF web ACLs exist only in us-east-1.
provider "aws" {
  alias               = "us_east_1"
  region              = "us-east-1"
  allowed_account_ids = var.allowed_account_ids
  max_retries         = var.provider_max_retries
  s3_use_path_style   = var.s3_use_path_style

  default_tags {
    tags = local.default_tags
  }
}
