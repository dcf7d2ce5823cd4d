# Stand-in for infrastructure/modules/registry: immutable tags, like the real one.
terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "name" {
  type = string
}

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = true
}

output "repository_url" {
  value = aws_ecr_repository.this.repository_url
}
