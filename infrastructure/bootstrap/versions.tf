terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Local state on purpose: this configuration creates the bucket every other
  # state lives in, and is applied once per account by an administrator. Keep
  # its terraform.tfstate somewhere safe (it holds no secrets), or import the
  # bucket again if it is lost: terraform import aws_s3_bucket.state <bucket>.
}
