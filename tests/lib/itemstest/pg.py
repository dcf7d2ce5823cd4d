"""The test PostgreSQL: the cluster lib/pg.sh started (tests/api/run.sh,
tests/faults/run.sh), reached through its environment:

  PG_URL, PG_PORT, PG_PASSWORD, PG_BIN, PG_DIR, PG_USER   from pg_start
  PG_HOST, PG_DBUSER      an external server (ITEMS_API_TEST_PG_URL): its
                          host and login (default 127.0.0.1 and items)

Clients (psql, pg_isready) run as this user; pg_ctl runs through lib/pg.sh's
pg_ctl_do, as the cluster's owner (not root: the server refuses root).
"""

import os
import subprocess
import urllib.parse

from .paths import REPO


def env():
    """os.environ, once the variables pg_start exports are all there."""
    need = ["PG_URL", "PG_PORT", "PG_BIN"]
    missing = [k for k in need if not os.environ.get(k)]
    if missing:
        raise RuntimeError("PostgreSQL environment missing (%s): run through tests/api/run.sh "
                           "or tests/faults/run.sh" % ", ".join(missing))
    return os.environ


def _client(tool, *args):
    e = env()
    return [os.path.join(e["PG_BIN"], tool), "-h", e.get("PG_HOST", "127.0.0.1"), "-p", e["PG_PORT"],
            "-U", e.get("PG_DBUSER") or "items"] + list(args)


def _client_env():
    return dict(env(), PGPASSWORD=os.environ.get("PG_PASSWORD", ""), PGCONNECT_TIMEOUT="5")


def run_psql(args, input=None, timeout=60, check=True):
    """psql ARGS (quiet, unaligned, tuples only, no psqlrc, stop on the
    first error); returns its standard output. check: raise RuntimeError
    when psql fails."""
    cmd = _client("psql", "-qAtX", "-v", "ON_ERROR_STOP=1", *args)
    r = subprocess.run(cmd, input=input, env=_client_env(), capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("psql %s failed (%d): %s" % (args, r.returncode, r.stderr.strip()))
    return r.stdout


def psql(sql, db="items", timeout=30, check=True):
    """Runs SQL (one or more statements) in db; returns psql's output."""
    return run_psql(["-d", db, "-f", "-"], input=sql, timeout=timeout, check=check)


def psql_session(db):
    """An interactive psql session (stdin/stdout pipes) for holding locks."""
    cmd = _client("psql", "-d", db, "-qAt", "-v", "ON_ERROR_STOP=1")
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, env=_client_env())


def database_url(name):
    """PG_URL with its database replaced by name."""
    u = urllib.parse.urlsplit(env()["PG_URL"])
    return urllib.parse.urlunsplit(u._replace(path="/" + name))


def create_database(name, admin_db="items", replace=False):
    """CREATE DATABASE name (after DROP DATABASE IF EXISTS when replace),
    connected to admin_db; returns its URL."""
    if replace:
        run_psql(["-d", admin_db, "-c", "DROP DATABASE IF EXISTS %s" % name])
    run_psql(["-d", admin_db, "-c", "CREATE DATABASE %s" % name])
    return database_url(name)


def new_database(name):
    """A fresh database in the shared test cluster (replacing one of the
    same name a killed run left); returns its libpq URL."""
    return create_database(name, admin_db="postgres", replace=True)


def pg_isready(timeout=1):
    cmd = _client("pg_isready", "-q", "-d", "items", "-t", str(timeout))
    try:
        return subprocess.run(cmd, env=_client_env(), timeout=timeout + 2).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def pg_ctl(*args, timeout=120):
    """pg_ctl_do from lib/pg.sh against the test cluster, e.g.
    pg_ctl("restart", "-m", "fast"); returns its output."""
    script = 'source "$1/lib/pg.sh"; shift; pg_ctl_do "$@"'
    r = subprocess.run(["bash", "-c", script, "pg_ctl", REPO] + list(args), capture_output=True,
                       text=True, timeout=timeout, env=dict(env()))
    if r.returncode != 0:
        raise RuntimeError("pg_ctl %s failed: %s %s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout
