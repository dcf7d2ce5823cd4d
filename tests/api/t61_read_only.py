"""A demoted or read-only PostgreSQL must not poison the pool (issue 12,
point 2): a session that answers SQLSTATE 25006 (read-only), 57P01/57P02/
57P03 (shutdown, cannot connect now) or a class 08 error, or whose server
reports default_transaction_read_only / in_hot_standby = on, is dropped and
opened again through the connection string's host name; the request gets
503 with Retry-After (problem+json), never a 500, never a hang; once the
server takes writes again the service recovers by itself, without a
restart."""

import os
import socket
import subprocess
import threading
import time
import urllib.parse

import harness
from harness import (Database, Server, ServerTestCase, TempServer, only_backend, psql,
                     scratch_dir)

# Liveness bounds only (a busy 2-core box): the design recovers within the
# connector's 0.5 s backoff; these allow for scheduling.
HANG = 10          # no request may take longer than this
RECOVERY = 10      # writes succeed again within this after the server does
SETTLE = 15        # a state change is seen within this


def backends(db):
    """The service's sessions on db (pids)."""
    out = psql(["-d", "items", "-c",
                "SELECT pid FROM pg_stat_activity WHERE datname = '%s' "
                "AND application_name = 'items-api' AND backend_type = 'client backend'"
                % db.name])
    return {int(p) for p in out.split()}


def set_read_only(on):
    """The whole test cluster read-only (or back), as a demoted primary or a
    standby answers; applied to open sessions by pg_reload_conf()."""
    stmt = ("ALTER SYSTEM SET default_transaction_read_only = on" if on
            else "ALTER SYSTEM RESET default_transaction_read_only")
    # The admin session itself must be able to write while it undoes it.
    psql(["-d", "items", "-c", "SET default_transaction_read_only = off", "-c", stmt,
          "-c", "SELECT pg_reload_conf()"])


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("not within %ss: %s" % (timeout, what))
        time.sleep(0.1)


class _Base(ServerTestCase):

    def assert503(self, r):
        p = self.assertProblem(r, 503, "unavailable")
        self.assertRegex(r.header("Retry-After") or "", r"^\d+$", r)
        return p

    def timed(self, method, path, body=None, headers=None):
        t0 = time.monotonic()
        r = self.req(method, path, body, headers, timeout=HANG + 5)
        dt = time.monotonic() - t0
        self.assertLess(dt, HANG, "%s %s took %.1fs" % (method, path, dt))
        return r

    def wait_pool(self, n):
        return wait_for(lambda: len(backends(self.db)) == n and backends(self.db), SETTLE,
                        "the pool holds %d sessions" % n)


class SessionEndingErrorsTest(_Base):
    """Each SQLSTATE that says "this session is useless" drops the session:
    raised here by a trigger, so that nothing else about the server changes
    and only the error can be the reason for the reconnect."""

    server_env = {"WORKER_THREADS": 1, "DB_POOL_SIZE": 1, "DB_POOL_TIMEOUT_MS": 1000,
                  "DB_STATEMENT_TIMEOUT_MS": 3000, "DB_CONNECT_TIMEOUT_SECONDS": 2}

    def raise_on_write(self, sqlstate):
        self.db.execute(
            "CREATE OR REPLACE FUNCTION t61_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 't61 says %s' USING ERRCODE = '%s'; END$$"
            % (sqlstate, sqlstate))
        self.db.execute("DROP TRIGGER IF EXISTS t61_fail ON items")
        self.db.execute("CREATE TRIGGER t61_fail BEFORE INSERT OR UPDATE OR DELETE ON items "
                        "FOR EACH ROW EXECUTE FUNCTION t61_fail()")

    def writes_again(self):
        self.db.execute("DROP TRIGGER IF EXISTS t61_fail ON items")

    @only_backend("postgres")
    def test_session_ending_sqlstates_drop_the_session_and_answer_503(self):
        item = self.create("before")
        path = "/v1/items/%d" % item["id"]
        for state in ("25006", "57P01", "57P02", "57P03", "08006", "08P01"):
            with self.subTest(sqlstate=state):
                before = self.wait_pool(1)
                self.raise_on_write(state)
                try:
                    for method, p, body in (("POST", "/v1/items", {"name": "x"}),
                                            ("PUT", path, {"name": "y"}),
                                            ("DELETE", path, None)):
                        r = self.timed(method, p, body)
                        self.assertNotEqual(r.status, 500, r)
                        self.assert503(r)
                        # The session that saw the error is gone, a new one
                        # took its place.
                        wait_for(lambda: not (backends(self.db) & before), SETTLE,
                                 "session %s still open after SQLSTATE %s" % (before, state))
                        before = self.wait_pool(1)
                    self.assertEqual(self.timed("GET", path).status, 200)
                finally:
                    self.writes_again()
                r = self.timed("POST", "/v1/items", {"name": "after " + state})
                self.assertEqual(r.status, 201, r)
        self.assertIsNone(self.srv.proc.poll(), "the service restarted")

    @only_backend("postgres")
    def test_other_errors_keep_the_session(self):
        """A serialization failure (40001) is a 503 too, but the session is
        fine: it must not be dropped (no reconnect storm on contention)."""
        before = self.wait_pool(1)
        self.raise_on_write("40001")
        try:
            r = self.timed("POST", "/v1/items", {"name": "x"})
            self.assert503(r)
        finally:
            self.writes_again()
        self.assertEqual(self.timed("POST", "/v1/items", {"name": "y"}).status, 201)
        self.assertEqual(backends(self.db), before)

    @only_backend("postgres")
    def test_terminated_backend_mid_query_is_503_then_replaced(self):
        """pg_terminate_backend (57P01 FATAL, then EOF) while a request waits
        in the server: that request is a 503, the next ones are served."""
        item = self.create("locked")
        path = "/v1/items/%d" % item["id"]
        self.wait_pool(1)
        locker = subprocess.Popen(
            [os.path.join(os.environ["PG_BIN"], "psql"), "-h", os.environ.get("PG_HOST", "127.0.0.1"),
             "-p", os.environ["PG_PORT"], "-U", os.environ.get("PG_DBUSER") or "items",
             "-d", self.db.name, "-qAtX", "-c",
             "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT"],
            env=dict(os.environ, PGPASSWORD=os.environ.get("PG_PASSWORD", ""),
                     PGAPPNAME="t61-locker"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: psql(["-d", "items", "-c",
                                   "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
                                   "USING (pid) WHERE a.datname = '%s' AND l.mode = "
                                   "'AccessExclusiveLock' AND l.granted" % self.db.name]) != "0",
                     SETTLE, "the table lock")
            got = {}

            def get():
                got["r"] = self.req("GET", path, timeout=HANG + 5)

            t = threading.Thread(target=get)
            t.start()
            waiting = wait_for(lambda: psql(["-d", "items", "-c",
                                             "SELECT pid FROM pg_stat_activity WHERE datname = "
                                             "'%s' AND application_name = 'items-api' AND "
                                             "wait_event_type = 'Lock'" % self.db.name]),
                               SETTLE, "the service's query waiting for the lock")
            psql(["-d", "items", "-c", "SELECT pg_terminate_backend(%s)" % waiting.split()[0]])
            t.join(HANG + 10)
            self.assertFalse(t.is_alive(), "the request hung")
            self.assert503(got["r"])
        finally:
            # pg_sleep does not notice its client leave: end the session.
            psql(["-d", "items", "-c", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE application_name = 't61-locker'"])
            locker.kill()
            locker.wait()
        r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(self.timed("GET", path)),
                     RECOVERY, "GET served again")
        self.assertEqual(r.json(), item)
        self.assertEqual(self.timed("POST", "/v1/items", {"name": "after"}).status, 201)


class ReadOnlyServerUnderLoadTest(_Base):
    """The whole server turns read-only under load (as a demoted primary
    that came back as a standby would answer) and back."""

    server_env = {"WORKER_THREADS": 1, "DB_POOL_SIZE": 2, "DB_POOL_TIMEOUT_MS": 1000,
                  "DB_STATEMENT_TIMEOUT_MS": 3000, "DB_CONNECT_TIMEOUT_SECONDS": 2}

    @only_backend("postgres")
    def test_read_only_under_load_is_503_then_recovers_without_restart(self):
        item = self.create("seed")
        path = "/v1/items/%d" % item["id"]
        pid = self.srv.proc.pid
        old = self.wait_pool(2)
        log, errors, stop = [], [], threading.Event()
        lock = threading.Lock()

        def client(n):
            i = 0
            while not stop.is_set():
                i += 1
                write = i % 2 == 0
                t0 = time.monotonic()
                try:
                    if write:
                        r = self.srv.request("POST", "/v1/items", {"name": "load %d-%d" % (n, i)},
                                             timeout=HANG + 5)
                    else:
                        r = self.srv.request("GET", path, timeout=HANG + 5)
                except Exception as e:  # a hang or a contract violation
                    with lock:
                        errors.append(repr(e))
                    continue
                dt = time.monotonic() - t0
                with lock:
                    log.append((t0, write, r.status, dt))
                    if r.status == 503:
                        try:
                            self.assert503(r)
                        except AssertionError as e:
                            errors.append(str(e))
                    elif r.status not in (200, 201):
                        errors.append(repr(r))
                time.sleep(0.01)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        t_ro = t_rw = None
        try:
            time.sleep(1)
            set_read_only(True)
            t_ro = time.monotonic()
            # Writes turn into 503 ...
            wait_for(lambda: any(w and s == 503 and t0 > t_ro for t0, w, s, _ in list(log)),
                     SETTLE, "a 503 for a write on the read-only server")
            # ... and stay so (a session opened before the reload may commit
            # one last transaction; afterwards none is acknowledged).
            time.sleep(1.5)
            t_check = time.monotonic()
            time.sleep(1.5)
            late = [s for t0, w, s, _ in list(log) if w and t0 > t_check]
            self.assertTrue(late, "no writes were attempted")
            self.assertEqual(set(late), {503}, "writes acknowledged by a read-only server")
            # No session on the read-only server is kept: the pool's old
            # sessions were dropped.
            wait_for(lambda: not (backends(self.db) & old), SETTLE,
                     "sessions kept on the read-only server")
            # Not ready either: the balancer prefers the other instances.
            self.assert503(self.timed("GET", "/readyz"))
        finally:
            set_read_only(False)
            t_rw = time.monotonic()
        try:
            wait_for(lambda: any(w and s == 201 and t0 > t_rw for t0, w, s, _ in list(log)),
                     RECOVERY, "a write succeeds once the server is read-write again")
            first_ok = min(t0 + dt for t0, w, s, dt in list(log) if w and s == 201 and t0 > t_rw)
            print("\n  read-only: first 503 after %.2fs; writes again %.2fs after read-write"
                  % (min(t0 for t0, w, s, _ in log if s == 503 and t0 > t_ro) - t_ro,
                     first_ok - t_rw), end=" ")
            time.sleep(1)
        finally:
            stop.set()
            for t in threads:
                t.join(HANG + 10)
        self.assertFalse(any(t.is_alive() for t in threads), "a client hung")
        self.assertEqual(errors, [])
        statuses = {s for _, _, s, _ in log}
        self.assertNotIn(500, statuses)
        self.assertLessEqual(statuses, {200, 201, 503})
        self.assertLess(max(dt for _, _, _, dt in log), HANG)
        # Recovered: every pooled session works, no restart.
        self.wait_pool(2)
        for _ in range(10):
            self.assertEqual(self.timed("POST", "/v1/items", {"name": "after"}).status, 201)
            self.assertEqual(self.timed("GET", path).status, 200)
        self.assertEqual(self.srv.proc.pid, pid)
        self.assertIsNone(self.srv.proc.poll(), "the service exited")
        msgs = [o.get("error", "") for o in self.srv.logs()]
        self.assertTrue(any("read-only" in m for m in msgs), "the drop was not logged")


class ExplicitTargetSessionAttrsTest(_Base):
    """target_session_attrs in DATABASE_URL wins over the service's
    read-write default: with =any the service keeps serving reads from a
    read-only server, and writes are still 503 (25006), never 500."""

    @only_backend("postgres")
    def test_target_session_attrs_any_in_database_url_is_respected(self):
        db = Database()
        sep = "&" if "?" in db.url else "?"
        env = {"DATABASE_URL": db.url + sep + "target_session_attrs=any", "WORKER_THREADS": 1,
               "DB_POOL_SIZE": 1, "DB_POOL_TIMEOUT_MS": 1000, "DB_STATEMENT_TIMEOUT_MS": 3000}
        with TempServer(self, db=db, env=env) as srv:
            self.srv = srv
            item = self.create("seed")
            path = "/v1/items/%d" % item["id"]
            set_read_only(True)
            try:
                # Reads keep working on the read-only server ...
                wait_for(lambda: self.timed("POST", "/v1/items", {"name": "x"}).status == 503,
                         SETTLE, "a 503 for a write")
                for _ in range(5):
                    self.assertEqual(self.timed("GET", path).status, 200)
                    self.assert503(self.timed("POST", "/v1/items", {"name": "x"}))
            finally:
                set_read_only(False)
            wait_for(lambda: self.timed("POST", "/v1/items", {"name": "y"}).status == 201,
                     RECOVERY, "writes again")

    @classmethod
    def setUpClass(cls):
        pass  # no shared server: the test starts its own

    @classmethod
    def tearDownClass(cls):
        pass


class _Relay:
    """A TCP relay from LISTEN to TARGET that counts its connections: the
    "old server" a name can point at."""

    def __init__(self, listen, target):
        self.target = target
        self.accepted = 0
        self.live = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(listen)
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            with self.lock:
                self.accepted += 1
                self.live += 1
            left = [2]

            def pump(a, b, left):
                try:
                    while True:
                        d = a.recv(65536)
                        if not d:
                            break
                        b.sendall(d)
                except OSError:
                    pass
                for x in (a, b):
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                with self.lock:
                    left[0] -= 1
                    if left[0] == 0:
                        self.live -= 1
                        a.close()
                        b.close()

            threading.Thread(target=pump, args=(c, u, left), daemon=True).start()
            threading.Thread(target=pump, args=(u, c, left), daemon=True).start()

    def close(self):
        self.sock.close()


class _NamespacedServer(Server):
    """The service in a private mount namespace whose /etc/hosts is HOSTS
    (a bind mount): the test changes what a name resolves to, as a fail-over
    changes the RDS endpoint's record."""

    def __init__(self, hosts, **kw):
        super().__init__(**kw)
        self.hosts = hosts

    def command(self):
        # unshare and sh exec: the pid is the service's.
        return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                self.hosts, self.binary] + self.args


class NameReResolvedTest(_Base):
    """Every new connection resolves the host name again: after the name
    moves, the sessions the service opens go to the new address; nothing
    (libpq, the connector thread, glibc) keeps the old one."""

    @only_backend("postgres")
    def test_new_connections_follow_the_name(self):
        if os.geteuid() != 0 or os.environ.get("ITEMS_API_PG_EXTERNAL"):
            self.skipTest("needs root (a private mount namespace for /etc/hosts) and the "
                          "throwaway PostgreSQL on 127.0.0.1")
        db = Database()
        port = int(os.environ["PG_PORT"])
        hosts = os.path.join(scratch_dir("hosts"), "hosts")

        def point(addr):
            # In place: the bind mount follows the file, not the name.
            with open(hosts, "w") as f:
                f.write("127.0.0.1 localhost\n%s t61-db.test\n" % addr)

        point("127.0.0.2")
        old = _Relay(("127.0.0.2", port), ("127.0.0.1", port))
        u = urllib.parse.urlsplit(db.url)
        url = urllib.parse.urlunsplit(u._replace(netloc=u.netloc.replace(
            "%s:%d" % (u.hostname, port), "t61-db.test:%d" % port)))
        self.srv = _NamespacedServer(hosts, db=db, name="NameReResolvedTest", env={
            "DATABASE_URL": url, "WORKER_THREADS": 1, "DB_POOL_SIZE": 2,
            "DB_POOL_TIMEOUT_MS": 1000, "DB_STATEMENT_TIMEOUT_MS": 3000})
        try:
            self.srv.start()
            self.db = db
            self.assertEqual(self.timed("POST", "/v1/items", {"name": "via old"}).status, 201)
            self.wait_pool(2)
            wait_for(lambda: old.live == 2, SETTLE, "the pool on the name's first address")
            accepted = old.accepted
            # The fail-over: the name moves, the old server ends its sessions.
            point("127.0.0.1")
            psql(["-d", "items", "-c", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = '%s' AND application_name = 'items-api'" % db.name])
            wait_for(lambda: self.timed("POST", "/v1/items", {"name": "via new"}).status == 201,
                     RECOVERY, "writes through the moved name")
            self.wait_pool(2)
            self.assertEqual(old.accepted, accepted, "a new session went to the old address")
            wait_for(lambda: old.live == 0, SETTLE, "sessions left on the old address")
            pid = self.srv.proc.pid
            self.assertIsNone(self.srv.proc.poll(), "the service exited")
        finally:
            problems = self.srv.stop_and_audit()
            old.close()
        self.assertEqual(problems, [])
        self.assertEqual(self.srv.proc.pid, pid)

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass


if __name__ == "__main__":
    import unittest
    unittest.main()
