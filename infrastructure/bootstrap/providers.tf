provider "aws" {
  region            = var.aws_region
  max_retries       = var.provider_max_retries
  s3_use_path_style = var.s3_use_path_style

  default_tags {
    tags = {
      Project   = "items-api"
      Component = "terraform-state"
      ManagedBy = "terraform"
    }
  }
}
