output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "azs" {
  description = "Availability zones in use, in subnet order."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (ALB, NAT)."
  value       = aws_subnet.public[*].id
}

output "app_subnet_ids" {
  description = "IDs of the private app subnets (Auto Scaling group)."
  value       = aws_subnet.app[*].id
}

output "app_subnet_cidrs" {
  description = "CIDRs of the private app subnets."
  value       = aws_subnet.app[*].cidr_block
}

output "database_subnet_ids" {
  description = "IDs of the isolated database subnets."
  value       = aws_subnet.database[*].id
}

output "nat_gateway_ids" {
  description = "IDs of the NAT gateways."
  value       = aws_nat_gateway.this[*].id
}

output "nat_public_ips" {
  description = "Public IPs the instances egress from (for allow-lists elsewhere)."
  value       = aws_eip.nat[*].public_ip
}

output "app_route_table_ids" {
  description = "Route tables of the app subnets."
  value       = aws_route_table.app[*].id
}

output "database_route_table_id" {
  description = "Route table of the database subnets (no route out of the VPC)."
  value       = aws_route_table.database.id
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.id
}

output "interface_endpoint_ids" {
  description = "Interface endpoint IDs by service name (empty unless enable_interface_endpoints)."
  value       = { for k, v in aws_vpc_endpoint.interface : k => v.id }
}
