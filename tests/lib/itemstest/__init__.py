"""itemstest: the one Python library of the test suites (tests/api,
tests/faults, tests/vectors). Standard library only (runs on Debian's
python3). Everything is real: the binary as a child process on a loopback
port, the throwaway PostgreSQL that lib/pg.sh started, HTTP over sockets.

  paths    the repository, the binaries under test, scratch space
  ports    free loopback ports, below the ephemeral range
  pg       the test PostgreSQL: psql, databases, pg_isready, pg_ctl
  service  the binary as a child process: environment, output, readiness, stop
  client   HTTP over loopback: requests, raw byte streams, response parsing
  checker  pass/fail/skip and figures for script-style tests (exit 0/1/77)
  procfs   /proc: a server's socket queues, CPU time, memory, fd limits
  stats    percentiles, units, Prometheus samples

A script imports the package (`import itemstest as T`) and uses the names
below; the API suite's harness (tests/api/harness.py) builds its server,
databases and contract checks on the modules.
"""

from .checker import SKIP, Checker, log, now
from .client import (HealthPoller, Response, auth_headers, connect, is_problem_503,
                     parse_responses, read_until_close, request)
from .paths import REPO, RELEASE_BIN, TEST_BIN, state_dir
from .pg import new_database, pg_ctl, pg_isready, psql, psql_session
from .ports import closed_port, free_port
from .procfs import (RssSampler, cpu_seconds, proc_status, raise_nofile, reset_hwm,
                     rss_kib, server_sockets, status_kib, wait_rss_stable)
from .service import KEY1, KEY2, Service, ServiceFailed, parse_log_lines
from .stats import metric_sum, mib, pct

__all__ = [
    "Checker",
    "HealthPoller",
    "KEY1",
    "KEY2",
    "RELEASE_BIN",
    "REPO",
    "Response",
    "RssSampler",
    "SKIP",
    "Service",
    "ServiceFailed",
    "TEST_BIN",
    "auth_headers",
    "closed_port",
    "connect",
    "cpu_seconds",
    "free_port",
    "is_problem_503",
    "log",
    "metric_sum",
    "mib",
    "new_database",
    "now",
    "parse_log_lines",
    "parse_responses",
    "pct",
    "pg_ctl",
    "pg_isready",
    "proc_status",
    "psql",
    "psql_session",
    "raise_nofile",
    "read_until_close",
    "request",
    "reset_hwm",
    "rss_kib",
    "server_sockets",
    "state_dir",
    "status_kib",
    "wait_rss_stable",
]
