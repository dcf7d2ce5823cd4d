#!/usr/bin/env python3
"""Idle keep-alive connections cost at most 2 KiB each (issue 10, item 2).

A fresh service (SQLite in memory, WORKER_THREADS=2, ACCESS_LOG=off,
KEEPALIVE_TIMEOUT_SECONDS=300 so that no connection times out during the
measurement) is warmed with 20 connections of 5 requests each; then N
(IDLE_CONNECTIONS, default 5000) connections each send one GET /healthz,
read its 200 and stay open, idle. The figure is the growth of the
service's VmRSS (/proc/PID/status; anonymous + file pages) from before the
connections to after them, each reading taken once VmRSS is steady,
divided by N: it must be at most 2 KiB per connection. The same figure for
GET /v1/items/{id} with a key (an item created first: the key check,
the database and the JSON rendering) on a second fresh service. Also: the service still
holds all N connections (/proc/net/tcp) and answers /healthz afterwards.

The measuring code is tests/bench/idle_conns.py, which `make bench` also
runs against nginx.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import itemstest as T  # noqa: E402
import idle_conns  # noqa: E402

N = int(os.environ.get("IDLE_CONNECTIONS", "5000"))
LIMIT_KIB = 2.0


def run_case(c, label, path, headers):
    svc = T.Service("idle-%s" % label, database_url="sqlite::memory:",
                    env={"WORKER_THREADS": "2", "ACCESS_LOG": "off",
                         "KEEPALIVE_TIMEOUT_SECONDS": "300", "MAX_CONNECTIONS": str(N + 100)})
    r = None
    try:
        svc.start()
        if path.startswith("/v1/items/"):
            made = T.request(svc.port, "POST", "/v1/items", key=T.KEY1,
                             body={"name": "idle", "data": {"a": 1}})
            if made.status != 201:
                raise RuntimeError("POST /v1/items: %r" % made)
            path = "/v1/items/%s" % made.json()["id"]
        t0 = T.now()
        r = idle_conns.measure(svc.port, [svc.pid], N, path=path, headers=headers)
        status = T.proc_status(svc.pid)
        c.figure("%s: VmRSS before / after %d idle (MiB)" % (label, r["n"]), "%.1f / %.1f (RssAnon now %s, %.1fs)" % (
            T.mib(r["before"]), T.mib(r["after"]), status.get("RssAnon"), T.now() - t0))
        c.figure("%s: KiB per idle connection" % label, "%.2f" % r["kib_per_conn"])
        c.check(not r["errors"] and r["n"] == N, "%s: %d connections made their request and stay open" % (label, N),
                "%d made it; errors: %s" % (r["n"], r["errors"][:3]))
        c.check(r["open"] >= r["n"], "%s: the service still holds them (%d established)" % (label, r["open"]))
        c.check(r["kib_per_conn"] <= LIMIT_KIB,
                "%s: an idle keep-alive connection costs <= %.0f KiB of RSS" % (label, LIMIT_KIB),
                "%.2f KiB" % r["kib_per_conn"])
        for s in r["socks"]:
            s.close()
        r = None
        time.sleep(0.2)
        h = T.request(svc.port, "GET", "/healthz", timeout=10)
        c.check(svc.alive() and h.status == 200, "%s: /healthz 200 afterwards" % label, repr(h))
    finally:
        if r is not None:
            for s in r["socks"]:
                s.close()
        if svc.proc is not None and svc.proc.poll() not in (None, 0):
            c.info("%s exited with %s; log:\n%s" % (label, svc.proc.returncode, svc.problem_lines()))
        svc.stop()


def main():
    c = T.Checker("idle_conns: %d idle keep-alive connections, <= %.0f KiB each" % (N, LIMIT_KIB))
    got = T.raise_nofile(N + 512)
    if got < N + 256:
        c.skip("RLIMIT_NOFILE %d is too low for %d connections (set IDLE_CONNECTIONS lower)" % (got, N))
    for label, path, headers in (("healthz", "/healthz", ""),
                                 ("item", "/v1/items/", "X-API-Key: %s\r\n" % T.KEY1)):
        try:
            run_case(c, label, path, headers)
        except Exception as e:
            c.check(False, "%s: ran to completion" % label, "%s: %s" % (type(e).__name__, e))
    c.finish()


if __name__ == "__main__":
    main()
