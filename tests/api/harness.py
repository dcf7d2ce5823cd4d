"""Test harness for the black-box API suite: starts the real binary, talks
HTTP to it, reads its logs. Standard library only (runs on Debian's python3).

Environment (set by tests/api/run.sh; all optional when run by hand):
  ITEMS_API_BIN       binary under test (default build/items-api, relative to
                      the repository root)
  ITEMS_API_BACKEND   sqlite | postgres (default sqlite)
  ITEMS_API_TEST_OUT  directory for server logs and databases (default: a
                      fresh temporary directory)
  PG_URL, PG_PORT, PG_DIR, PG_BIN, PG_USER, PG_PASSWORD
                      from lib/pg.sh, for the postgres backend
  SANDBOX, ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS
                      passed through to the server

Every server the suite starts writes stdout/stderr to files under
ITEMS_API_TEST_OUT/servers/; when it stops, the harness audits them: every
line is a JSON object, no API key or database password appears, no
sanitizer report, and the exit status is the expected one.
"""

import atexit
import http.client
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BACKEND = os.environ.get("ITEMS_API_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise SystemExit("ITEMS_API_BACKEND must be sqlite or postgres, not %r" % BACKEND)
BIN = os.path.join(REPO, os.environ.get("ITEMS_API_BIN") or "build/items-api")
OUT = os.environ.get("ITEMS_API_TEST_OUT") or tempfile.mkdtemp(prefix="items-api-test-")
SERVERS_DIR = os.path.join(OUT, "servers")
os.makedirs(SERVERS_DIR, exist_ok=True)

# Fresh keys for every run: if one of them ever shows up in a log, it came
# from this run's server.
KEY1 = "key1-" + secrets.token_hex(16)
KEY2 = "key2-" + secrets.token_hex(16)
PG_PASSWORD = os.environ.get("PG_PASSWORD", "")

# Generous bounds for liveness only; nothing asserts speed.
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0

PROBLEM_TYPE_PREFIX = "urn:items-api:problem:"
SANITIZER_MARKERS = (
    "AddressSanitizer",
    "LeakSanitizer",
    "UndefinedBehaviorSanitizer",
    "ThreadSanitizer",
    "runtime error:",
)
LIBPQ_NOTICE = re.compile(r"^(NOTICE|WARNING|DETAIL|HINT|CONTEXT|FATAL|ERROR|LOG|INFO|PANIC):  ")
PASSTHROUGH_ENV = ("PATH", "SANDBOX", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TZ")

_counter = itertools.count(1)
_live = set()
_live_lock = threading.Lock()


def free_port():
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port nobody listens on (bound, then released)."""
    return free_port()


def base_env(extra=None):
    env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env["LANG"] = "C.UTF-8"
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
    return env


def run_cli(args, env=None, timeout=60, cwd=None):
    """Runs the binary to completion. Returns CompletedProcess (text)."""
    return subprocess.run(
        [BIN] + list(args),
        env=base_env(env),
        cwd=cwd or scratch_dir("cli"),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )


def scratch_dir(tag):
    d = os.path.join(OUT, "scratch", "%s-%d" % (tag, next(_counter)))
    os.makedirs(d, exist_ok=True)
    return d


def parse_log_lines(text):
    """Parses JSON lines; returns (objects, bad_lines)."""
    objs, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            bad.append(line)
            continue
        try:
            o = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(o, dict) or not {"time", "level", "message"} <= set(o):
            bad.append(line)
            continue
        objs.append(o)
    return objs, bad


def secrets_in(text, extra_secrets=()):
    found = []
    for s in [KEY1, KEY2, PG_PASSWORD] + list(extra_secrets):
        if s and s in text:
            found.append(s[:6] + "...")
    return found


# ---------------------------------------------------------------- databases


class Database:
    """A fresh, empty database for one server: a file in a temporary
    directory (sqlite) or a new database on the test PostgreSQL."""

    def __init__(self, backend=BACKEND):
        self.backend = backend
        n = next(_counter)
        if backend == "sqlite":
            d = scratch_dir("sqlite")
            self.path = os.path.join(d, "items.db")
            self.url = "sqlite:" + self.path
        else:
            if not os.environ.get("PG_URL"):
                raise RuntimeError("postgres backend: PG_URL is not set (run via tests/api/run.sh)")
            self.name = "items_t%d_%d" % (os.getpid(), n)
            psql(["-d", "items", "-c", "CREATE DATABASE %s" % self.name])
            u = urllib.parse.urlsplit(os.environ["PG_URL"])
            self.url = urllib.parse.urlunsplit(u._replace(path="/" + self.name))

    _shared = None

    @classmethod
    def shared(cls):
        """One database for the servers that do not need an empty one of
        their own (each PostgreSQL database costs a copy of the template)."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def scalar(self, sql):
        """Runs one query; returns the first column of the first row as text."""
        if self.backend == "sqlite":
            con = sqlite3.connect(self.path, timeout=10)
            try:
                row = con.execute(sql).fetchone()
            finally:
                con.close()
            return None if row is None else str(row[0])
        out = psql(["-d", self.name, "-c", sql])
        return out.splitlines()[0] if out else None

    def execute(self, sql):
        """Runs one statement that returns nothing."""
        if self.backend == "sqlite":
            con = sqlite3.connect(self.path, timeout=10)
            try:
                with con:
                    con.execute(sql)
            finally:
                con.close()
        else:
            psql(["-d", self.name, "-c", sql])

    def count_items(self):
        return int(self.scalar("SELECT count(*) FROM items"))


def psql(args):
    env = dict(os.environ, PGPASSWORD=PG_PASSWORD, PGCONNECT_TIMEOUT="5")
    cmd = [os.path.join(os.environ["PG_BIN"], "psql"), "-h", os.environ.get("PG_HOST", "127.0.0.1"),
           "-p", os.environ["PG_PORT"], "-U", os.environ.get("PG_DBUSER") or "items", "-qAtX", "-v",
           "ON_ERROR_STOP=1"] + args
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql %s failed: %s" % (args, r.stderr.strip()))
    return r.stdout.strip()


def pg_ctl(*args):
    """pg_ctl_do from lib/pg.sh against the test server. A test that
    needs it skips (with its reason printed) against an external server
    (ITEMS_API_TEST_PG_URL), which the suite cannot stop and start."""
    if os.environ.get("ITEMS_API_PG_EXTERNAL"):
        raise unittest.SkipTest("stops and starts PostgreSQL (pg_ctl): not possible on the external "
                                "server in ITEMS_API_TEST_PG_URL; covered by the throwaway-server run")
    cmd = 'source "%s/lib/pg.sh" && pg_ctl_do "$@"' % REPO
    r = subprocess.run(["bash", "-c", cmd, "pg_ctl"] + list(args), capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("pg_ctl %s failed: %s %s" % (args, r.stdout, r.stderr))


# ---------------------------------------------------------------- HTTP


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body
        self.method = self.target = None  # the request it answers, when known

    def header(self, name):
        return self.headers.get(name)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %s %r>" % (self.status, dict(self.headers.items()), self.body[:300])


def http_request(port, method, path, body=None, headers=None, timeout=30, conn=None,
                 validate=True):
    """One request. headers: dict or list of (name, value) (values may be
    bytes). body: bytes, str, or a JSON-able object (sent as
    application/json unless a Content-Type is given).

    The response is checked against openapi.yaml (contract.py): a response
    the document does not allow raises contract.ContractViolation with the
    route and the validator's messages. validate=False is for a hop that
    another validator judges (the Prism proxy test); it is counted."""
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body).encode("utf-8")
        if "content-type" not in names:
            hdrs.append(("Content-Type", "application/json"))
    if isinstance(body, str):
        body = body.encode("utf-8")
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in hdrs:
            conn.putheader(k, v)
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        resp = Response(r.status, r.reason, r.headers, data)
    finally:
        if own:
            conn.close()
    resp.method, resp.target = method, path
    check_response(method, path, resp, validate)
    return resp


def check_response(method, target, resp, validate=True):
    """The contract check for one response (see contract.py)."""
    import contract  # here: contract -> openapi_doc -> harness
    if not validate:
        contract.TALLY.exclude("validate=False (judged by another validator)")
        return
    contract.validate_exchange(method, target, resp.status, resp.headers, resp.body)


def check_raw_stream(sent, received):
    """The contract check for the responses in a raw byte stream, whose
    requests are not parsed (they are deliberately malformed, smuggled or
    pipelined): a response whose status has one and the same response
    object on every operation of openapi.yaml (every 4xx/5xx here: they
    share components/responses) is checked against it; a stream of one
    request line and one response is checked against that route; the rest
    (2xx/3xx of several pipelined requests, 1xx interim responses, streams
    with a HEAD, whose responses cannot be split without knowing which
    one answers it) is counted as excluded, by reason."""
    import contract
    c = contract.contract()
    if re.search(rb"(^|\n)HEAD ", sent):
        contract.TALLY.exclude("raw byte stream with a HEAD request (responses not split)")
        return
    resps = parse_responses(received)
    lines = REQUEST_LINE_ANYWHERE.findall(sent)
    for status, hdrs, body in resps:
        if status < 200:
            contract.TALLY.exclude("raw byte stream: interim 1xx response")
            continue
        if len(resps) == 1 and len(lines) == 1 and REQUEST_LINE.match(sent):
            contract.validate_exchange(lines[0][0].decode(), lines[0][1].decode("latin-1"),
                                       status, hdrs, body)
            continue
        label, errs = c.check_unrouted(status, hdrs, body)
        if label is None:
            contract.TALLY.exclude("raw byte stream: %d of several requests (route unknown)"
                                   % status)
            continue
        contract.TALLY.record(label, errs)
        if errs:
            raise contract.ContractViolation("response violates openapi.yaml: %s\n  %s\n  (body: %r)"
                                             % (label, "\n  ".join(errs), body[:300]))


REQUEST_LINE_ANYWHERE = re.compile(rb"(?:^|\r\n)([A-Z]+) (/[^ \r\n]*) HTTP/1\.[01]\r\n")
REQUEST_LINE = re.compile(rb"^([A-Za-z]+) (/[^ \r\n]*) HTTP/1\.[01]\r\n")


def auth_headers(key, form="bearer"):
    if key is None:
        return []
    if form == "bearer":
        return [("Authorization", "Bearer " + key)]
    return [("X-API-Key", key)]


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


# ---------------------------------------------------------------- server


class ServerFailed(AssertionError):
    pass


class Server:
    """The real binary on a free loopback port."""

    def __init__(self, env=None, db=None, keys=(KEY1, KEY2), name="server", args=("serve",)):
        self.db = db if db is not None else Database.shared()
        self.keys = keys
        self.port = free_port()
        self.n = next(_counter)
        base = os.path.join(SERVERS_DIR, "%03d-%s" % (self.n, name))
        self.out_path = base + ".out"
        self.err_path = base + ".err"
        self.args = list(args)
        self.cwd = scratch_dir("cwd")
        self.env = {
            "PORT": self.port,
            "BIND_ADDRESS": "127.0.0.1",
            "DATABASE_URL": self.db.url,
            "API_KEYS": ",".join(keys) if keys else None,
            "DRAIN_SECONDS": 0,
            "SHUTDOWN_TIMEOUT_SECONDS": 10,
            "DB_STARTUP_TIMEOUT_SECONDS": 20,
            "LOG_LEVEL": "info",
        }
        self.env.update(env or {})
        self.proc = None
        self.extra_secrets = [k for k in (keys or ())]
        self.audited = False

    # -- lifecycle

    def start(self, wait=True):
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([BIN] + self.args, env=base_env(self.env), cwd=self.cwd,
                                     stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL)
        with _live_lock:
            _live.add(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed("server exited with %s before it was ready:\n%s"
                                   % (self.proc.returncode, self.output()))
            try:
                r = self.get("/readyz", key=None, timeout=5)
                if r.status == 200:
                    return
                last = r
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise ServerFailed("server not ready within %ss (last: %r):\n%s"
                           % (timeout, last, self.output()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise ServerFailed("server did not exit within %ss after SIGTERM" % timeout)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.wait_exit(timeout)
        finally:
            self._out.close()
            self._err.close()
            with _live_lock:
                _live.discard(self)
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with _live_lock:
            _live.discard(self)

    def stop_and_audit(self, expect_rc=0):
        """Stops the server and returns a list of problems found in its
        exit status and output (empty when clean)."""
        problems = []
        try:
            rc = self.stop()
        except ServerFailed as e:
            return [str(e)]
        if expect_rc is not None and rc != expect_rc:
            problems.append("exit status %s, expected %s" % (rc, expect_rc))
        problems += self.audit()
        return problems

    def audit(self):
        self.audited = True
        problems = []
        out, err = self.stdout(), self.stderr()
        _, bad = parse_log_lines(out)
        if bad:
            problems.append("stdout lines that are not JSON log objects: %r" % bad[:3])
        leaked = secrets_in(out + err, self.extra_secrets)
        if leaked:
            problems.append("secrets in the server's output: %s" % leaked)
        for m in SANITIZER_MARKERS:
            if m in err:
                problems.append("sanitizer report on stderr (%s):\n%s" % (m, err[-4000:]))
                break
        else:
            # libpq's default notice processor writes server NOTICEs raw to
            # stderr; that bug has its own regression test
            # (t80_regressions.PgNoticeTest), so it does not fail every test.
            _, bad_err = parse_log_lines("\n".join(l for l in err.splitlines()
                                                   if not LIBPQ_NOTICE.match(l)))
            if bad_err:
                problems.append("stderr lines that are not JSON log objects: %r" % bad_err[:3])
        return problems

    # -- output

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def output(self):
        return "--- stdout\n%s\n--- stderr\n%s" % (self.stdout()[-6000:], self.stderr()[-6000:])

    def logs(self):
        return parse_log_lines(self.stdout())[0]

    def access_logs(self):
        return [o for o in self.logs() if o.get("message") == "request"]

    # -- HTTP

    def request(self, method, path, body=None, headers=None, key=KEY1, auth="bearer",
                timeout=30, conn=None, validate=True):
        hdrs = auth_headers(key, auth)
        if isinstance(headers, dict):
            hdrs += list(headers.items())
        elif headers:
            hdrs += list(headers)
        return http_request(self.port, method, path, body, hdrs, timeout, conn, validate)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def connection(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def raw_request(self, data, method="GET", timeout=10):
        """Sends hand-made request bytes on a new connection and parses the
        first response (without waiting for anything the request declares
        but does not send). Returns (Response, closed_after).

        The response is checked against openapi.yaml like any other when
        the request line is an HTTP/1.x origin-form one; a request without
        one (deliberately broken) has no route to check it against, and is
        counted as excluded."""
        s = self.connect(timeout)
        try:
            s.sendall(data)
            resp = http.client.HTTPResponse(s, method=method)
            resp.begin()
            body = resp.read()
            r = Response(resp.status, resp.reason, resp.headers, body)
            rest, closed = read_until_close(s, 2)
        finally:
            s.close()
        m = REQUEST_LINE.match(data)
        if m:
            r.method, r.target = m.group(1).decode(), m.group(2).decode("latin-1")
            check_response(m.group(1).decode(), m.group(2).decode("latin-1"), r)
        else:
            import contract
            contract.TALLY.exclude("raw_request without an HTTP/1.x request line")
        return r, closed and rest == b""

    def raw(self, data, half_close=True, timeout=10):
        """Sends bytes on a new connection, optionally half-closes, reads
        until the server closes. Returns (bytes, closed_by_server).

        The responses are checked against openapi.yaml as far as a byte
        stream of deliberately malformed, smuggled or pipelined requests
        allows (check_raw_stream)."""
        out, closed = self._raw(data, half_close, timeout)
        check_raw_stream(data, out)
        return out, closed

    def _raw(self, data, half_close=True, timeout=10):
        s = self.connect(timeout)
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            return read_until_close(s, timeout)
        finally:
            s.close()


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


@atexit.register
def _kill_leftovers():
    for s in list(_live):
        s.kill()


# ---------------------------------------------------------------- test base

SQL_LEAK = re.compile(r"\b(select|insert|update|delete)\b.*\b(from|into|set)\b|sqlite|libpq|"
                      r"syntax error|relation \"|constraint|pq:|SQLSTATE", re.I)
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ITEM_KEYS = {"id", "name", "data", "version", "created_at", "updated_at"}


class ApiAssertions:
    """Assertions shared by every test class."""

    def assertProblem(self, r, status, slug=None, blank=None):
        """A problem+json response. slug: the urn:items-api:problem:<slug>
        type; blank=True: type about:blank."""
        self.assertEqual(r.status, status, r)
        ct = r.header("Content-Type") or ""
        self.assertTrue(ct.startswith("application/problem+json"), "Content-Type %r: %r" % (ct, r))
        p = r.json()
        for k in ("type", "title", "status", "detail", "request_id"):
            self.assertIn(k, p, r)
        self.assertEqual(p["status"], status, r)
        self.assertIsInstance(p["title"], str)
        self.assertIsInstance(p["detail"], str)
        self.assertEqual(p["request_id"], r.header("X-Request-Id"), r)
        if slug is not None:
            self.assertEqual(p["type"], PROBLEM_TYPE_PREFIX + slug, r)
        if blank:
            self.assertEqual(p["type"], "about:blank", r)
        self.assertIsNone(SQL_LEAK.search(p["detail"]), "internal detail leaked: %r" % p)
        return p

    def assertValidationProblem(self, r, fields=None):
        p = self.assertProblem(r, 422, "validation-error")
        self.assertIsInstance(p.get("errors"), list, r)
        self.assertGreater(len(p["errors"]), 0, r)
        for e in p["errors"]:
            self.assertIsInstance(e.get("field"), str, r)
            self.assertIsInstance(e.get("message"), str, r)
        if fields is not None:
            got = {e["field"] for e in p["errors"]}
            for f in fields:
                self.assertIn(f, got, r)
        return p

    def assertItem(self, item, name=None, data=None, version=None):
        self.assertEqual(set(item), ITEM_KEYS, item)
        self.assertIsInstance(item["id"], int)
        self.assertGreater(item["id"], 0)
        self.assertIsInstance(item["name"], str)
        self.assertIsInstance(item["data"], dict)
        self.assertIsInstance(item["version"], int)
        self.assertGreaterEqual(item["version"], 1)
        self.assertRegex(item["created_at"], RFC3339_MS)
        self.assertRegex(item["updated_at"], RFC3339_MS)
        self.assertLessEqual(item["created_at"], item["updated_at"])
        if name is not None:
            self.assertEqual(item["name"], name)
        if data is not None:
            self.assertEqual(item["data"], data)
        if version is not None:
            self.assertEqual(item["version"], version)


class ServerTestCase(unittest.TestCase, ApiAssertions):
    """One server (and one fresh database) per test class."""

    server_env = {}
    server_keys = (KEY1, KEY2)

    @classmethod
    def setUpClass(cls):
        cls.db = Database()
        cls.srv = Server(env=cls.server_env, db=cls.db, keys=cls.server_keys, name=cls.__name__)
        try:
            cls.srv.start()
        except BaseException:
            cls.srv.kill()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv.audited:  # a test stopped and audited it already
            cls.srv.kill()
            return
        problems = cls.srv.stop_and_audit()
        if problems:
            raise AssertionError("%s: server audit failed:\n%s\n%s"
                                 % (cls.__name__, "\n".join(problems), cls.srv.output()))

    # -- shortcuts

    def req(self, method, path, body=None, headers=None, **kw):
        return self.srv.request(method, path, body, headers, **kw)

    def create(self, name="item", data=None, headers=None, key=KEY1):
        body = {"name": name} if data is None else {"name": name, "data": data}
        r = self.req("POST", "/v1/items", body, headers, key=key)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def post_raw(self, body, content_type="application/json", headers=None, path="/v1/items",
                 method="POST"):
        h = [("Content-Type", content_type)] + list(headers or [])
        return self.req(method, path, body, h)


class TempServer:
    """Context manager for a server a single test needs for itself;
    audits its output on exit."""

    def __init__(self, test, env=None, keys=(KEY1, KEY2), db=None, name=None, expect_rc=0,
                 wait=True):
        self.test = test
        self.srv = Server(env=env, db=db, keys=keys, name=name or test.id().split(".")[-1])
        self.expect_rc = expect_rc
        self.wait = wait

    def __enter__(self):
        try:
            self.srv.start(wait=self.wait)
        except BaseException:
            self.srv.kill()
            raise
        return self.srv

    def __exit__(self, et, ev, tb):
        if self.srv.audited:
            self.srv.kill()
            return False
        problems = self.srv.stop_and_audit(self.expect_rc)
        if problems and et is None:
            self.test.fail("server audit failed:\n%s\n%s" % ("\n".join(problems),
                                                            self.srv.output()))
        return False


def backend_is(name):
    return BACKEND == name


def only_backend(name):
    return unittest.skipUnless(BACKEND == name, "needs the %s backend (this run: %s)"
                               % (name, BACKEND))
