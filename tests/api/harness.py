"""The black-box API suite's part of the test library: a server per test
class with a fresh database, every response checked against openapi.yaml
(contract.py), every server's output audited when it stops, and the
assertions the test files share. Processes, ports, PostgreSQL and HTTP come
from tests/lib/itemstest; the names the test files import from here stay
here (re-exported). Standard library only (runs on Debian's python3).

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

import http.client
import itertools
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from itemstest import client, pg  # noqa: E402
from itemstest.client import (Response, auth_headers, parse_responses,  # noqa: E402,F401
                              read_until_close)
from itemstest.paths import REPO, RELEASE_BIN as BIN  # noqa: E402,F401
from itemstest.ports import closed_port, free_port  # noqa: E402,F401
from itemstest.service import KEY1, KEY2, Service, ServiceFailed, parse_log_lines  # noqa: E402

BACKEND = os.environ.get("ITEMS_API_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise SystemExit("ITEMS_API_BACKEND must be sqlite or postgres, not %r" % BACKEND)
OUT = os.environ.get("ITEMS_API_TEST_OUT") or tempfile.mkdtemp(prefix="items-api-test-")
SERVERS_DIR = os.path.join(OUT, "servers")
os.makedirs(SERVERS_DIR, exist_ok=True)

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

ServerFailed = ServiceFailed
_counter = itertools.count(1)


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
            self.name = "items_t%d_%d" % (os.getpid(), n)
            self.url = pg.create_database(self.name)

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
    """psql ARGS against the test server; its output, stripped."""
    return pg.run_psql(args).strip()


def pg_ctl(*args):
    """pg_ctl_do from lib/pg.sh against the test server. A test that
    needs it skips (with its reason printed) against an external server
    (ITEMS_API_TEST_PG_URL), which the suite cannot stop and start."""
    if os.environ.get("ITEMS_API_PG_EXTERNAL"):
        raise unittest.SkipTest("stops and starts PostgreSQL (pg_ctl): not possible on the external "
                                "server in ITEMS_API_TEST_PG_URL; covered by the throwaway-server run")
    pg.pg_ctl(*args)


# ---------------------------------------------------------------- HTTP


def http_request(port, method, path, body=None, headers=None, timeout=30, conn=None,
                 validate=True):
    """One request (itemstest.client.request). headers: dict or list of
    (name, value) (values may be bytes). body: bytes, str, or a JSON-able
    object (sent as application/json unless a Content-Type is given).

    The response is checked against openapi.yaml (contract.py): a response
    the document does not allow raises contract.ContractViolation with the
    route and the validator's messages. validate=False is for a hop that
    another validator judges (the Prism proxy test); it is counted."""
    resp = client.request(port, method, path, body, headers, timeout, conn)
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


# ---------------------------------------------------------------- server


class Server(Service):
    """The real binary on a free loopback port, its stdout and stderr in
    SERVERS_DIR, every response it gives checked against openapi.yaml."""

    ready_timeout = READY_TIMEOUT

    def __init__(self, env=None, db=None, keys=(KEY1, KEY2), name="server", args=("serve",)):
        self.db = db if db is not None else Database.shared()
        self.keys = keys
        self.n = next(_counter)
        base = os.path.join(SERVERS_DIR, "%03d-%s" % (self.n, name))
        settings = {
            "SHUTDOWN_TIMEOUT_SECONDS": 10,
            "DB_STARTUP_TIMEOUT_SECONDS": 20,
            "METRICS_EMF_INTERVAL_SECONDS": None,
        }
        settings.update(env or {})
        super().__init__(name, env=settings, binary=BIN, database_url=self.db.url, keys=keys,
                         args=args, base_env=base_env(), cwd=scratch_dir("cwd"),
                         out_path=base + ".out", err_path=base + ".err", new_session=False,
                         record_pid=False)
        self.extra_secrets = [k for k in (keys or ())]
        self.audited = False

    # -- lifecycle

    def wait_started(self):
        self.wait_ready()

    def probe(self, path, timeout):
        return self.get(path, key=None, timeout=timeout)

    def wait_ready(self, timeout=READY_TIMEOUT):
        """/readyz answers 200 (raises ServerFailed otherwise)."""
        self.wait_for("/readyz", timeout, probe_timeout=5, interval=0.05, strict=True)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerFailed("server did not exit within %ss after SIGTERM" % timeout)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; returns the exit status."""
        return super().stop(timeout, strict=True)

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
        return client.connection(self.port, timeout)

    def connect(self, timeout=10):
        return client.connect(self.port, timeout)

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
