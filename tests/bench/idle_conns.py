#!/usr/bin/env python3
"""Memory per idle keep-alive connection of an HTTP server (issue 10).

    idle_conns.py --port P --pid PID [--pid PID...] [-n N] [--path /healthz]

Opens N connections to 127.0.0.1:P (in batches), sends one
`GET PATH HTTP/1.1` on each and reads its response, then leaves them all
open and idle. The figure is the growth of the summed VmRSS of the given
processes (and, with --children, of their direct children: nginx's workers)
from before the connections to after them, once it is steady, divided by N,
in KiB. The server is warmed first (a few connections, a few requests each)
so that its allocator arenas and code pages exist before the "before".

Prints one line: "KIB_PER_CONN BEFORE_KIB AFTER_KIB N OPEN" (OPEN: how many
of the N connections the server still held at the end). Exit status 1 when
the measurement itself failed (a connection refused, a response missing).

Python 3 standard library and tests/lib/itemstest (/proc readers); also imported by
tests/faults/test_idle_conns.py.
"""
import argparse
import os
import re
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from itemstest.procfs import raise_nofile, rss_kib, server_sockets  # noqa: E402


def now():
    return time.monotonic()


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def total_rss(pids, with_children=False):
    total = 0
    for p in pids:
        for q in [p] + (children(p) if with_children else []):
            try:
                total += rss_kib(q)
            except OSError:
                pass
    return total


def steady_rss(pids, with_children=False, timeout=10.0, interval=0.2, tolerance=32, samples=4):
    """Summed VmRSS once `samples` readings in a row lie within tolerance KiB."""
    deadline = now() + timeout
    window = []
    while True:
        window = (window + [total_rss(pids, with_children)])[-samples:]
        if len(window) == samples and max(window) - min(window) <= tolerance:
            return window[-1]
        if now() >= deadline:
            return window[-1]
        time.sleep(interval)


def _complete(rx):
    end = rx.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", rx[:end])
    return len(rx) >= end + 4 + (int(m.group(1)) if m else 0)


def open_idle(port, n, path="/healthz", batch=200, timeout=30.0, headers=""):
    """n keep-alive connections that each made one request and got a 2xx.
    Returns (sockets, errors); the caller closes the sockets."""
    req = ("GET %s HTTP/1.1\r\nHost: idle\r\n%s\r\n" % (path, headers)).encode()
    socks, errors = [], []
    deadline = now() + timeout
    while len(socks) < n and now() < deadline:
        sel = selectors.DefaultSelector()
        rx = {}
        for _ in range(min(batch, n - len(socks))):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(req)
            except OSError as e:
                errors.append("connect/send: %s" % e)
                continue
            s.setblocking(False)
            rx[s] = b""
            sel.register(s, selectors.EVENT_READ)
        while sel.get_map() and now() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    chunk = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    errors.append("closed before its response")
                    sel.unregister(s)
                    s.close()
                    del rx[s]
                    continue
                rx[s] += chunk
                if _complete(rx[s]):
                    sel.unregister(s)
                    if not re.match(rb"HTTP/1\.1 2\d\d ", rx[s]):
                        errors.append("status line %r" % rx[s][:40])
                    socks.append(s)
        for s in list(sel.get_map().values()):
            errors.append("no response in time")
            s.fileobj.close()
        sel.close()
    return socks, errors


def warm(port, path="/healthz", conns=20, reqs=5, headers=""):
    req = ("GET %s HTTP/1.1\r\nHost: warm\r\n%s\r\n" % (path, headers)).encode()
    for _ in range(conns):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for _ in range(reqs):
                s.sendall(req)
                rx = b""
                while not _complete(rx):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    rx += chunk


def measure(port, pids, n, path="/healthz", with_children=False, headers="", settle=0.5):
    """Returns a dict: kib_per_conn, before, after, n, open, errors, socks
    (the idle sockets, still open: the caller closes them)."""
    warm(port, path, headers=headers)
    time.sleep(settle)
    before = steady_rss(pids, with_children)
    socks, errors = open_idle(port, n, path, headers=headers)
    time.sleep(settle)
    after = steady_rss(pids, with_children)
    held = len(server_sockets(port))
    return {"kib_per_conn": (after - before) / float(max(1, len(socks))), "before": before,
            "after": after, "n": len(socks), "open": held, "errors": errors, "socks": socks}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, action="append", required=True)
    ap.add_argument("--children", action="store_true",
                    help="add the VmRSS of the PIDs' direct children (nginx workers)")
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--header", action="append", default=[], help="extra request header line")
    a = ap.parse_args()
    raise_nofile(a.n + 256)
    headers = "".join(h + "\r\n" for h in a.header)
    r = measure(a.port, a.pid, a.n, a.path, a.children, headers)
    for s in r["socks"]:
        s.close()
    for e in r["errors"][:5]:
        print("idle_conns: %s" % e, file=sys.stderr)
    print("%.2f %d %d %d %d" % (r["kib_per_conn"], r["before"], r["after"], r["n"], r["open"]))
    return 1 if r["errors"] or r["n"] < a.n else 0


if __name__ == "__main__":
    sys.exit(main())
