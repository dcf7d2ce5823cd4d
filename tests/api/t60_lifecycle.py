"""Process lifecycle: SIGTERM drain and shutdown; database outages (503
with Retry-After, /readyz 503, recovery without a restart)."""

import json
import signal
import socket
import threading
import time
import unittest

from harness import (KEY1, ApiAssertions, Database, ServerTestCase, TempServer, only_backend,
                     parse_responses, pg_ctl, psql, read_until_close)

DRAIN = 3


class DrainTest(unittest.TestCase, ApiAssertions):

    def test_sigterm_drains_then_finishes_in_flight_and_exits_0(self):
        db = Database()
        ctx = TempServer(self, db=db, env={"DRAIN_SECONDS": DRAIN, "SHUTDOWN_TIMEOUT_SECONDS": 20,
                                           "LOG_LEVEL": "debug"})
        with ctx as s:
            body = json.dumps({"name": "slow upload", "data": {"pad": "x" * 200}}).encode()
            up = s.connect(timeout=30)
            up.sendall(("POST /v1/items HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % (KEY1, len(body))).encode() + body[:20])
            # Make sure the server has the head before the signal.
            time.sleep(0.3)
            t_sig = time.monotonic()
            s.signal(signal.SIGTERM)

            # /readyz turns 503 at once (allow for signal delivery) ...
            ready = None
            while time.monotonic() - t_sig < DRAIN - 0.5:
                ready = s.get("/readyz", key=None, timeout=5)
                if ready.status == 503:
                    break
                time.sleep(0.02)
            self.assertEqual(ready.status, 503, "readyz still 200 during the drain")
            self.assertProblem(ready, 503, "unavailable")
            self.assertTrue(ready.header("Retry-After"))
            # ... while everything else is still served.
            self.assertEqual(s.get("/healthz", key=None).status, 200)
            self.assertEqual(s.get("/v1/items").status, 200)
            self.assertEqual(s.request("POST", "/v1/items", {"name": "during drain"}).status, 201)

            # Served until the drain ends, then the listener closes.
            last_ok = None
            deadline = t_sig + DRAIN + 20
            while time.monotonic() < deadline:
                try:
                    r = s.get("/healthz", key=None, timeout=2)
                    if r.status == 200:
                        last_ok = time.monotonic()
                except OSError:
                    break
                time.sleep(0.05)
            else:
                self.fail("listener still open long after DRAIN_SECONDS")
            self.assertIsNotNone(last_ok)
            self.assertGreaterEqual(last_ok - t_sig, DRAIN - 1.0,
                                    "stopped serving well before DRAIN_SECONDS")
            self.assertIsNone(s.proc.poll(), "exited with an upload in flight")

            # The in-flight upload completes after the listener closed.
            up.sendall(body[20:])
            data, closed = read_until_close(up, 20)
            up.close()
            resps = parse_responses(data)
            self.assertEqual([r[0] for r in resps], [201], data)
            self.assertEqual(resps[0][1].get("connection"), ["close"])
            self.assertEqual(json.loads(resps[0][2])["name"], "slow upload")

            rc = s.wait_exit(30)
            self.assertEqual(rc, 0)
            msgs = [o["message"] for o in s.logs()]
            self.assertIn("draining", msgs)
        self.assertEqual(db.count_items(), 2)

    def test_keep_alive_connections_during_drain(self):
        with TempServer(self, env={"DRAIN_SECONDS": 2}) as s:
            conn = s.connection(timeout=10)
            try:
                self.assertEqual(s.request("GET", "/healthz", key=None, conn=conn).status, 200)
                s.signal(signal.SIGTERM)
                time.sleep(0.3)
                r = s.request("GET", "/v1/items", conn=conn)
                self.assertEqual(r.status, 200)
            finally:
                conn.close()
            self.assertEqual(s.wait_exit(30), 0)

    def test_sigterm_without_drain_exits_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig):
                with TempServer(self, env={"DRAIN_SECONDS": 0}) as s:
                    self.assertEqual(s.request("POST", "/v1/items", {"name": "x"}).status, 201)
                    s.signal(sig)
                    self.assertEqual(s.wait_exit(30), 0)

    def test_idle_keep_alive_connection_does_not_delay_exit(self):
        with TempServer(self, env={"DRAIN_SECONDS": 0, "KEEPALIVE_TIMEOUT_SECONDS": 600}) as s:
            conn = s.connection()
            try:
                self.assertEqual(s.request("GET", "/healthz", key=None, conn=conn).status, 200)
                t0 = time.monotonic()
                s.signal(signal.SIGTERM)
                self.assertEqual(s.wait_exit(30), 0)
                self.assertLess(time.monotonic() - t0, 30)
            finally:
                conn.close()

    def test_stuck_upload_is_cut_at_shutdown_timeout(self):
        with TempServer(self, env={"DRAIN_SECONDS": 0, "SHUTDOWN_TIMEOUT_SECONDS": 2,
                                   "BODY_TIMEOUT_SECONDS": 600}) as s:
            up = s.connect(timeout=60)
            try:
                up.sendall(("POST /v1/items HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                            % KEY1).encode())
                time.sleep(0.3)
                t0 = time.monotonic()
                s.signal(signal.SIGTERM)
                rc = s.wait_exit(60)
                self.assertLess(time.monotonic() - t0, 60)
                self.assertEqual(rc, 0)
            finally:
                up.close()


class DatabaseOutageTest(ServerTestCase):
    """PostgreSQL goes away and comes back; the service answers 503 quickly
    meanwhile and recovers by itself."""

    server_env = {"DB_POOL_TIMEOUT_MS": 1000, "DB_STATEMENT_TIMEOUT_MS": 2000,
                  "DB_CONNECT_TIMEOUT_SECONDS": 2}

    def assert503(self, r):
        p = self.assertProblem(r, 503, "unavailable")
        self.assertRegex(r.header("Retry-After") or "", r"^\d+$")
        return p

    def timed(self, method, path, body=None, headers=None):
        t0 = time.monotonic()
        r = self.req(method, path, body, headers, timeout=30)
        return r, time.monotonic() - t0

    @only_backend("postgres")
    def test_database_down_then_back(self):
        item = self.create("before outage")
        path = "/v1/items/%d" % item["id"]
        pg_ctl("stop", "-m", "fast")
        try:
            # The first requests may race the pool noticing; within a few
            # seconds every request must be a prompt 503.
            deadline = time.monotonic() + 15
            while True:
                r, dt = self.timed("GET", path)
                self.assertNotEqual(r.status, 500, r)
                self.assertLess(dt, 15, "a request hung while the database was down")
                if r.status == 503:
                    break
                self.assertLess(time.monotonic(), deadline, "no 503 while the database is down")
                time.sleep(0.2)
            self.assert503(r)
            cases = [("GET", path, None, None), ("GET", "/v1/items", None, None),
                     ("POST", "/v1/items", {"name": "x"}, None),
                     ("PUT", path, {"name": "y"}, None),
                     ("PATCH", path, b'{"name":"z"}', [("Content-Type", "application/merge-patch+json")]),
                     ("DELETE", path, None, None),
                     ("POST", "/v1/items", {"name": "i"}, [("Idempotency-Key", "outage-1")])]
            for method, p, body, h in cases:
                with self.subTest(method=method, path=p):
                    r, dt = self.timed(method, p, body, h)
                    self.assert503(r)
                    self.assertLess(dt, 7, "503 took %.1fs" % dt)
            r, dt = self.timed("GET", "/readyz")
            self.assertEqual(r.status, 503, r)
            self.assertLess(dt, 7)
            self.assertIsInstance(r.json(), dict)
            self.assertIn("detail", r.json())
            self.assertEqual(self.req("GET", "/healthz", key=None).status, 200)
            # Many concurrent requests during the outage: all 503, none hang.
            results = []

            def hit():
                results.append(self.timed("GET", path))

            threads = [threading.Thread(target=hit) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(sorted({r.status for r, _ in results}), [503])
        finally:
            pg_ctl("start")
        # Recovery without a restart.
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            r = self.req("GET", path, timeout=30)
            if r.status == 200:
                break
            self.assertEqual(r.status, 503, r)
            time.sleep(0.25)
        self.assertEqual(r.status, 200, "did not recover after the database came back")
        self.assertEqual(r.json(), item)
        deadline = time.monotonic() + 20
        while self.req("GET", "/readyz", key=None).status != 200:
            self.assertLess(time.monotonic(), deadline, "readyz did not recover")
            time.sleep(0.2)
        self.assertEqual(self.req("POST", "/v1/items", {"name": "after"}).status, 201)
        for _ in range(20):  # every pooled connection works again
            self.assertEqual(self.req("GET", path).status, 200)
        self.assertEqual(self.srv.proc.poll(), None, "the service exited")

    @only_backend("postgres")
    def test_killed_connections_are_replaced(self):
        item = self.create("terminate")
        path = "/v1/items/%d" % item["id"]
        psql(["-d", self.db.name, "-c",
              "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
              "WHERE datname = current_database() AND pid <> pg_backend_pid()"])
        statuses = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = self.req("GET", path)
            statuses.append(r.status)
            if r.status == 503:
                self.assert503(r)
            if statuses[-10:] == [200] * 10:
                break
            time.sleep(0.05)
        self.assertEqual(statuses[-10:], [200] * 10, statuses)
        self.assertNotIn(500, statuses)

    @only_backend("postgres")
    def test_database_down_at_startup_then_up_within_timeout(self):
        # Not the shared server: a new one that starts while PG is down.
        pg_ctl("stop", "-m", "fast")
        started = False
        try:
            ctx = TempServer(self, db=self.db, wait=False, env={"DB_STARTUP_TIMEOUT_SECONDS": 60})
            s = ctx.__enter__()
            try:
                time.sleep(1.5)
                self.assertIsNone(s.proc.poll(), "gave up before DB_STARTUP_TIMEOUT_SECONDS")
                pg_ctl("start")
                started = True
                s.wait_ready(60)
                self.assertEqual(s.request("GET", "/v1/items").status, 200)
            finally:
                ctx.__exit__(None, None, None)
            warn = [o for o in s.logs() if o["level"] == "warn"]
            self.assertTrue(warn, "no retry was logged")
        finally:
            if not started:
                pg_ctl("start")


if __name__ == "__main__":
    unittest.main()


class CredentialRotationTest(unittest.TestCase, ApiAssertions):
    """RDS rotates its managed password and the instance rewrites
    DATABASE_URL_FILE: the service must pick the new password up on its next
    connection, without a restart."""

    @only_backend("postgres")
    def test_database_url_file_is_reread_on_reconnect(self):
        import os
        import tempfile
        import urllib.parse

        role, db = "rotator_%d" % os.getpid(), "items_rot_%d" % os.getpid()
        old_pw, new_pw = "first-" + os.urandom(6).hex(), "second-" + os.urandom(6).hex()
        psql(["-d", "items", "-c", "CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, old_pw)])
        psql(["-d", "items", "-c", "CREATE DATABASE %s OWNER %s" % (db, role)])
        port = urllib.parse.urlsplit(os.environ["PG_URL"]).port
        d = tempfile.mkdtemp(prefix="items-api-rotation-")
        path = os.path.join(d, "database-url")

        def write_url(pw):
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.write("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable\n" % (role, pw, port, db))
            os.replace(tmp, path)  # atomic, as items-api-run does

        write_url(old_pw)
        env = {"DATABASE_URL": "", "DATABASE_URL_FILE": path, "DB_POOL_SIZE": "2"}
        with TempServer(self, env=env) as srv:
            pid = srv.proc.pid
            r = srv.request("POST", "/v1/items", {"name": "before rotation"}, key=KEY1)
            self.assertEqual(r.status, 201, r)
            item = r.json()

            psql(["-d", "items", "-c", "ALTER ROLE %s PASSWORD '%s'" % (role, new_pw)])
            write_url(new_pw)
            # Open sessions survive a password change; end them to force reconnects.
            psql(["-d", "items", "-c",
                  "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '%s'"
                  % role])
            deadline, status = time.monotonic() + 15, None
            while time.monotonic() < deadline:
                r = srv.request("GET", "/v1/items/%d" % item["id"], key=KEY1)
                status = r.status
                if status == 200:
                    break
                self.assertEqual(status, 503, r)
                time.sleep(0.2)
            self.assertEqual(status, 200, "no recovery with the rotated password")
            r = srv.request("POST", "/v1/items", {"name": "after rotation"}, key=KEY1)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(srv.proc.pid, pid)
            self.assertIsNone(srv.proc.poll(), "the service restarted")
            out = srv.output()
            self.assertIn("database URL reloaded from DATABASE_URL_FILE", out)
            self.assertNotIn(old_pw, out)
            self.assertNotIn(new_pw, out)
