#!/usr/bin/env python3
"""Pool exhaustion (issue 3, "Database faults").

DB_POOL_SIZE=1 WORKER_THREADS=1: the service has exactly one PostgreSQL
connection. A psql session holds a row lock (BEGIN; SELECT ... FOR UPDATE)
and the test PUTs that item, which blocks inside the database; then a burst
of concurrent requests (more than the connection's pipeline takes, so some
wait in the pool's queue) arrives behind it. Claims:
  - the blocked PUT answers 503 problem+json with Retry-After, bounded by the
    statement deadline (DB_STATEMENT_TIMEOUT_MS);
  - every request behind it completes (2xx, or 503 problem with
    Retry-After), each within max(DB_POOL_TIMEOUT_MS,
    DB_STATEMENT_TIMEOUT_MS) + 1 s: waits are bounded, never unbounded;
  - after the lock is released the service is healthy (the PUT succeeds,
    /readyz 200) without a restart.
"""
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itemstest as T  # noqa: E402

POOL_TIMEOUT_MS = 1000
STATEMENT_TIMEOUT_MS = 3000
BOUND = max(POOL_TIMEOUT_MS, STATEMENT_TIMEOUT_MS) / 1000.0 + 1.0
BURST = 200


def timed(port, method, path, body=None, timeout=30):
    t = T.now()
    try:
        r = T.request(port, method, path, body=body, key=T.KEY1, timeout=timeout)
        return (t, T.now(), r.status, r.status < 300 or T.is_problem_503(r), r)
    except (OSError, http.client.HTTPException) as e:
        return (t, T.now(), "%s: %s" % (type(e).__name__, e), False, None)


def main():
    c = T.Checker("pool_exhaustion: one connection, a held row lock, %d requests behind it" % BURST)
    db = "faults_pool"
    url = T.new_database(db)
    svc = T.Service("pool", env={"WORKER_THREADS": "1", "DB_POOL_SIZE": "1",
                                 "DB_POOL_TIMEOUT_MS": str(POOL_TIMEOUT_MS),
                                 "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
                                 "ACCESS_LOG": "off"},
                    database_url=url)
    locker = None
    try:
        svc.start()
        pid = svc.pid
        c.check(svc.wait_ready(10), "service ready on PostgreSQL")
        ids = []
        for i in range(5):
            r = T.request(svc.port, "POST", "/v1/items", body={"name": "pool-%d" % i}, key=T.KEY1)
            ids.append(r.json()["id"])
        locked = ids[0]

        locker = T.psql_session(db)
        locker.stdin.write("BEGIN;\nSELECT id FROM items WHERE id = %d FOR UPDATE;\n" % locked)
        locker.stdin.flush()
        line = locker.stdout.readline().strip()
        c.check(line == str(locked), "psql holds the row lock on item %d" % locked, repr(line))

        put_res = {}

        def do_put():
            put_res["r"] = timed(svc.port, "PUT", "/v1/items/%d" % locked,
                                 body={"name": "locked-update"})

        put_t = threading.Thread(target=do_put, daemon=True)
        put_t.start()
        time.sleep(0.2)  # the PUT is now waiting on the lock inside PostgreSQL

        results = [None] * BURST

        def one(i):
            kind = i % 3
            if kind == 0:
                results[i] = timed(svc.port, "GET", "/v1/items/%d" % ids[1 + i % 4])
            elif kind == 1:
                results[i] = timed(svc.port, "GET", "/v1/items?limit=3")
            else:
                results[i] = timed(svc.port, "POST", "/v1/items", body={"name": "burst-%d" % i})

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(BURST)]
        t_burst = T.now()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        put_t.join(60)
        burst_wall = T.now() - t_burst

        hung = sum(1 for r in results if r is None)
        done = [r for r in results if r is not None]
        lat = [r[1] - r[0] for r in done]
        statuses = {}
        for r in done:
            statuses[r[2]] = statuses.get(r[2], 0) + 1
        bad = [r for r in done if not r[3]]
        over = [r for r in done if r[1] - r[0] > BOUND]
        c.figure("burst wall time", "%.2fs" % burst_wall)
        c.figure("burst answers by status", statuses)
        c.figure("burst latency p50 / p99 / max", "%.2fs / %.2fs / %.2fs" % (
            T.pct(lat, 50), T.pct(lat, 99), max(lat or [0])))
        c.figure("bound (max(pool, statement timeout) + 1 s)", "%.1fs" % BOUND)
        c.check(hung == 0, "every request behind the lock completed", "%d still waiting" % hung)
        c.check(not bad, "each answer is 2xx or a 503 problem with Retry-After",
                "; ".join("%s after %.2fs" % (r[2], r[1] - r[0]) for r in bad[:8]))
        c.check(not over, "each request answered within %.1fs" % BOUND,
                "%d over; max %.2fs" % (len(over), max(lat or [0])))
        c.check(statuses.get(503, 0) > 0, "the exhausted pool answered some requests with 503",
                str(statuses))

        pr = put_res.get("r")
        if pr is None:
            c.check(False, "the blocked PUT completed", "no answer after 60 s")
        else:
            c.figure("blocked PUT", "%s after %.2fs" % (pr[2], pr[1] - pr[0]))
            c.check(pr[2] == 503 and pr[3], "the blocked PUT answers 503 problem with Retry-After",
                    "%s %r" % (pr[2], pr[4].body[:200] if pr[4] else ""))
            c.check(pr[1] - pr[0] <= STATEMENT_TIMEOUT_MS / 1000.0 + 1.0,
                    "the blocked PUT answers within the statement deadline + 1 s",
                    "%.2fs" % (pr[1] - pr[0]))

        # Release the lock: the service is healthy again, same process.
        locker.stdin.write("ROLLBACK;\n\\q\n")
        locker.stdin.flush()
        locker.wait(10)
        locker = None
        t_rel = T.now()
        ok = None
        while T.now() - t_rel < 10:
            r = timed(svc.port, "PUT", "/v1/items/%d" % locked, body={"name": "after-release"})
            if r[2] == 200:
                ok = T.now() - t_rel
                break
            time.sleep(0.1)
        c.figure("PUT 200 after the lock was released", "%.2fs" % ok if ok is not None else "never")
        c.check(ok is not None, "PUT of the formerly locked item succeeds after release",
                svc.problem_lines())
        got = T.request(svc.port, "GET", "/v1/items/%d" % locked, key=T.KEY1).json()
        c.figure("version of the locked item after the test", got.get("version"))
        c.info("the 503'd PUT %s applied later (version %s; 2 = only the final PUT applied)"
               % ("was" if got.get("version", 0) > 2 else "was not", got.get("version")))
        r = T.request(svc.port, "GET", "/readyz", timeout=5)
        c.check(r.status == 200, "/readyz 200 after release", repr(r))
        r = T.request(svc.port, "GET", "/v1/items?limit=100", key=T.KEY1)
        c.check(r.status == 200, "list 200 after release", repr(r))
        c.check(svc.alive() and svc.pid == pid, "service never restarted (pid %d)" % pid)
    except Exception as e:
        c.check(False, "test ran to completion", "%s: %s" % (type(e).__name__, e))
    finally:
        if locker is not None:
            locker.kill()
            locker.wait(5)
        if svc.proc is not None and not svc.alive():
            c.check(False, "service alive at the end", "exit status %s; log:\n%s"
                    % (svc.proc.returncode, svc.log_tail()))
        svc.stop()
    c.finish()


if __name__ == "__main__":
    main()
