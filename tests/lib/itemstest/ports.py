"""Loopback ports for the servers a test starts.

A port is picked at random in 20000-32767: below Linux's ephemeral range
(net.ipv4.ip_local_port_range starts at 32768), so no outgoing connection
of this or another process takes it between the pick and the server's
bind(), and at random so that suites running side by side (make test runs
test-api and test-sanitize together) rarely try the same one. A port that
does not bind now is skipped; service.Service retries with another port if
the server still finds its port taken.
"""

import random
import socket

LOW, HIGH = 20000, 32767
_rng = random.SystemRandom()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return HIGH + 1


def free_port():
    """A loopback port in 20000-32767 (below the ephemeral range) that was
    free a moment ago."""
    high = min(HIGH, max(LOW, _ephemeral_low() - 1))
    for _ in range(500):
        port = _rng.randint(LOW, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in %d-%d" % (LOW, high))


def closed_port():
    """A loopback port nobody listens on (bound, then released)."""
    return free_port()
