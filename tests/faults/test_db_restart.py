#!/usr/bin/env python3
"""PostgreSQL restarted under a load of concurrent writers (issue 3).

N writer threads POST /v1/items continuously while the test runs
`pg_ctl restart -m fast`, later `pg_ctl restart -m immediate`, and then a
longer outage (`pg_ctl stop -m fast`, 3 s down, `pg_ctl start`). Claims:
  - every id acknowledged with 201 is in the database afterwards with the
    name that was sent (0 lost acknowledged writes);
  - every error during the outage is a 503 problem with Retry-After (never a
    500, never a hang: client timeout 10 s, a timeout or a dropped
    connection counts as a failure);
  - the first 201 after the database accepts connections again (pg_isready
    polled every 50 ms) comes within 2 s;
  - the service is never restarted (same process throughout).
"""
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itemstest as T  # noqa: E402

WRITERS = int(os.environ.get("FAULTS_WRITERS", "8"))
CLIENT_TIMEOUT = 10.0
RECOVERY_BOUND = 2.0
DOWN_SECONDS = 3.0


class Writer(threading.Thread):
    def __init__(self, idx, port, stop_ev):
        super().__init__(daemon=True)
        self.idx, self.port, self.stop_ev = idx, port, stop_ev
        self.acked = {}        # id -> name
        self.ok_times = []     # completion times of 201s (monotonic)
        self.errors = []       # (time, status, detail) of non-201 answers
        self.failures = []     # (time, what): timeouts, resets, bad 503s
        self.dup = []
        self.max_latency = 0.0

    def run(self):
        conn = None
        seq = 0
        while not self.stop_ev.is_set():
            seq += 1
            name = "w%d-%d" % (self.idx, seq)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
            t = T.now()
            try:
                r = T.request(self.port, "POST", "/v1/items", body={"name": name, "data": {"w": self.idx}},
                              key=T.KEY1, conn=conn)
            except (OSError, http.client.HTTPException) as e:
                self.failures.append((t, "%s after %.2fs: %s" % (type(e).__name__, T.now() - t, e)))
                conn.close()
                conn = None
                time.sleep(0.05)
                continue
            done = T.now()
            self.max_latency = max(self.max_latency, done - t)
            if r.status == 201:
                item = r.json()
                if item["id"] in self.acked:
                    self.dup.append(item["id"])
                self.acked[item["id"]] = name
                self.ok_times.append(done)
            else:
                self.errors.append((done, r.status, r.body[:160], done - t))
                if not T.is_problem_503(r):
                    self.failures.append((t, "status %d (%s) body %r" % (
                        r.status, r.header("content-type"), r.body[:160])))
                # Back off a little on errors, like a real client would.
                time.sleep(0.02)
            if r.header("connection", "").lower() == "close":
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


class ReadyPoller(threading.Thread):
    """pg_isready every 50 ms; records transitions (time, accepting)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop_ev = threading.Event()
        self.samples = []

    def run(self):
        while not self.stop_ev.is_set():
            t = T.now()
            self.samples.append((t, T.pg_isready(timeout=1)))
            self.stop_ev.wait(max(0.0, 0.05 - (T.now() - t)))

    def up_after(self, t_start):
        """(down_at, up_at): first refusal after t_start, first acceptance after it."""
        down = None
        for t, ok in self.samples:
            if t < t_start:
                continue
            if down is None and not ok:
                down = t
            elif down is not None and ok:
                return down, t
        return down, None


def outage(c, svc, writers, poller, mode):
    t_cmd = T.now()
    if mode == "stop+start":
        # A longer outage: the reconnect backoff has time to grow.
        c.info("pg_ctl stop -m fast, %.0fs down, pg_ctl start, under load" % DOWN_SECONDS)
        T.pg_ctl("stop", "-m", "fast")
        time.sleep(DOWN_SECONDS)
        T.pg_ctl("start")
    else:
        c.info("pg_ctl restart -m %s under load" % mode)
        T.pg_ctl("restart", "-m", mode)
    t_ret = T.now()
    c.figure("%s: pg_ctl took" % mode, "%.2fs" % (t_ret - t_cmd))
    # Let the poller see acceptance and the writers recover.
    time.sleep(3.0)
    down, up = poller.up_after(t_cmd)
    if down is None:
        c.info("%s: pg_isready never saw the database down (restart faster than 50 ms); "
               "using the time pg_ctl returned" % mode)
        up = t_ret
    c.check(up is not None, "%s: database accepted connections again" % mode)
    if up is None:
        return
    if down is not None:
        c.figure("%s: database unavailable (pg_isready)" % mode, "%.2fs" % (up - down))
    firsts = [t for w in writers for t in w.ok_times if t >= up]
    if not firsts:
        # Give it the full bound plus a margin before declaring failure.
        time.sleep(RECOVERY_BOUND)
        firsts = [t for w in writers for t in w.ok_times if t >= up]
    rec = (min(firsts) - up) if firsts else None
    c.figure("%s: first 201 after DB accepts connections" % mode,
             "%.3fs" % rec if rec is not None else "never")
    c.check(rec is not None and rec <= RECOVERY_BOUND,
            "%s: service resumed within %.0fs of the database accepting connections" % (mode, RECOVERY_BOUND),
            "first 201 after %s; service log:\n%s" % ("%.3fs" % rec if rec is not None else "never",
                                                      svc.problem_lines()))
    errs = [e for w in writers for e in w.errors if e[0] >= t_cmd]
    c.figure("%s: 503s / max 503 latency" % mode, "%d / %.3fs" % (
        len(errs), max([e[3] for e in errs] or [0])))


def main():
    c = T.Checker("db_restart: pg_ctl restart -m fast / -m immediate / stop+start under %d writers" % WRITERS)
    url = T.new_database("faults_restart")
    svc = T.Service("db-restart", env={"WORKER_THREADS": "2", "DB_POOL_SIZE": "4"},
                    database_url=url)
    stop_ev = threading.Event()
    writers = []
    poller = ReadyPoller()
    try:
        svc.start()
        pid = svc.pid
        c.check(svc.wait_ready(10), "service ready on PostgreSQL")
        poller.start()
        writers = [Writer(i, svc.port, stop_ev) for i in range(WRITERS)]
        t_load = T.now()
        for w in writers:
            w.start()
        time.sleep(2.0)
        before = sum(len(w.acked) for w in writers)
        c.figure("201s in the first 2 s of load", before)
        c.check(before > 0, "writers make progress before the faults")

        outage(c, svc, writers, poller, "fast")
        time.sleep(1.0)
        outage(c, svc, writers, poller, "immediate")
        time.sleep(1.0)
        outage(c, svc, writers, poller, "stop+start")
        time.sleep(1.0)

        stop_ev.set()
        for w in writers:
            w.join(CLIENT_TIMEOUT + 5)
        poller.stop_ev.set()
        poller.join(5)
        load_s = T.now() - t_load
        c.check(not any(w.is_alive() for w in writers), "every writer finished (no request hangs)")

        acked = {}
        for w in writers:
            acked.update(w.acked)
        dups = [d for w in writers for d in w.dup]
        errors = [e for w in writers for e in w.errors]
        failures = [f for w in writers for f in w.failures]
        statuses = {}
        for e in errors:
            statuses[e[1]] = statuses.get(e[1], 0) + 1
        c.figure("load duration", "%.1fs" % load_s)
        c.figure("acknowledged writes (201)", len(acked))
        c.figure("non-201 answers by status", statuses or "{}")
        c.figure("timeouts / connection errors / bad errors", len(failures))
        c.figure("max request latency", "%.2fs" % max(w.max_latency for w in writers))
        for f in failures[:10]:
            c.info("client failure: " + f[1])
        c.check(not dups, "no id acknowledged twice", str(dups[:10]))
        c.check(all(s == 503 for s in statuses), "every error answer is 503", str(statuses))
        c.check(not failures, "no timeout, reset or malformed error (503 problem+json with Retry-After)",
                "%d, e.g. %s" % (len(failures), failures[0][1] if failures else ""))

        # Every acknowledged id is in the database, with the name that was sent.
        rows = T.psql("SELECT id, name FROM items;", db="faults_restart")
        in_db = {}
        for line in rows.splitlines():
            i, _, n = line.partition("|")
            in_db[int(i)] = n
        lost = [i for i in acked if i not in in_db]
        wrong = [i for i in acked if i in in_db and in_db[i] != acked[i]]
        c.figure("rows in the database", len(in_db))
        c.figure("lost acknowledged writes", len(lost))
        c.figure("rows not acknowledged (in doubt: committed, answer lost)", len(set(in_db) - set(acked)))
        c.check(not lost, "0 lost acknowledged writes", "lost ids %s" % lost[:20])
        c.check(not wrong, "acknowledged ids hold the name that was sent", str(wrong[:10]))

        c.check(svc.alive() and svc.pid == pid, "service never restarted (pid %d still running)" % pid,
                "exit status %s" % svc.proc.returncode)
        r = T.request(svc.port, "GET", "/readyz", timeout=5)
        c.check(r.status == 200, "/readyz 200 after the faults", repr(r))
    except Exception as e:  # a harness error is a failure with its reason
        c.check(False, "test ran to completion", "%s: %s" % (type(e).__name__, e))
    finally:
        stop_ev.set()
        poller.stop_ev.set()
        if not svc.alive() and svc.proc is not None:
            c.check(False, "service process alive at the end",
                    "exit status %s; log:\n%s" % (svc.proc.returncode, svc.log_tail()))
        svc.stop()
    c.finish()


if __name__ == "__main__":
    main()
