terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # State lives in S3 with S3-native locking (a .tflock object written with a
  # conditional PUT; no DynamoDB table) and server-side encryption. Bucket, key
  # and region are passed at init time, never hard-coded:
  #
  #   terraform init -backend-config=environments/<env>.backend.hcl
  #   (see environments/<env>.backend.hcl.example)
  #
  # The bucket is created by infrastructure/bootstrap/.
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
