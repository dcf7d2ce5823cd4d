#!/usr/bin/env python3
"""A silently dropped database connection (issue 3, "Database faults").

An nftables rule drops every packet to and from PostgreSQL's port on
loopback, so the service's connections go silent (no RST, no FIN) and new
connection attempts get no answer. With the service's default deadlines:
  - every request during the drop answers 503 (problem+json, Retry-After)
    within 7 s (the maximum is measured);
  - /healthz keeps answering 200 (each within 2 s) and /readyz answers 503;
  - after the rule is removed the service recovers by itself, same process:
    the first 201 comes within DB_CONNECT_TIMEOUT_SECONDS (3 s, a connection
    attempt in flight when the path reopens may take that long) + 2 s.
Needs root and nft; otherwise the test says why and skips.
"""
import http.client
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itemstest as T  # noqa: E402

BOUND_503 = 7.0
DROP_SECONDS = float(os.environ.get("FAULTS_DROP_SECONDS", "12"))
CONNECT_TIMEOUT = 3
RECOVERY_BOUND = CONNECT_TIMEOUT + 2.0


def nft(*args, check=True):
    return subprocess.run(["nft"] + list(args), capture_output=True, text=True, check=check,
                          timeout=20)


class Firewall:
    def __init__(self, pg_port):
        self.table = "itemsapi_faults_%d" % os.getpid()
        self.pg_port = pg_port
        self.active = False

    def drop(self):
        with open(os.path.join(T.state_dir(), "nft-tables"), "a") as f:
            f.write(self.table + "\n")
        rules = (
            "table inet %(t)s {\n"
            "  chain output {\n"
            "    type filter hook output priority 0; policy accept;\n"
            "    oifname \"lo\" tcp dport %(p)d drop\n"
            "    oifname \"lo\" tcp sport %(p)d drop\n"
            "  }\n"
            "}\n" % {"t": self.table, "p": self.pg_port})
        subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True, timeout=20,
                       capture_output=True)
        self.active = True

    def restore(self):
        if self.active:
            nft("delete", "table", "inet", self.table, check=False)
            self.active = False


class Client(threading.Thread):
    """Sequential requests of one kind; records (start, end, status|error)."""

    def __init__(self, port, kind, stop_ev):
        super().__init__(daemon=True)
        self.port, self.kind, self.stop_ev = port, kind, stop_ev
        self.results = []

    def run(self):
        n = 0
        while not self.stop_ev.is_set():
            n += 1
            t = T.now()
            try:
                if self.kind == "post":
                    r = T.request(self.port, "POST", "/v1/items", body={"name": "drop-%d" % n},
                                  key=T.KEY1, timeout=15)
                elif self.kind == "get":
                    r = T.request(self.port, "GET", "/v1/items/1", key=T.KEY1, timeout=15)
                elif self.kind == "list":
                    r = T.request(self.port, "GET", "/v1/items?limit=5", key=T.KEY1, timeout=15)
                else:
                    r = T.request(self.port, "GET", "/readyz", timeout=15)
                self.results.append((t, T.now(), r.status, T.is_problem_503(r) or r.status < 300))
            except (OSError, http.client.HTTPException) as e:
                self.results.append((t, T.now(), "%s: %s" % (type(e).__name__, e), False))
            time.sleep(0.1)


def main():
    c = T.Checker("db_drop: PostgreSQL packets silently dropped (nftables)")
    if os.geteuid() != 0:
        c.skip("needs root to install an nftables rule (running as uid %d)" % os.geteuid())
    if shutil.which("nft") is None:
        c.skip("nft not installed (tools/deps.sh stack installs nftables)")
    probe = "itemsapi_probe_%d" % os.getpid()
    p = nft("add", "table", "inet", probe, check=False)
    if p.returncode != 0:
        c.skip("cannot create nftables tables here (%s)" % p.stderr.strip())
    nft("delete", "table", "inet", probe, check=False)

    url = T.new_database("faults_drop")
    # Service defaults for every deadline: the claim is about the shipped config.
    svc = T.Service("db-drop", env={"WORKER_THREADS": "2", "DB_POOL_SIZE": "4"}, database_url=url)
    fw = Firewall(int(os.environ["PG_PORT"]))
    stop_ev = threading.Event()
    clients = []
    health = None
    try:
        svc.start()
        pid = svc.pid
        c.check(svc.wait_ready(10), "service ready on PostgreSQL")
        r = T.request(svc.port, "POST", "/v1/items", body={"name": "before"}, key=T.KEY1)
        c.check(r.status == 201, "POST before the drop: 201", repr(r))

        health = T.HealthPoller(svc.port, interval=0.2, timeout=5)
        health.start()
        clients = [Client(svc.port, k, stop_ev) for k in ("post", "post", "get", "list", "readyz")]
        for cl in clients:
            cl.start()
        time.sleep(1.0)

        fw.drop()
        t_drop = T.now()
        c.info("dropping packets to/from 127.0.0.1:%s for %.0fs (table inet %s)"
               % (os.environ["PG_PORT"], DROP_SECONDS, fw.table))
        time.sleep(DROP_SECONDS)
        fw.restore()
        t_restore = T.now()
        c.info("rule removed")

        # Recovery: a POST loop of our own, 100 ms apart.
        rec = None
        while T.now() - t_restore < RECOVERY_BOUND + 10:
            try:
                r = T.request(svc.port, "POST", "/v1/items", body={"name": "after"}, key=T.KEY1,
                              timeout=10)
                if r.status == 201:
                    rec = T.now() - t_restore
                    break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        time.sleep(0.5)
        stop_ev.set()
        for cl in clients:
            cl.join(20)
        health.stop()

        # Requests that began after the drop was in place and ended before it
        # was lifted: each must be a 503 problem within 7 s.
        during = [(cl.kind, x) for cl in clients for x in cl.results
                  if x[0] >= t_drop + 0.01 and x[1] <= t_restore]
        spanning = [(cl.kind, x) for cl in clients for x in cl.results
                    if x[0] < t_restore and x[1] > t_drop and (cl.kind, x) not in during]
        api = [(k, x) for k, x in during if k != "readyz"]
        ready = [(k, x) for k, x in during if k == "readyz"]
        lat_all = [x[1] - x[0] for _, x in during + spanning]
        bad = [(k, x) for k, x in api if x[2] != 503 or not x[3]]
        slow = [(k, x) for k, x in during + spanning if x[1] - x[0] > BOUND_503]
        n503 = sum(1 for _, x in api if x[2] == 503)
        c.figure("API requests entirely during the drop", len(api))
        c.figure("  of which 503 problem+json with Retry-After", n503)
        c.figure("requests spanning the drop's start or end", len(spanning))
        c.figure("max latency of any request during the drop", "%.2fs" % max(lat_all or [0]))
        c.figure("p50 latency of API requests during the drop",
                 "%.2fs" % T.pct([x[1] - x[0] for _, x in api], 50))
        c.check(len(api) >= 5, "requests were made during the drop", str(len(api)))
        c.check(not bad, "every API request during the drop answers 503 problem+json with Retry-After",
                "; ".join("%s %s after %.2fs" % (k, x[2], x[1] - x[0]) for k, x in bad[:8]))
        c.check(not slow, "every request during the drop answers within %.0fs" % BOUND_503,
                "; ".join("%s %s after %.2fs" % (k, x[2], x[1] - x[0]) for k, x in slow[:8]))
        span_bad = [(k, x) for k, x in spanning if not x[3]]
        c.check(not span_bad, "requests spanning the drop's edges answer 2xx or 503 problem",
                "; ".join("%s %s" % (k, x[2]) for k, x in span_bad[:8]))
        c.figure("/readyz during the drop", "%d answers, statuses %s, max %.2fs" % (
            len(ready), sorted(set(x[2] for _, x in ready), key=str),
            max([x[1] - x[0] for _, x in ready] or [0])))
        c.check(ready and all(x[2] == 503 for _, x in ready), "/readyz answers 503 during the drop",
                str([x[2] for _, x in ready]))
        c.figure("/healthz polls (every 200 ms)", health.n)
        c.figure("/healthz max latency", "%.3fs" % health.max_latency)
        c.check(not health.failures, "/healthz always 200", "%d failures: %s" % (
            len(health.failures), health.failures[:5]))
        c.check(health.max_latency <= 2.0, "/healthz answers within 2 s throughout",
                "%.2fs" % health.max_latency)

        c.figure("recovery: first 201 after the rule was removed",
                 "%.2fs" % rec if rec is not None else "never (%.0fs)" % (RECOVERY_BOUND + 10))
        c.check(rec is not None and rec <= RECOVERY_BOUND,
                "service recovers within %.0fs of the rule's removal" % RECOVERY_BOUND,
                "log:\n" + svc.problem_lines())
        r = T.request(svc.port, "GET", "/readyz", timeout=5)
        c.check(r.status == 200, "/readyz 200 after recovery", repr(r))
        c.check(svc.alive() and svc.pid == pid, "service never restarted (pid %d)" % pid)
    except Exception as e:
        c.check(False, "test ran to completion", "%s: %s" % (type(e).__name__, e))
    finally:
        fw.restore()
        stop_ev.set()
        if health is not None:
            health.stop_ev.set()
        if svc.proc is not None and not svc.alive():
            c.check(False, "service alive at the end", "exit status %s; log:\n%s"
                    % (svc.proc.returncode, svc.log_tail()))
        svc.stop()
    c.finish()


if __name__ == "__main__":
    main()
