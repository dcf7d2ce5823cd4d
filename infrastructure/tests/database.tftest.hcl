# RDS PostgreSQL (modules/database).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  identifier               = "items-api-db"
  subnet_ids               = ["subnet-0ccccccccccccccc1", "subnet-0ccccccccccccccc2"]
  security_group_ids       = ["sg-0ccccccccccccccc1"]
  engine_version           = "16"
  instance_class           = "db.t4g.small"
  master_username          = "items_admin"
  allocated_storage_gb     = 20
  max_allocated_storage_gb = 100
  multi_az                 = true
  deletion_protection      = true
  backup_retention_days    = 7
  skip_final_snapshot      = false

  performance_insights_enabled = false
  monitoring_interval          = 0
  log_retention_days           = 30
}

run "secure_production_database" {
  command = apply

  module {
    source = "./modules/database"
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted == true && aws_db_instance.this.publicly_accessible == false
    error_message = "The database must be encrypted and private"
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == true && aws_db_instance.this.password == null
    error_message = "RDS manages the master password in Secrets Manager; Terraform never sees it"
  }

  assert {
    condition     = output.master_user_secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f9c2e7a-1b8d-4f6e-0a5c-9b2d7e1f4a8c-XyZ123"
    error_message = "The module exports the RDS-managed secret"
  }

  assert {
    condition     = aws_db_instance.this.multi_az && aws_db_instance.this.deletion_protection && aws_db_instance.this.backup_retention_period == 7 && !aws_db_instance.this.skip_final_snapshot && aws_db_instance.this.final_snapshot_identifier == "items-api-db-final"
    error_message = "Production defaults: Multi-AZ, deletion protection, backups and a final snapshot"
  }

  assert {
    condition     = aws_db_instance.this.engine == "postgres" && aws_db_instance.this.db_name == "items" && aws_db_instance.this.port == 5432
    error_message = "PostgreSQL with the items database on 5432"
  }

  assert {
    condition     = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"]) && aws_db_parameter_group.this.family == "postgres16"
    error_message = "The parameter group must force TLS (rds.force_ssl = 1) and match the engine family"
  }

  assert {
    condition     = aws_db_instance.this.parameter_group_name == aws_db_parameter_group.this.name && aws_db_instance.this.db_subnet_group_name == aws_db_subnet_group.this.name
    error_message = "The instance uses the module's parameter and subnet groups"
  }

  assert {
    condition     = toset(aws_db_subnet_group.this.subnet_ids) == toset(var.subnet_ids)
    error_message = "The database lives in the database subnets"
  }

  assert {
    condition     = length(aws_iam_role.monitoring) == 0 && aws_db_instance.this.monitoring_interval == 0
    error_message = "Enhanced Monitoring is opt-in"
  }
}

run "rejects_old_postgres" {
  command = plan

  module {
    source = "./modules/database"
  }

  variables {
    engine_version = "14"
  }

  expect_failures = [var.engine_version]
}

run "rejects_unsafe_settings" {
  command = plan

  module {
    source = "./modules/database"
  }

  variables {
    instance_class        = "m6g.large"
    master_username       = "postgres"
    allocated_storage_gb  = 10
    backup_retention_days = 0
    monitoring_interval   = 7
  }

  expect_failures = [
    var.instance_class,
    var.master_username,
    var.allocated_storage_gb,
    var.backup_retention_days,
    var.monitoring_interval,
  ]
}

# Separate: the ceiling's rule reads allocated_storage_gb, and a rule whose
# references are invalid is skipped.
run "rejects_a_storage_ceiling_below_the_initial_size" {
  command = plan

  module {
    source = "./modules/database"
  }

  variables {
    max_allocated_storage_gb = 10
  }

  expect_failures = [var.max_allocated_storage_gb]
}
