#!/usr/bin/env python3
"""Bodies that nobody asked for cost nothing (issue 10, item 2).

A request body on a route or method that takes none (/healthz, /readyz,
/metrics, GET/HEAD/DELETE anywhere) must never be buffered, and a body on a
/v1 write route only after the key is verified. For each case below a fresh
service (WORKER_THREADS=2, MAX_BODY_BYTES=1048576, ACCESS_LOG=off) is warmed
with a few small requests, its VmHWM is reset to VmRSS (/proc/PID/clear_refs
"5") and VmRSS is read; then 300 connections each send the head and the
whole 1 MiB body (Content-Length: 1048576, or the same 1 MiB chunked) and
stay open. The client is non-blocking with one deadline for everything (it
cannot hang on a server that stops reading: a connection that is neither
answered nor closed by then is a failure, not a wait). Once every connection
was answered or closed and VmRSS is steady:

  - peak growth, VmHWM - VmRSS before, < 16 MiB (the kernel's own high-water
    mark: nothing is missed between samples), and
  - held growth, VmRSS with the 300 connections still open - VmRSS before,
    < 16 MiB;
  - every connection got a response or a close, none a 5xx;
  - the service still answers GET /healthz 200 afterwards.

Memory figures are VmRSS/VmHWM from /proc/PID/status (anonymous + file
pages). Cases (SQLite in memory unless marked):
  healthz          GET /healthz, no key, Content-Length body
  healthz-chunked  GET /healthz, no key, chunked body
  item-get-nokey   GET /v1/items/1 without a key
  item-get-key     GET /v1/items/1 with a valid key (GET takes no body)
  item-delete-key  DELETE /v1/items/1 with a valid key
  post-badkey      POST /v1/items with a wrong key (never buffered before
                   the key is verified)
  healthz [pg], item-get-key [pg]   the same on PostgreSQL
"""
import os
import re
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itemstest as T  # noqa: E402

N_CONN = int(os.environ.get("HELD_BODIES_CONNECTIONS", "300"))
BODY = 1048576
LIMIT_MIB = 16.0
DEADLINE_S = 90.0          # everything sent and answered/closed by then
CHUNK = 65536

CASES = [
    # name, method, path, key, chunked, backend
    ("healthz", "GET", "/healthz", None, False, "sqlite"),
    ("healthz-chunked", "GET", "/healthz", None, True, "sqlite"),
    ("item-get-nokey", "GET", "/v1/items/1", None, False, "sqlite"),
    ("item-get-key", "GET", "/v1/items/1", T.KEY1, False, "sqlite"),
    ("item-delete-key", "DELETE", "/v1/items/1", T.KEY1, False, "sqlite"),
    ("post-badkey", "POST", "/v1/items", "not-a-valid-key-0123456789abcdef", False, "sqlite"),
    ("healthz", "GET", "/healthz", None, False, "pg"),
    ("item-get-key", "GET", "/v1/items/1", T.KEY1, False, "pg"),
]


def payload(method, path, key, chunked):
    head = "%s %s HTTP/1.1\r\nHost: held\r\n" % (method, path)
    if key:
        head += "X-API-Key: %s\r\n" % key
    if method == "POST":
        head += "Content-Type: application/json\r\n"
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        one = b"%x\r\n" % CHUNK + b" " * CHUNK + b"\r\n"
        body = one * (BODY // CHUNK) + b"0\r\n\r\n"
    else:
        head += "Content-Length: %d\r\n\r\n" % BODY
        # A JSON-ish body (spaces) so that a server that does parse it finds
        # nothing odd before the end.
        body = b" " * BODY
    return head.encode() + body


class Conn:
    __slots__ = ("sock", "sent", "rx", "closed", "send_err", "status", "answered_at")

    def __init__(self, sock):
        self.sock = sock
        self.sent = 0
        self.rx = b""
        self.closed = False
        self.send_err = None
        self.status = None
        self.answered_at = None


def response_complete(rx):
    """(status, complete) of the first response in rx."""
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", rx)
    if not m:
        return None, False
    end = rx.find(b"\r\n\r\n")
    if end < 0:
        return int(m.group(1)), False
    cl = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", rx[:end])
    need = end + 4 + (int(cl.group(1)) if cl else 0)
    return int(m.group(1)), len(rx) >= need


def server_rx_queued(port):
    """Bytes received by the kernel on the server's side of port's
    connections and not yet read by the service."""
    return sum(T.server_sockets(port))


def open_conns(port, n):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        conns.append(Conn(s))
    return conns


def pump(conns, data, limit, deadline, need_answer):
    """Sends data[:limit] on every connection (non-blocking) and reads what
    comes back, until each connection has sent its share or can send no
    more (and, with need_answer, was answered or closed), or the deadline.
    Returns how many connections are not finished."""
    view = memoryview(data)
    sel = selectors.DefaultSelector()

    def finished(c):
        sending_over = c.sent >= limit or c.send_err is not None or c.closed
        return sending_over and (not need_answer or c.closed or c.answered_at is not None)

    def wanted(c):
        want = 0
        if not c.closed:
            want |= selectors.EVENT_READ
            if c.sent < limit and c.send_err is None:
                want |= selectors.EVENT_WRITE
        return want

    for c in conns:
        if wanted(c):
            sel.register(c.sock, wanted(c), c)
    pending = sum(1 for c in conns if not finished(c))
    while pending and T.now() < deadline:
        for key, ev in sel.select(timeout=0.2):
            c = key.data
            if ev & selectors.EVENT_READ and not c.closed:
                try:
                    chunk = c.sock.recv(65536)
                except BlockingIOError:
                    chunk = None
                except OSError:
                    chunk = b""
                if chunk == b"":
                    c.closed = True
                elif chunk:
                    if len(c.rx) < 65536:
                        c.rx += chunk
                    st, done = response_complete(c.rx)
                    c.status = st
                    if done and c.answered_at is None:
                        c.answered_at = T.now()
            if ev & selectors.EVENT_WRITE and c.sent < limit and c.send_err is None \
                    and not c.closed:
                try:
                    c.sent += c.sock.send(view[c.sent:min(limit, c.sent + 262144)])
                except BlockingIOError:
                    pass
                except OSError as e:  # EPIPE, ECONNRESET: the server refused and closed
                    c.send_err = e.errno
            want = wanted(c)
            if want == 0:
                sel.unregister(c.sock)
            elif want != key.events:
                sel.modify(c.sock, want, c)
        pending = sum(1 for c in conns if not finished(c))
    sel.close()
    return pending


def run_case(c, name, method, path, key, chunked, backend):
    label = "%s [%s]" % (name, backend)
    url = "sqlite::memory:" if backend == "sqlite" else T.new_database("faults_held")
    svc = T.Service("held-%s-%s" % (name, backend), database_url=url,
                    env={"WORKER_THREADS": "2", "MAX_BODY_BYTES": str(BODY),
                         "ACCESS_LOG": "off", "BODY_TIMEOUT_SECONDS": "60",
                         "KEEPALIVE_TIMEOUT_SECONDS": "120"})
    conns = []
    data = payload(method, path, key, chunked)
    try:
        svc.start()
        # Warm-up: every worker has served small requests on this route.
        for _ in range(20):
            T.request(svc.port, "GET", "/healthz", timeout=5)
            T.request(svc.port, method, path, key=key, timeout=5,
                      body=b"{}" if method == "POST" else None,
                      headers={"Content-Type": "application/json"} if method == "POST" else None)
        time.sleep(0.2)
        before = T.wait_rss_stable(svc.pid, timeout=3)
        hwm_ok = T.reset_hwm(svc.pid)
        sampler = T.RssSampler(svc.pid)
        sampler.start()
        t0 = T.now()
        deadline = t0 + DEADLINE_S
        conns = open_conns(svc.port, N_CONN)
        # 1. Everything but the body's last byte, then hold: the service has
        # read what it will read once its sockets' receive queues are empty
        # (or closed) and its RSS is steady.
        pending = pump(conns, data, len(data) - 1, deadline, need_answer=False)
        drain_by = min(deadline, T.now() + 15)
        while T.now() < drain_by and server_rx_queued(svc.port) > 0:
            time.sleep(0.1)
        queued = server_rx_queued(svc.port)
        held = T.wait_rss_stable(svc.pid, timeout=5)
        t_held = T.now() - t0
        open_held = sum(1 for x in conns if not x.closed)
        # 2. The last byte: every connection is answered or closed.
        pending += pump(conns, data, len(data), deadline, need_answer=True)
        elapsed = T.now() - t0
        after = T.wait_rss_stable(svc.pid, timeout=5)
        sampled = sampler.stop()
        hwm = T.status_kib(svc.pid, "VmHWM") if hwm_ok else sampled
        peak = max(hwm, sampled, held, after)
        statuses = {}
        for x in conns:
            k = x.status if x.status is not None else ("closed" if x.closed else "none")
            statuses[k] = statuses.get(k, 0) + 1
        sent_all = sum(1 for x in conns if x.sent >= len(data))
        c.figure("%s: RSS before / held / peak / after (MiB)" % label, "%.1f / %.1f / %.1f / %.1f" % (
            T.mib(before), T.mib(held), T.mib(peak), T.mib(after)))
        c.figure("%s: growth held / peak" % label, "%.1f MiB / %.1f MiB (%s)" % (
            T.mib(held - before), T.mib(peak - before),
            "VmHWM after clear_refs" if hwm_ok else "polled VmRSS, clear_refs refused"))
        c.figure("%s: held phase" % label, "%d of %d open with 1 MiB - 1 byte sent, %d bytes unread "
                 "in the server's receive queues, after %.1fs" % (open_held, N_CONN, queued, t_held))
        c.figure("%s: answers" % label, "%s; %d of %d sent the whole body, %d still open, %.1fs" % (
            ", ".join("%s×%d" % (k, v) for k, v in sorted(statuses.items(), key=str)),
            sent_all, N_CONN, sum(1 for x in conns if not x.closed), elapsed))
        c.check(pending == 0, "%s: every connection answered or closed within %.0fs" % (label, DEADLINE_S),
                "%d neither answered nor closed" % pending)
        c.check(not any(isinstance(k, int) and k >= 500 for k in statuses),
                "%s: no 5xx" % label, str(statuses))
        c.check(T.mib(held - before) < LIMIT_MIB,
                "%s: %d connections holding 1 MiB - 1 byte of body raise RSS by < %.0f MiB"
                % (label, N_CONN, LIMIT_MIB), "%.1f MiB" % T.mib(held - before))
        c.check(T.mib(peak - before) < LIMIT_MIB,
                "%s: peak RSS growth over the whole exchange < %.0f MiB" % (label, LIMIT_MIB),
                "%.1f MiB" % T.mib(peak - before))
        for x in conns:
            x.sock.close()
        conns = []
        r = T.request(svc.port, "GET", "/healthz", timeout=10)
        c.check(svc.alive() and r.status == 200, "%s: the service answers /healthz 200 afterwards" % label,
                repr(r))
    finally:
        for x in conns:
            x.sock.close()
        if svc.proc is not None and svc.proc.poll() not in (None, 0):
            c.info("%s exited with %s; log:\n%s" % (label, svc.proc.returncode, svc.problem_lines()))
        svc.stop()


def main():
    c = T.Checker("held_bodies: %d connections with a 1 MiB body nobody asked for" % N_CONN)
    T.raise_nofile(4 * N_CONN + 256)
    only = [x for x in os.environ.get("HELD_BODIES_CASES", "").split(",") if x]
    for case in CASES:
        if only and case[0] not in only and "%s[%s]" % (case[0], case[5]) not in only:
            continue
        if case[5] == "pg" and not os.environ.get("PG_URL"):
            c.info("%s [pg]: skipped, no PostgreSQL (run through tests/faults/run.sh)" % case[0])
            continue
        try:
            run_case(c, *case)
        except Exception as e:
            c.check(False, "%s [%s]: ran to completion" % (case[0], case[5]),
                    "%s: %s" % (type(e).__name__, e))
    c.finish()


if __name__ == "__main__":
    main()
