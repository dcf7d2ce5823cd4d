"""HTTP/1.1 over loopback: requests through http.client, raw byte streams
over sockets, and a parser for the responses in such a stream."""

import http.client
import json
import re
import socket
import threading
import time


class Response:
    def __init__(self, status, reason, headers, body, elapsed=0.0):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body
        self.elapsed = elapsed  # seconds from sending to the whole body read
        self.method = self.target = None  # the request it answers, when known

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %.3fs %s %r>" % (self.status, self.elapsed, dict(self.headers.items()),
                                               self.body[:300])


def auth_headers(key, form="bearer"):
    """The header that presents key: Authorization: Bearer (form "bearer")
    or X-API-Key (any other form); none for key None."""
    if key is None:
        return []
    if form == "bearer":
        return [("Authorization", "Bearer " + key)]
    return [("X-API-Key", key)]


def connection(port, timeout=30):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def request(port, method, path, body=None, headers=None, timeout=10.0, conn=None, key=None,
            auth="x-api-key"):
    """One request; a fresh connection unless conn (http.client) is given.
    headers: dict or list of (name, value) (values may be bytes). body:
    bytes, str, or a JSON-able object (sent as application/json unless a
    Content-Type is given). key: sent as X-API-Key (auth="bearer":
    Authorization: Bearer).

    Raises OSError (socket.timeout included) / http.client.HTTPException."""
    hdrs = auth_headers(key, auth)
    hdrs += list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body).encode("utf-8")
        if "content-type" not in names:
            hdrs.append(("Content-Type", "application/json"))
    if isinstance(body, str):
        body = body.encode("utf-8")
    own = conn is None
    if own:
        conn = connection(port, timeout)
    t0 = time.monotonic()
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in hdrs:
            conn.putheader(k, v)
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        resp = Response(r.status, r.reason, r.headers, data, time.monotonic() - t0)
    finally:
        if own:
            conn.close()
    resp.method, resp.target = method, path
    return resp


def connect(port, timeout=10):
    """A TCP connection to the server, Nagle off (each send is a segment)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(s, timeout=10):
    """Reads until EOF. Returns (data, True) on EOF/reset, (data, False) if
    the server kept the connection open past the timeout."""
    s.settimeout(timeout)
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return b"".join(chunks), True
            chunks.append(b)
    except socket.timeout:
        return b"".join(chunks), False
    except ConnectionResetError:
        return b"".join(chunks), True


def parse_responses(data, head=()):
    """Splits raw bytes into responses [(status, {lower-name: [values]}, body)].
    head: indexes of responses that answer HEAD (no body). Stops at garbage."""
    out = []
    i = 0
    while i < len(data):
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            break
        lines = data[i:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
        if not m:
            break
        status = int(m.group(1))
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        i = end + 4
        n = 0
        if status >= 200 and status not in (204, 304) and len(out) not in head:
            n = int(hdrs.get("content-length", ["0"])[0])
        body = data[i:i + n]
        i += n
        out.append((status, hdrs, body))
    return out


def is_problem_503(r):
    """A 503 as issue 2 requires it: problem+json with Retry-After."""
    ct = (r.header("content-type") or "").split(";")[0].strip()
    return r.status == 503 and ct == "application/problem+json" and r.header("retry-after")


class HealthPoller(threading.Thread):
    """GET /healthz every interval on a fresh connection; records latencies."""

    def __init__(self, port, interval=0.2, timeout=5.0):
        super().__init__(daemon=True)
        self.port, self.interval, self.timeout = port, interval, timeout
        self.stop_ev = threading.Event()
        self.n = 0
        self.failures = []
        self.max_latency = 0.0

    def run(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            try:
                r = request(self.port, "GET", "/healthz", timeout=self.timeout)
                if r.status != 200:
                    self.failures.append("status %d" % r.status)
            except (OSError, http.client.HTTPException) as e:
                self.failures.append("%s: %s" % (type(e).__name__, e))
            lat = time.monotonic() - t
            self.n += 1
            self.max_latency = max(self.max_latency, lat)
            self.stop_ev.wait(max(0.0, self.interval - lat))

    def stop(self):
        self.stop_ev.set()
        self.join(self.timeout + 2)
