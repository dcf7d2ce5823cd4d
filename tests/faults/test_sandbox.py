#!/usr/bin/env python3
"""The seccomp sandbox (issue 3, "Sandbox"), with build/test/items-api.

SANDBOX=on (the default), on PostgreSQL and on a SQLite file:
  - every thread of the process shows NoNewPrivs: 1 and Seccomp: 2
    (/proc/PID/task/*/status);
  - normal traffic works under the filter: create, read, conditional read,
    list, replace, merge-patch, delete, 404, /readyz, /metrics, and on
    PostgreSQL a reconnect after the database restarts (new sockets under
    the filter);
  - POST /__test/forbidden-syscall (calls ptrace) kills the process with
    SIGSYS: exit status -31 (128 + 31 in a shell);
  - nothing is served before the filter is on: that request, sent the moment
    the port accepts connections (so it waits in the backlog while the
    workers start), still gets SIGSYS and no answer, on every one of
    GATE_TRIES fresh starts.
SANDBOX=off: the same request survives (200 {"survived":true,...}) and the
log has a warning that the sandbox is disabled.
"""
import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itemstest as T  # noqa: E402


def task_statuses(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        st = T.proc_status(pid, int(tid))
        out[int(tid)] = (st.get("NoNewPrivs"), st.get("Seccomp"), st.get("Seccomp_filters", "?"))
    return out


def traffic(c, svc, label):
    p, k = svc.port, T.KEY1
    ok = True

    def expect(r, status, what):
        nonlocal ok
        if r.status != status:
            ok = False
            c.check(False, "%s: %s" % (label, what), "expected %d, got %r" % (status, r))
        return r

    r = expect(T.request(p, "POST", "/v1/items", body={"name": "sandboxed", "data": {"a": [1, 2]}}, key=k),
               201, "create")
    item = r.json() if r.status == 201 else {"id": 0}
    iid = item["id"]
    expect(T.request(p, "GET", "/v1/items/%d" % iid, key=k), 200, "read")
    expect(T.request(p, "GET", "/v1/items/%d" % iid, key=k, headers={"If-None-Match": '"1"'}), 304,
           "conditional read")
    expect(T.request(p, "GET", "/v1/items?limit=10", key=k), 200, "list")
    expect(T.request(p, "PUT", "/v1/items/%d" % iid, body={"name": "replaced"}, key=k), 200, "replace")
    expect(T.request(p, "PATCH", "/v1/items/%d" % iid, body=json.dumps({"data": {"b": True}}), key=k,
                     headers={"Content-Type": "application/merge-patch+json"}), 200, "merge-patch")
    expect(T.request(p, "DELETE", "/v1/items/%d" % iid, key=k), 204, "delete")
    expect(T.request(p, "GET", "/v1/items/%d" % iid, key=k), 404, "read after delete")
    expect(T.request(p, "GET", "/readyz"), 200, "/readyz")
    m = expect(T.request(p, "GET", "/metrics", key=k), 200, "/metrics")
    if m.status == 200:
        c.check(b"http_requests_total" in m.body, "%s: /metrics renders counters" % label)
    # A few concurrent connections too (threads, epoll, accept under the filter).
    socks = [socket.create_connection(("127.0.0.1", p), timeout=5) for _ in range(20)]
    for s in socks:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
    got = 0
    for s in socks:
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        got += data.startswith(b"HTTP/1.1 200")
        s.close()
    if got != 20:
        ok = False
    c.check(ok, "%s: normal traffic works under the filter (create, read, 304, list, put, patch, "
                "delete, 404, readyz, metrics, 20 concurrent connections)" % label)
    return ok


def check_sandboxed(c, svc, label):
    st = task_statuses(svc.pid)
    c.figure("%s: threads (NoNewPrivs, Seccomp, filters)" % label,
             sorted(set(st.values())) + ["%d threads" % len(st)])
    c.check(T.proc_status(svc.pid).get("NoNewPrivs") == "1", "%s: /proc/PID/status NoNewPrivs: 1" % label)
    c.check(T.proc_status(svc.pid).get("Seccomp") == "2", "%s: /proc/PID/status Seccomp: 2" % label)
    c.check(all(v[0] == "1" and v[1] == "2" for v in st.values()),
            "%s: every thread has no_new_privs and a seccomp filter" % label,
            str({t: v for t, v in st.items() if v[0] != "1" or v[1] != "2"}))


def forbidden(svc, s=None):
    """POST the hook (on s if given); returns (response bytes, error)."""
    if s is None:
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    s.sendall(("POST /__test/forbidden-syscall HTTP/1.1\r\nHost: s\r\nX-API-Key: %s\r\n"
               "Content-Length: 0\r\nConnection: close\r\n\r\n" % T.KEY1).encode())
    data, err = b"", None
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        err = e
    s.close()
    return data, err


GATE_TRIES = 8


def forbidden_at_start(c):
    """The hook, queued before the workers start: served only under the filter."""
    results = []
    for _ in range(GATE_TRIES):
        svc = T.Service("sandbox-gate", binary=T.TEST_BIN, env={"WORKER_THREADS": "2"},
                        database_url="sqlite::memory:")
        try:
            svc.start(wait=False)
            end, s = T.now() + 20, None
            while s is None and T.now() < end and svc.alive():
                try:
                    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
                except ConnectionRefusedError:
                    pass  # not listening yet: try again at once
            if s is None:
                results.append((None, "never listened"))
                continue
            data, _ = forbidden(svc, s)
            try:
                svc.proc.wait(10)
            except Exception:
                pass
            results.append((svc.proc.returncode, data[:12]))
        finally:
            svc.stop()
    bad = [r for r in results if r[0] != -signal.SIGSYS or r[1].startswith(b"HTTP/1.1 200")]
    c.figure("forbidden syscall sent at start-up: (status, answer)", sorted(set(map(repr, results))))
    c.check(not bad, "nothing is served before the filter is on (%d starts, each SIGSYS, no 200)"
            % GATE_TRIES, str(bad))


def main():
    c = T.Checker("sandbox: seccomp allowlist (build/test/items-api)")
    if not os.access(T.TEST_BIN, os.X_OK):
        c.check(False, "%s exists" % T.TEST_BIN, "make build-test")
        c.finish()
    url = T.new_database("faults_sandbox")
    sqlite_path = os.path.join(T.state_dir(), "sandbox-sqlite", "items.db")
    services = []
    try:
        # SQLite file (WAL, fsync, locks) under the filter.
        lite = T.Service("sandbox-sqlite", binary=T.TEST_BIN, env={"WORKER_THREADS": "2"},
                         database_url="sqlite:" + sqlite_path)
        services.append(lite)
        lite.start()
        check_sandboxed(c, lite, "sqlite")
        traffic(c, lite, "sqlite")
        rc = lite.stop()
        c.check(rc == 0, "sqlite: clean SIGTERM exit under the filter (status 0)", "status %s; log:\n%s"
                % (rc, lite.problem_lines()))

        # PostgreSQL under the filter, including a reconnect.
        pg = T.Service("sandbox-pg", binary=T.TEST_BIN, env={"WORKER_THREADS": "2", "DB_POOL_SIZE": "2"},
                       database_url=url)
        services.append(pg)
        pg.start()
        c.check(pg.wait_ready(10), "postgres: ready")
        check_sandboxed(c, pg, "postgres")
        traffic(c, pg, "postgres")
        T.pg_ctl("restart", "-m", "fast")
        t = T.now()
        back = None
        while T.now() - t < 10:
            try:
                if T.request(pg.port, "POST", "/v1/items", body={"name": "after-restart"},
                             key=T.KEY1, timeout=5).status == 201:
                    back = T.now() - t
                    break
            except OSError:
                pass
            time.sleep(0.1)
        c.figure("postgres: first 201 after pg_ctl restart returned", "%.2fs" % back if back else "never")
        c.check(back is not None and pg.alive(), "postgres: reconnects after a database restart under the filter",
                "alive=%s status=%s; log:\n%s" % (pg.alive(), pg.proc.returncode, pg.problem_lines()))

        data, err = forbidden(pg)
        try:
            pg.proc.wait(10)
        except Exception:
            pass
        rc = pg.proc.returncode
        c.figure("postgres: forbidden syscall -> exit status", "%s (%s)" % (
            rc, signal.Signals(-rc).name if isinstance(rc, int) and rc < 0 else "not a signal"))
        c.check(rc == -signal.SIGSYS, "a forbidden syscall kills the process with SIGSYS (-31)",
                "status %s, answer %r, error %s" % (rc, data[:100], err))
        c.check(not data.startswith(b"HTTP/1.1 200"), "the forbidden syscall's request got no 200",
                repr(data[:100]))

        forbidden_at_start(c)

        # SANDBOX=off: the same request survives, and a warning says so.
        off = T.Service("sandbox-off", binary=T.TEST_BIN, env={"WORKER_THREADS": "2", "SANDBOX": "off"},
                        database_url=url)
        services.append(off)
        off.start()
        st = T.proc_status(off.pid)
        c.figure("SANDBOX=off: NoNewPrivs / Seccomp", "%s / %s" % (st.get("NoNewPrivs"), st.get("Seccomp")))
        data, err = forbidden(off)
        body = data.split(b"\r\n\r\n", 1)[-1]
        c.figure("SANDBOX=off: forbidden syscall answer", repr(data[:12] + b"... " + body[:60]))
        c.check(data.startswith(b"HTTP/1.1 200") and b'"survived":true' in body,
                "SANDBOX=off: the same request survives with 200 {\"survived\":true}", repr(data[:200]))
        time.sleep(0.2)
        c.check(off.alive(), "SANDBOX=off: process still running")
        warn = [x for x in off.log_lines() if x.get("level") in ("warn", "warning")
                and "sandbox" in json.dumps(x).lower() and "disabled" in json.dumps(x).lower()]
        c.figure("SANDBOX=off: warning", json.dumps(warn[0]) if warn else "none")
        c.check(bool(warn), "SANDBOX=off logs a warning that the sandbox is disabled")
        r = T.request(off.port, "GET", "/healthz")
        c.check(r.status == 200, "SANDBOX=off: still serving")
        # The hook's ptrace(PTRACE_PEEKUSER, pid -1) fails with ESRCH and
        # attaches to nothing: no thread is traced, so a SIGTERM stops the
        # process as usual.
        traced = [t for t in os.listdir("/proc/%d/task" % off.pid)
                  if T.proc_status(off.pid, int(t)).get("TracerPid", "0") != "0"]
        c.check(not traced, "SANDBOX=off: the hook left no thread traced", str(traced))
        rc = off.stop()
        c.check(rc == 0, "SANDBOX=off: clean SIGTERM exit (status 0)", "status %s" % rc)
    except Exception as e:
        c.check(False, "test ran to completion", "%s: %s" % (type(e).__name__, e))
    finally:
        for s in services:
            s.stop()
    c.finish()


if __name__ == "__main__":
    main()
