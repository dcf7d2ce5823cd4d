"""The command line and the configuration: version, --help, migrate,
healthcheck, and every refusal to start (exit non-zero, one JSON log line
naming the variable, no secret echoed)."""

import json
import os
import subprocess
import threading
import time
import unittest

from harness import (BACKEND, BIN, KEY1, KEY2, PG_PASSWORD, ApiAssertions, Database,
                     TempServer, closed_port, free_port, parse_log_lines, run_cli, scratch_dir,
                     secrets_in)

ALL_VARS = ["PORT", "BIND_ADDRESS", "DATABASE_URL", "DATABASE_URL_FILE", "API_KEYS",
            "API_KEYS_FILE", "WORKER_THREADS", "DB_POOL_SIZE", "DB_STARTUP_TIMEOUT_SECONDS",
            "MAX_BODY_BYTES", "MAX_HEADER_BYTES", "LOG_LEVEL", "DRAIN_SECONDS",
            "SHUTDOWN_TIMEOUT_SECONDS"]


class CliTest(unittest.TestCase):

    def test_version(self):
        r = run_cli(["version"])
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"^items-api \S+")

    def test_help_lists_commands_and_every_variable(self):
        for arg in ("--help",):
            r = run_cli([arg])
            self.assertEqual(r.returncode, 0, r)
            for cmd in ("serve", "migrate", "version", "healthcheck"):
                self.assertIn(cmd, r.stdout)
            for var in ALL_VARS:
                self.assertIn(var, r.stdout)
            # Defaults from the issue are documented.
            for text in ("8080", "sqlite:var/items.db", "1048576", "16384", "65536"):
                self.assertIn(text, r.stdout)

    def test_unknown_command_fails(self):
        for args in (["frobnicate"], ["serve", "extra"], ["migrate", "x"]):
            with self.subTest(args=args):
                r = run_cli(args, env={"API_KEYS": KEY1})
                self.assertNotEqual(r.returncode, 0, r)

    def test_healthcheck(self):
        with TempServer(self) as s:
            r = run_cli(["healthcheck", "http://127.0.0.1:%d/healthz" % s.port])
            self.assertEqual(r.returncode, 0, r)
            # Default URL: http://127.0.0.1:$PORT/healthz
            r = run_cli(["healthcheck"], env={"PORT": s.port})
            self.assertEqual(r.returncode, 0, r)
            # Not 200 -> non-zero.
            r = run_cli(["healthcheck", "http://127.0.0.1:%d/v1/items" % s.port])
            self.assertNotEqual(r.returncode, 0, r)
            r = run_cli(["healthcheck", "http://127.0.0.1:%d/nope" % s.port])
            self.assertNotEqual(r.returncode, 0, r)
        r = run_cli(["healthcheck", "http://127.0.0.1:%d/healthz" % closed_port()])
        self.assertNotEqual(r.returncode, 0, r)
        r = run_cli(["healthcheck"], env={"PORT": closed_port()})
        self.assertNotEqual(r.returncode, 0, r)

    def test_healthcheck_against_a_silent_server_does_not_hang(self):
        import socket
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        try:
            t0 = time.monotonic()
            r = run_cli(["healthcheck", "http://127.0.0.1:%d/healthz" % ls.getsockname()[1]],
                        timeout=60)
            self.assertNotEqual(r.returncode, 0, r)
            self.assertLess(time.monotonic() - t0, 60)
        finally:
            ls.close()


class MigrateTest(unittest.TestCase, ApiAssertions):

    def test_migrate_creates_schema_and_is_idempotent(self):
        db = Database()
        env = {"DATABASE_URL": db.url, "API_KEYS": KEY1}
        r = run_cli(["migrate"], env=env)
        self.assertEqual(r.returncode, 0, r)
        logs, bad = parse_log_lines(r.stdout)
        self.assertEqual(bad, [])
        self.assertEqual(secrets_in(r.stdout + r.stderr), [])
        self.assertEqual(db.count_items(), 0)
        applied = int(db.scalar("SELECT count(*) FROM schema_migrations"))
        self.assertGreaterEqual(applied, 1)
        r = run_cli(["migrate"], env=env)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(int(db.scalar("SELECT count(*) FROM schema_migrations")), applied)
        # serve on a migrated database works and applies nothing new
        with TempServer(self, db=db) as s:
            self.assertEqual(s.request("POST", "/v1/items", {"name": "m"}).status, 201)
        self.assertEqual(int(db.scalar("SELECT count(*) FROM schema_migrations")), applied)

    def test_concurrent_migrations_are_safe(self):
        db = Database()
        env = {"DATABASE_URL": db.url, "API_KEYS": KEY1}
        results = []

        def go():
            results.append(run_cli(["migrate"], env=env, timeout=120))

        threads = [threading.Thread(target=go) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        applied = int(db.scalar("SELECT count(*) FROM schema_migrations"))
        self.assertGreaterEqual(applied, 1)
        self.assertEqual(db.count_items(), 0)

    def test_concurrent_serve_startups_on_a_fresh_database(self):
        db = Database()
        servers = [TempServer(self, db=db, wait=False) for _ in range(3)]
        for t in servers:
            t.__enter__()
        try:
            for t in servers:
                t.srv.wait_ready()
                self.assertEqual(t.srv.request("POST", "/v1/items", {"name": "x"}).status, 201)
        finally:
            for t in servers:
                t.__exit__(None, None, None)
        self.assertEqual(db.count_items(), 3)


class ConfigRefusalTest(unittest.TestCase):
    """Invalid configuration: exit non-zero at once, one JSON line on
    stdout naming the variable (and for numbers the accepted range)."""

    def refuse(self, env, var, range_=None, secret=None, keys=True, cmd="serve"):
        full = {"PORT": free_port(), "BIND_ADDRESS": "127.0.0.1", "DB_STARTUP_TIMEOUT_SECONDS": "1",
                "DATABASE_URL": "sqlite:" + os.path.join(scratch_dir("refuse"), "x.db")}
        if keys:
            full["API_KEYS"] = KEY1
        full.update(env)
        r = run_cli([cmd], env=full, timeout=30)
        self.assertNotEqual(r.returncode, 0, "started with %r:\n%s" % (env, r.stdout))
        logs, bad = parse_log_lines(r.stdout)
        self.assertEqual(bad, [], "non-JSON output: %r" % r.stdout)
        self.assertTrue(logs, "no log line explaining the refusal")
        text = json.dumps(logs)
        self.assertTrue(any(o["level"] == "error" for o in logs), logs)
        self.assertIn(var, text)
        if range_:
            for n in range_:
                self.assertIn(str(n), text, "accepted range not named: %s" % text)
        for s in [KEY1] + ([secret] if secret else []):
            self.assertNotIn(s, r.stdout + r.stderr)
        return logs

    def test_bad_port(self):
        for v in ("0", "65536", "70000", "abc", "-1", "80x", "1.5", " 80"):
            with self.subTest(v=v):
                self.refuse({"PORT": v}, "PORT", (1, 65535))

    def test_max_header_bytes(self):
        for v in ("70000", "65537", "1023", "0", "big"):
            with self.subTest(v=v):
                self.refuse({"MAX_HEADER_BYTES": v}, "MAX_HEADER_BYTES", (1024, 65536))

    def test_bad_log_level(self):
        for v in ("verbose", "trace", "INFOO", "0"):
            with self.subTest(v=v):
                logs = self.refuse({"LOG_LEVEL": v}, "LOG_LEVEL")
                text = json.dumps(logs)
                for lvl in ("debug", "info", "warn", "error"):
                    self.assertIn(lvl, text)

    def test_other_numeric_variables(self):
        cases = [("WORKER_THREADS", "0"), ("WORKER_THREADS", "65"), ("DB_POOL_SIZE", "0"),
                 ("DB_POOL_SIZE", "x"), ("DB_STARTUP_TIMEOUT_SECONDS", "-5"),
                 ("MAX_BODY_BYTES", "10"), ("MAX_BODY_BYTES", "99999999999"),
                 ("DRAIN_SECONDS", "-1"), ("DRAIN_SECONDS", "601"),
                 ("SHUTDOWN_TIMEOUT_SECONDS", "0"), ("HEADER_TIMEOUT_SECONDS", "0"),
                 ("BODY_TIMEOUT_SECONDS", "0"), ("KEEPALIVE_TIMEOUT_SECONDS", "0"),
                 ("MAX_CONNECTIONS", "1"), ("RATE_LIMIT_RPS", "-1"),
                 ("DB_POOL_TIMEOUT_MS", "0"), ("DB_STATEMENT_TIMEOUT_MS", "1"),
                 ("METRICS_EMF_INTERVAL_SECONDS", "x")]
        for var, v in cases:
            with self.subTest(var=var, v=v):
                self.refuse({var: v}, var)

    def test_boolean_variables(self):
        for var in ("ACCESS_LOG", "SANDBOX"):
            with self.subTest(var=var):
                self.refuse({var: "maybe"}, var)

    def test_bad_bind_address(self):
        for v in ("localhost:80", "not an address", "1.2.3.4; rm -rf /"):
            with self.subTest(v=v):
                r = run_cli(["serve"], env={"BIND_ADDRESS": v, "API_KEYS": KEY1,
                                            "PORT": free_port(),
                                            "DATABASE_URL": "sqlite::memory:"}, timeout=30)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("BIND_ADDRESS", r.stdout)

    def test_no_api_keys(self):
        self.refuse({}, "API_KEYS", keys=False)
        self.refuse({"API_KEYS": ""}, "API_KEYS", keys=False)
        self.refuse({"API_KEYS": " , ,"}, "API_KEYS", keys=False)

    def test_invalid_api_keys(self):
        short = "tooshort"
        self.refuse({"API_KEYS": short}, "API_KEYS", secret=None)
        self.refuse({"API_KEYS": KEY1 + "," + "x" * 513}, "API_KEYS")
        self.refuse({"API_KEYS": "with space in the key 123"}, "API_KEYS",
                    secret="with space in the key 123")
        self.refuse({"API_KEYS": "caf\u00e9-caf\u00e9-caf\u00e9-caf\u00e9"}, "API_KEYS")

    def test_api_keys_and_file_together(self):
        path = os.path.join(scratch_dir("keys"), "keys")
        with open(path, "w") as f:
            f.write(KEY2 + "\n")
        self.refuse({"API_KEYS": KEY1, "API_KEYS_FILE": path}, "API_KEYS")

    def test_unreadable_or_empty_api_keys_file(self):
        d = scratch_dir("keys")
        self.refuse({"API_KEYS_FILE": os.path.join(d, "missing")}, "API_KEYS_FILE", keys=False)
        empty = os.path.join(d, "empty")
        with open(empty, "w") as f:
            f.write("# only a comment\n\n")
        self.refuse({"API_KEYS_FILE": empty}, "API_KEYS", keys=False)

    def test_bad_database_url_scheme(self):
        for url in ("mysql://u:hunter2secret@h/db", "http://example.com", "sqlite:", "items.db",
                    "postgres//u:hunter2secret@h/db", "file:x.db"):
            with self.subTest(url=url):
                self.refuse({"DATABASE_URL": url}, "DATABASE_URL", secret="hunter2secret")

    def test_malformed_postgres_uri_is_refused_without_echo(self):
        self.refuse({"DATABASE_URL": "postgres://u:hunter2secret@h:notaport/db"},
                    "DATABASE_URL", secret="hunter2secret")

    def test_database_url_file_missing_or_bad(self):
        d = scratch_dir("dburl")
        self.refuse({"DATABASE_URL": "", "DATABASE_URL_FILE": os.path.join(d, "nope")},
                    "DATABASE_URL_FILE")
        bad = os.path.join(d, "bad")
        with open(bad, "w") as f:
            f.write("mysql://u:hunter2secret@h/db\n")
        self.refuse({"DATABASE_URL": "", "DATABASE_URL_FILE": bad}, "DATABASE_URL",
                    secret="hunter2secret")
        empty = os.path.join(d, "empty")
        open(empty, "w").close()
        self.refuse({"DATABASE_URL": "", "DATABASE_URL_FILE": empty}, "DATABASE_URL_FILE")

    def test_database_url_and_file_together(self):
        path = os.path.join(scratch_dir("dburl"), "url")
        with open(path, "w") as f:
            f.write("sqlite::memory:\n")
        self.refuse({"DATABASE_URL": "sqlite::memory:", "DATABASE_URL_FILE": path}, "DATABASE_URL")

    def test_migrate_refuses_bad_config_too(self):
        self.refuse({"DATABASE_URL": "mysql://x"}, "DATABASE_URL", cmd="migrate")


class ConfigAcceptTest(unittest.TestCase, ApiAssertions):

    def test_database_url_file(self):
        db = Database()
        path = os.path.join(scratch_dir("dburl"), "database_url")
        with open(path, "w") as f:
            f.write("\n  " + db.url + "  \n")
        with TempServer(self, env={"DATABASE_URL": None, "DATABASE_URL_FILE": path}) as s:
            r = s.request("POST", "/v1/items", {"name": "via file"})
            self.assertEqual(r.status, 201, r)
        self.assertEqual(db.count_items(), 1)

    def test_api_keys_file_with_comments_and_blank_lines(self):
        commented = "commented-out-key-0123456789"
        path = os.path.join(scratch_dir("keys"), "keys")
        with open(path, "w") as f:
            f.write("# rotated in 2026-11\n\n   %s   \n#%s\n  # %s\n%s\n\n"
                    % (KEY1, commented, commented, KEY2))
        with TempServer(self, keys=None, env={"API_KEYS_FILE": path}) as s:
            for k in (KEY1, KEY2):
                self.assertEqual(s.request("GET", "/v1/items", key=k).status, 200)
            self.assertEqual(s.request("GET", "/v1/items", key=commented).status, 401)
            self.assertEqual(s.request("GET", "/v1/items", key="#" + commented).status, 401)

    def test_api_keys_list_is_trimmed(self):
        with TempServer(self, keys=None, env={"API_KEYS": " %s , %s ," % (KEY1, KEY2)}) as s:
            for k in (KEY1, KEY2):
                self.assertEqual(s.request("GET", "/v1/items", key=k).status, 200)

    def test_key_length_bounds(self):
        k16, k512 = "k" * 16, "K" * 512
        with TempServer(self, keys=(k16, k512)) as s:
            self.assertEqual(s.request("GET", "/v1/items", key=k16).status, 200)
            self.assertEqual(s.request("GET", "/v1/items", key=k512).status, 200)

    def test_default_database_is_sqlite_under_var(self):
        srv_ctx = TempServer(self, env={"DATABASE_URL": None})
        with srv_ctx as s:
            self.assertEqual(s.request("POST", "/v1/items", {"name": "default"}).status, 201)
            self.assertTrue(os.path.exists(os.path.join(s.cwd, "var", "items.db")))

    def test_sqlite_memory(self):
        with TempServer(self, env={"DATABASE_URL": "sqlite::memory:"}) as s:
            r = s.request("POST", "/v1/items", {"name": "mem"})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(s.request("GET", r.header("Location")).status, 200)

    def test_relative_sqlite_path(self):
        with TempServer(self, env={"DATABASE_URL": "sqlite:sub/dir/rel.db"}) as s:
            self.assertEqual(s.request("POST", "/v1/items", {"name": "rel"}).status, 201)
            self.assertTrue(os.path.exists(os.path.join(s.cwd, "sub", "dir", "rel.db")))

    def test_port_in_use_fails_cleanly(self):
        with TempServer(self) as s:
            r = run_cli(["serve"], env={"PORT": s.port, "BIND_ADDRESS": "127.0.0.1",
                                        "API_KEYS": KEY1, "DATABASE_URL": "sqlite::memory:"},
                        timeout=30)
            self.assertNotEqual(r.returncode, 0)
            logs, bad = parse_log_lines(r.stdout)
            self.assertEqual(bad, [])
            self.assertTrue(any(o["level"] == "error" for o in logs))


class DatabaseStartupTest(unittest.TestCase):

    def test_unreachable_database_times_out_with_a_clear_message(self):
        url = "postgres://items:hunter2secret@127.0.0.1:%d/items?sslmode=disable" % closed_port()
        t0 = time.monotonic()
        r = run_cli(["serve"], env={"DATABASE_URL": url, "API_KEYS": KEY1, "PORT": free_port(),
                                    "BIND_ADDRESS": "127.0.0.1",
                                    "DB_STARTUP_TIMEOUT_SECONDS": "2"}, timeout=90)
        elapsed = time.monotonic() - t0
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertGreaterEqual(elapsed, 1.0, "gave up long before DB_STARTUP_TIMEOUT_SECONDS")
        logs, bad = parse_log_lines(r.stdout)
        self.assertEqual(bad, [], r.stdout)
        errors = [o for o in logs if o["level"] == "error"]
        self.assertTrue(errors, r.stdout)
        text = json.dumps(errors).lower()
        self.assertTrue("database" in text or "database_url" in text, text)
        self.assertNotIn("hunter2secret", r.stdout + r.stderr)
        # It retried (with backoff) rather than giving up at once.
        retries = [o for o in logs if o["level"] == "warn"]
        self.assertTrue(retries, r.stdout)

    def test_zero_startup_timeout_fails_fast(self):
        url = "postgres://items:hunter2secret@127.0.0.1:%d/items" % closed_port()
        r = run_cli(["serve"], env={"DATABASE_URL": url, "API_KEYS": KEY1, "PORT": free_port(),
                                    "DB_STARTUP_TIMEOUT_SECONDS": "0"}, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("hunter2secret", r.stdout + r.stderr)

    def test_migrate_against_unreachable_database_fails(self):
        url = "postgres://items:hunter2secret@127.0.0.1:%d/items" % closed_port()
        r = run_cli(["migrate"], env={"DATABASE_URL": url, "DB_STARTUP_TIMEOUT_SECONDS": "1"},
                    timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("hunter2secret", r.stdout + r.stderr)

    @unittest.skipUnless(BACKEND == "postgres", "needs the postgres backend")
    def test_wrong_password_is_refused_without_echo(self):
        import urllib.parse
        u = urllib.parse.urlsplit(Database.shared().url)
        bad = u._replace(netloc="items:wrong-hunter2secret@%s:%s" % (u.hostname, u.port))
        r = run_cli(["serve"], env={"DATABASE_URL": urllib.parse.urlunsplit(bad),
                                    "API_KEYS": KEY1, "PORT": free_port(),
                                    "DB_STARTUP_TIMEOUT_SECONDS": "1"}, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("hunter2secret", r.stdout + r.stderr)
        self.assertNotIn(PG_PASSWORD, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
