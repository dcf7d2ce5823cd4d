variable "name" {
  description = "Name prefix for every resource of the network."
  type        = string
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /20. The subnets are carved out of it (see main.tf)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR between /16 and /20: smaller VPCs leave no room for the three subnet tiers in every AZ."
  }
}

variable "az_count" {
  description = "Number of availability zones to span (2 to 4)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 4: one AZ cannot survive an AZ outage, and RDS and the ALB require subnets in at least two AZs."
  }
}

variable "one_nat_gateway_per_az" {
  description = "One NAT gateway per AZ (true: an AZ outage does not cut the others' egress) or a single shared one (false: cheaper, single point of failure for egress)."
  type        = bool
  default     = true
}

variable "enable_interface_endpoints" {
  description = "Create interface VPC endpoints for var.interface_endpoint_services (about 7.3 USD per endpoint per AZ per month) so the instances reach AWS APIs without the NAT gateway."
  type        = bool
  default     = false
}

variable "interface_endpoint_services" {
  description = "Interface endpoint service names (without the com.amazonaws.<region>. prefix) created when enable_interface_endpoints is true."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "secretsmanager", "logs", "ssm", "ssmmessages", "ec2messages", "autoscaling"]
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to CloudWatch Logs."
  type        = bool
  default     = true
}

variable "flow_logs_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 30
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary attached to the IAM roles this module creates (null for none)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
