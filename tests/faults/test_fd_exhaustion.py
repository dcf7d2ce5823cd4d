#!/usr/bin/env python3
"""Out of file descriptors: the accept loop must back off, not spin.

The service runs with RLIMIT_NOFILE 40 (soft and hard, so it cannot raise
it), MAX_CONNECTIONS=1000 and a long header timeout, and 60 clients connect
and stay idle. Once the descriptors run out, accept4 fails with EMFILE while
the level-triggered listener stays readable. Checks:
  - start-up warns that MAX_CONNECTIONS is above the open-file limit;
  - over 2 s at EMFILE the process uses < 0.5 s of CPU (a spinning worker
    uses ~2 s) and logs at most a handful of "out of file descriptors"
    warnings (one a second, with a count), not one per accept4;
  - once the idle clients close, GET /healthz answers 200 again within 5 s:
    acceptance resumes by itself.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itemstest as T  # noqa: E402

NOFILE = 40
IDLE = 60
WINDOW = 2.0
CPU_MAX = 0.5
WARN_MAX = 6


def fd_warnings(svc):
    return [x for x in svc.log_lines() if "out of file descriptors" in x.get("message", "")]


def main():
    c = T.Checker("fd exhaustion: EMFILE backs off (RLIMIT_NOFILE %d, %d idle clients)" % (NOFILE, IDLE))
    svc = T.Service("fd-exhaustion", nofile=NOFILE, database_url="sqlite::memory:",
                    env={"WORKER_THREADS": "2", "MAX_CONNECTIONS": "1000",
                         "HEADER_TIMEOUT_SECONDS": "60"})
    socks = []
    try:
        svc.start()
        limit = [x for x in svc.log_lines() if x.get("level") in ("warn", "warning")
                 and x.get("max_connections") == 1000 and x.get("nofile_limit") == NOFILE]
        c.check(bool(limit), "start-up warns that MAX_CONNECTIONS is above the open-file limit",
                svc.problem_lines())

        for _ in range(IDLE):
            socks.append(socket.create_connection(("127.0.0.1", svc.port), timeout=5))
        time.sleep(0.5)  # the workers accept until EMFILE
        cpu0, t0 = T.cpu_seconds(svc.pid), T.now()
        time.sleep(WINDOW)
        cpu = T.cpu_seconds(svc.pid) - cpu0
        elapsed = T.now() - t0
        warns = fd_warnings(svc)
        c.figure("CPU at EMFILE", "%.2fs in %.1fs" % (cpu, elapsed))
        c.figure("\"out of file descriptors\" warnings", "%d (refused counts: %s)" % (
            len(warns), [w.get("refused") for w in warns[:8]]))
        c.check(len(warns) >= 1, "the descriptor shortage is logged")
        c.check(cpu < CPU_MAX, "the workers do not spin at EMFILE (< %.1fs CPU in %.0fs)" % (CPU_MAX, WINDOW),
                "%.2fs" % cpu)
        c.check(len(warns) <= WARN_MAX, "at most %d warnings, not one per accept4" % WARN_MAX,
                "%d lines" % len(warns))
        c.check(svc.alive(), "the service is still running")

        for s in socks:
            s.close()
        socks = []
        t, r = T.now(), None
        while T.now() - t < 5 and r is None:
            try:
                got = T.request(svc.port, "GET", "/healthz", timeout=1)
                if got.status == 200:
                    r = got
            except OSError:
                time.sleep(0.1)
        c.figure("first /healthz 200 after the idle clients closed",
                 "%.2fs" % (T.now() - t) if r else "never")
        c.check(r is not None, "acceptance resumes once descriptors are free (/healthz 200 within 5 s)",
                svc.problem_lines())
        rc = svc.stop()
        c.check(rc == 0, "clean SIGTERM exit (status 0)", "status %s" % rc)
    except Exception as e:
        c.check(False, "test ran to completion", "%s: %s" % (type(e).__name__, e))
    finally:
        for s in socks:
            s.close()
        svc.stop()
    c.finish()


if __name__ == "__main__":
    main()
