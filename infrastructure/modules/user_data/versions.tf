terraform {
  required_version = ">= 1.11"

  # Pure rendering: no provider. infrastructure/tests/user_data renders it with
  # a stand-alone harness, so the tested script is the launch template's script.
}
