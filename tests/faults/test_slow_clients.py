#!/usr/bin/env python3
"""Hostile clients: slowloris, slow bodies, idle keep-alive, connection cap.

Service with HEADER_TIMEOUT_SECONDS=5, BODY_TIMEOUT_SECONDS=4,
KEEPALIVE_TIMEOUT_SECONDS=3 (issue 3, "Hostile clients"):
  1. slowhttptest opens 200 slow-header connections; the server-side
     established sockets (counted from /proc/net/tcp every 100 ms) are all
     gone within header timeout + 2 s of the last one opening, and /healthz
     from a normal client answers 200 throughout (polled every 200 ms);
  2. 50 slowloris connections of our own that send a header line every
     second (so an idle-based timer would never fire): each is closed within
     header timeout + 2 s of its opening (per-connection figures);
  3. a request body that stops, and one that trickles a byte every 0.5 s:
     408 (or a close) within body timeout + 2 s of the header section;
  4. an idle keep-alive connection is closed within keep-alive timeout + 2 s
     of its last response;
  5. a client that sends a request and half-closes at once gets its answer
     and a close within 2 s (200 tries), not a connection held open until
     the keep-alive timer.
Then MAX_CONNECTIONS=20: 30 idle connections; the 10 extra get an immediate
503 and a close, /metrics counts them in http_connections_rejected_total, and
the service serves normally once they go.
"""
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itemstest as T  # noqa: E402

HEADER_T, BODY_T, KEEPALIVE_T = 5, 4, 3
GRACE = 2.0


def established(port):
    """Server-side ESTABLISHED sockets on 127.0.0.1:port."""
    return len(T.server_sockets(port))


class Sampler(threading.Thread):
    def __init__(self, port, interval=0.1):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.stop_ev = threading.Event()
        self.samples = []

    def run(self):
        while not self.stop_ev.is_set():
            self.samples.append((T.now(), established(self.port)))
            self.stop_ev.wait(self.interval)

    def stop(self):
        self.stop_ev.set()
        self.join(5)


def read_until_close(sock, deadline):
    """Reads until EOF/reset or the deadline; returns (bytes, closed_at or None)."""
    data = b""
    while True:
        left = deadline - T.now()
        if left <= 0:
            return data, None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, None
        except OSError:
            return data, T.now()
        if not chunk:
            return data, T.now()
        data += chunk


def status_of(data):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    return int(m.group(1)) if m else None


def phase_slowhttptest(c, svc, tmp):
    if shutil.which("slowhttptest") is None:
        c.check(False, "slowhttptest installed", "tools/deps.sh stack installs it")
        return
    sampler = Sampler(svc.port)
    health = T.HealthPoller(svc.port, interval=0.2, timeout=5)
    sampler.start()
    health.start()
    time.sleep(0.3)
    prefix = os.path.join(tmp, "slowhttptest")
    cmd = ["slowhttptest", "-c", "200", "-H", "-i", "10", "-r", "200", "-t", "GET",
           "-u", "http://127.0.0.1:%d/healthz" % svc.port, "-x", "24", "-p", "3", "-l", "30",
           "-g", "-o", prefix]
    c.info(" ".join(cmd))
    t0 = T.now()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    t_end = T.now()
    time.sleep(0.5)
    sampler.stop()
    health.stop()
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    m = re.search(r"Exit status:\s*(.+)", text)
    c.figure("slowhttptest exit status", (m.group(1).strip() if m else "?") + " (rc %d)" % out.returncode)
    c.figure("slowhttptest run time", "%.1fs" % (t_end - t0))
    try:
        with open(prefix + ".csv") as f:
            rows = [line.strip().split(",") for line in f if line[:1].isdigit()]
        peak_conn = max(int(r[3]) for r in rows)
        last = rows[-1]
        c.figure("slowhttptest CSV: peak connected / last second",
                 "%d / second %s: closed %s, connected %s" % (peak_conn, last[0], last[1], last[3]))
    except (OSError, ValueError, IndexError) as e:
        c.info("slowhttptest CSV unreadable: %s" % e)

    samples = sampler.samples
    peak = max(n for _, n in samples)
    t_peak = next(t for t, n in samples if n == peak)
    # When (nearly) all slow connections were open: the first sample within
    # 2 of the peak (the health poller adds one short-lived connection).
    t_last_open = next(t for t, n in samples if n >= peak - 2)
    t_drained = next((t for t, n in samples if t > t_peak and n <= 1), None)
    c.figure("server-side connections: peak", peak)
    c.check(peak >= 190, "slowhttptest held (almost) all 200 connections open", "peak %d" % peak)
    first_open = next((t for t, n in samples if n > 1), t_peak)
    if t_drained is None:
        c.check(False, "all slow connections closed", "still %d at the end" % samples[-1][1])
    else:
        c.figure("time from first slow connection to all closed", "%.2fs" % (t_drained - first_open))
        c.figure("time from all slow connections open to all closed", "%.2fs" % (t_drained - t_last_open))
        c.check(t_drained - t_last_open <= HEADER_T + GRACE,
                "200 slowloris connections closed within header timeout + 2 s (%ds)" % (HEADER_T + GRACE),
                "%.2fs" % (t_drained - t_last_open))
    c.figure("/healthz during slowhttptest: polls / failures / max latency",
             "%d / %d / %.3fs" % (health.n, len(health.failures), health.max_latency))
    c.check(not health.failures, "/healthz kept answering 200 during slowhttptest", str(health.failures[:5]))
    c.check(health.max_latency <= 2.0, "/healthz answered within 2 s during slowhttptest",
            "%.2fs" % health.max_latency)


def phase_trickle_headers(c, svc, n=50):
    """Our own slowloris: a header line every second, per-connection timing."""
    health = T.HealthPoller(svc.port, interval=0.2, timeout=5)
    health.start()
    sel = selectors.DefaultSelector()
    conns = {}
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
        s.setblocking(False)
        conns[s] = {"opened": T.now(), "closed": None, "data": b"", "sent": 1}
        sel.register(s, selectors.EVENT_READ)
    limit = T.now() + HEADER_T + GRACE + 5
    next_tick = T.now() + 1.0
    while T.now() < limit and any(v["closed"] is None for v in conns.values()):
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            st = conns[s]
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if chunk:
                st["data"] += chunk
            else:
                st["closed"] = T.now()
                sel.unregister(s)
        if T.now() >= next_tick:
            next_tick += 1.0
            for s, st in conns.items():
                if st["closed"] is None:
                    try:
                        s.send(b"X-Slow-%d: a\r\n" % st["sent"])
                        st["sent"] += 1
                    except OSError:
                        pass
    health.stop()
    lifetimes = [st["closed"] - st["opened"] for st in conns.values() if st["closed"] is not None]
    still = sum(1 for st in conns.values() if st["closed"] is None)
    n408 = sum(1 for st in conns.values() if status_of(st["data"]) == 408)
    others = [status_of(st["data"]) for st in conns.values() if st["data"] and status_of(st["data"]) != 408]
    for s in conns:
        s.close()
    c.figure("trickled-header connections closed", "%d of %d (%d got a 408)" % (len(lifetimes), n, n408))
    if lifetimes:
        c.figure("trickled-header lifetime min / max", "%.2fs / %.2fs" % (min(lifetimes), max(lifetimes)))
    c.check(still == 0 and max(lifetimes or [99]) <= HEADER_T + GRACE,
            "slowloris trickling a header line per second is closed within header timeout + 2 s",
            "%d still open; max lifetime %.2fs" % (still, max(lifetimes or [0])))
    c.check(not others, "no other response than 408 to a slowloris connection", str(others[:5]))
    c.check(not health.failures and health.max_latency <= 2.0,
            "/healthz answered 200 within 2 s during the trickle",
            "%d failures, max %.2fs" % (len(health.failures), health.max_latency))


def phase_body(c, svc):
    head = ("POST /v1/items HTTP/1.1\r\nHost: slow\r\nX-API-Key: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n" % T.KEY1).encode()
    # (a) a body that stops
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    s.sendall(head + b'{"name": "slow')
    t = T.now()
    data, closed = read_until_close(s, t + BODY_T + GRACE + 5)
    s.close()
    st = status_of(data)
    c.figure("stalled body: answer / closed after", "%s / %s" % (
        st, "%.2fs" % (closed - t) if closed else "not closed"))
    c.check(closed is not None and closed - t <= BODY_T + GRACE and st in (408, None),
            "a stalled body gets 408/close within body timeout + 2 s",
            "status %s, closed %s" % (st, "%.2fs" % (closed - t) if closed else "never"))
    # (b) a body trickled one byte every 0.5 s (never idle for long)
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    s.sendall(head)
    t = T.now()
    s.setblocking(False)
    data, closed, sent = b"", None, 0
    limit = t + BODY_T + GRACE + 5
    while T.now() < limit and closed is None:
        r, _, _ = select_read(s, 0.5)
        if r:
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                chunk = None
            except OSError:
                chunk = b""
            if chunk == b"":
                closed = T.now()
            elif chunk:
                data += chunk
        else:
            try:
                s.send(b" ")
                sent += 1
            except OSError:
                pass
    s.close()
    st = status_of(data)
    c.figure("trickled body: bytes sent / answer / closed after", "%d / %s / %s" % (
        sent, st, "%.2fs" % (closed - t) if closed else "not closed"))
    c.check(closed is not None and closed - t <= BODY_T + GRACE and st in (408, None),
            "a trickled body (a byte per 0.5 s) gets 408/close within body timeout + 2 s",
            "status %s, closed %s" % (st, "%.2fs" % (closed - t) if closed else "never"))


def select_read(s, timeout):
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    ev = sel.select(timeout)
    sel.close()
    return ([s] if ev else []), [], []


def phase_keepalive(c, svc):
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: idle\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf or not buf.endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    t = T.now()
    c.check(status_of(buf) == 200, "keep-alive connection: first request 200", repr(buf[:60]))
    data, closed = read_until_close(s, t + KEEPALIVE_T + GRACE + 5)
    s.close()
    c.figure("idle keep-alive closed after", "%.2fs (bytes sent on close: %d)" % (
        closed - t, len(data)) if closed else "not closed")
    c.check(closed is not None and closed - t <= KEEPALIVE_T + GRACE,
            "idle keep-alive connection closed within keep-alive timeout + 2 s",
            "%.2fs" % (closed - t) if closed else "still open")
    # Informational: a connection that never sends a byte.
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    t = T.now()
    data, closed = read_until_close(s, t + max(HEADER_T, KEEPALIVE_T) + GRACE + 3)
    s.close()
    c.figure("silent new connection closed after", "%.2fs (bytes: %d)" % (closed - t, len(data))
             if closed else "not closed")
    c.check(closed is not None and closed - t <= max(HEADER_T, KEEPALIVE_T) + GRACE,
            "a connection that sends nothing is closed within max(header, keep-alive timeout) + 2 s")


def phase_half_close(c, svc, n=200):
    """A client that sends its request and half-closes at once (FIN in the
    same segment burst): the server answers, sees the EOF and closes; the
    connection must not be held until the idle keep-alive timer fires."""
    bound = 2.0
    lingering, lat = [], []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: halfclose\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        t = T.now()
        data, closed = read_until_close(s, t + KEEPALIVE_T + GRACE + 1)
        s.close()
        if status_of(data) != 200 or closed is None or closed - t > bound:
            lingering.append((i, status_of(data), "%.2fs" % (closed - t) if closed else "open"))
        if closed is not None:
            lat.append(closed - t)
    c.figure("request + immediate half-close: closed promptly", "%d of %d (slowest %.2fs)" % (
        n - len(lingering), n, max(lat or [0])))
    c.check(not lingering, "a client that half-closes after its request gets 200 and a close within %.0fs "
            "(not held until KEEPALIVE_TIMEOUT_SECONDS)" % bound,
            "%d of %d held open, e.g. (try, status, closed after) %s" % (len(lingering), n, lingering[:5]))


def phase_max_connections(c, url):
    cap, extra = 20, 10
    svc = T.Service("maxconn", env={"WORKER_THREADS": "2", "MAX_CONNECTIONS": str(cap),
                                    "ACCESS_LOG": "off"}, database_url=url)
    socks = []
    try:
        svc.start()
        time.sleep(0.5)  # the readiness probe's connection is gone
        for _ in range(cap + extra):
            socks.append(socket.create_connection(("127.0.0.1", svc.port), timeout=5))
            time.sleep(0.02)
        deadline = T.now() + 1.5
        rejected, held, odd = [], [], []
        for i, s in enumerate(socks):
            data, closed = read_until_close(s, max(deadline, T.now() + 0.05))
            if closed is not None and status_of(data) == 503:
                rejected.append(i)
            elif closed is None and not data:
                held.append(i)
            else:
                odd.append((i, data[:60], closed))
        c.figure("MAX_CONNECTIONS=%d, %d idle connections: held / 503+closed / other"
                 % (cap, cap + extra), "%d / %d / %d" % (len(held), len(rejected), len(odd)))
        c.check(len(held) == cap and len(rejected) == extra,
                "exactly %d connections held, the %d extra got 503 and a close" % (cap, extra),
                "held %d, rejected %d, other %s" % (len(held), len(rejected), odd[:3]))
        c.check(all(i >= cap for i in rejected), "the rejected ones are the connections over the cap",
                str(rejected))
        for s in socks:
            s.close()
        socks = []
        t = T.now()
        r = None
        while T.now() - t < 5:
            try:
                r = T.request(svc.port, "GET", "/metrics", key=T.KEY1, timeout=5)
                if r.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        c.check(r is not None and r.status == 200, "service serves again once the idle connections go",
                repr(r))
        if r is not None and r.status == 200:
            v = T.metric_sum(r.body.decode(), "http_connections_rejected_total")
            c.figure("http_connections_rejected_total", v)
            c.check(v is not None and v >= extra, "/metrics counts the rejected connections", str(v))
    finally:
        for s in socks:
            s.close()
        svc.stop()


def main():
    c = T.Checker("slow_clients: slowloris, slow body, idle keep-alive, connection cap")
    url = T.new_database("faults_slow")
    tmp = os.path.join(T.state_dir(), "slow")
    os.makedirs(tmp, exist_ok=True)
    svc = T.Service("slow", env={"WORKER_THREADS": "2", "HEADER_TIMEOUT_SECONDS": str(HEADER_T),
                                 "BODY_TIMEOUT_SECONDS": str(BODY_T),
                                 "KEEPALIVE_TIMEOUT_SECONDS": str(KEEPALIVE_T),
                                 "ACCESS_LOG": "off"}, database_url=url)
    try:
        svc.start()
        pid = svc.pid
        phase_slowhttptest(c, svc, tmp)
        phase_trickle_headers(c, svc)
        phase_body(c, svc)
        phase_keepalive(c, svc)
        phase_half_close(c, svc)
        c.check(svc.alive() and svc.pid == pid, "service alive throughout (pid %d)" % pid)
        svc.stop()
        phase_max_connections(c, url)
    except Exception as e:
        c.check(False, "test ran to completion", "%s: %s" % (type(e).__name__, e))
    finally:
        if svc.proc is not None and svc.proc.returncode not in (None, 0):
            c.info("service exit status %s; log:\n%s" % (svc.proc.returncode, svc.problem_lines()))
        svc.stop()
    c.finish()


if __name__ == "__main__":
    main()
