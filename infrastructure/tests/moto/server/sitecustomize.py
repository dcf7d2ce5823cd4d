"""Patches for the moto_server of the moto run (run.sh puts this folder on
PYTHONPATH when it starts moto, so Python imports it at start-up).

moto 5 gives every RDS instance the same DbiResourceId, and the AWS provider
finds an instance by that ID (filter dbi-resource-id): with two databases in
one account (staging and production side by side) it finds two and reports
"couldn't find resource". Each instance gets a unique ID here instead.
"""
import secrets
import string

try:
    from moto.rds import models as _rds

    _ALPHABET = string.ascii_uppercase + string.digits
    _original_init = _rds.DBInstance.__init__

    def _init_with_unique_resource_id(self, *args, **kwargs):
        _original_init(self, *args, **kwargs)
        self.dbi_resource_id = "db-" + "".join(secrets.choice(_ALPHABET) for _ in range(26))

    _rds.DBInstance.__init__ = _init_with_unique_resource_id
except ImportError:  # not a moto process
    pass
