"""Health, readiness, metrics, request ids and logs."""

import re
import time
import unittest

from harness import (BACKEND, KEY1, KEY2, PG_PASSWORD, ServerTestCase, TempServer, run_cli)

REQUEST_ID_RE = re.compile(r"^[0-9a-f]{32}$")
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$')


def parse_metrics(text):
    """Prometheus text format -> ({(name, frozenset(labels)): value}, types)."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        labels = {}
        if m.group(2):
            for part in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2)):
                labels[part[0]] = part[1]
        samples[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return samples, types


def find(samples, name, **labels):
    want = set(labels.items())
    return {k: v for k, v in samples.items() if k[0] == name and want <= set(k[1])}


class HealthTest(ServerTestCase):

    def test_healthz(self):
        r = self.req("GET", "/healthz", key=None)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(r.json(), {"status": "ok"})
        r = self.req("HEAD", "/healthz", key=None)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"")

    def test_readyz(self):
        r = self.req("GET", "/readyz", key=None)
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json(), dict)
        r = self.req("HEAD", "/readyz", key=None)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"")

    def test_health_endpoints_ignore_query_strings(self):
        self.assertEqual(self.req("GET", "/healthz?x=1", key=None).status, 200)


class RequestIdTest(ServerTestCase):

    def test_valid_request_id_is_echoed(self):
        for rid in ("abc", "A-b_c.9", "x" * 128, "0", "req-" + "9" * 100, "...", "---"):
            with self.subTest(rid=rid):
                r = self.req("GET", "/healthz", key=None, headers=[("X-Request-Id", rid)])
                self.assertEqual(r.header("X-Request-Id"), rid)

    def test_invalid_request_id_is_replaced(self):
        for rid in ("", "x" * 129, "has space", "semi;colon", "slash/", "quote\"", "caf\xe9",
                    "plus+", "colon:", "at@", "\t"):
            with self.subTest(rid=rid):
                r = self.req("GET", "/healthz", key=None,
                             headers=[("X-Request-Id", rid.encode("latin-1"))])
                self.assertEqual(r.status, 200, r)
                got = r.header("X-Request-Id")
                self.assertRegex(got, REQUEST_ID_RE)
                self.assertNotEqual(got, rid)

    def test_generated_ids_are_unique(self):
        ids = {self.req("GET", "/healthz", key=None).header("X-Request-Id") for _ in range(50)}
        self.assertEqual(len(ids), 50)
        for i in ids:
            self.assertRegex(i, REQUEST_ID_RE)

    def test_every_kind_of_response_carries_it(self):
        item = self.create("rid")
        cases = [
            ("GET", "/v1/items/%d" % item["id"], None, [], KEY1, 200),
            ("GET", "/v1/items/%d" % item["id"], None, [("If-None-Match", '"1"')], KEY1, 304),
            ("POST", "/v1/items", {"name": "x"}, [], KEY1, 201),
            ("GET", "/v1/items", None, [], None, 401),
            ("GET", "/v1/nope", None, [], KEY1, 404),
            ("DELETE", "/v1/items", None, [], KEY1, 405),
            ("POST", "/v1/items", {"name": ""}, [], KEY1, 422),
            ("POST", "/v1/items", b"{}", [("Content-Type", "text/plain")], KEY1, 415),
            ("GET", "/metrics", None, [], KEY1, 200),
            ("DELETE", "/v1/items/%d" % item["id"], None, [], KEY1, 204),
        ]
        for i, (method, path, body, h, key, status) in enumerate(cases):
            rid = "case-%d" % i
            with self.subTest(method=method, path=path, status=status):
                r = self.req(method, path, body, h + [("X-Request-Id", rid)], key=key)
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.header("X-Request-Id"), rid)
                if status >= 400:
                    self.assertEqual(r.json()["request_id"], rid)

    def test_problem_request_id_matches_generated_header(self):
        r = self.req("GET", "/v1/nope")
        self.assertEqual(r.json()["request_id"], r.header("X-Request-Id"))
        self.assertRegex(r.header("X-Request-Id"), REQUEST_ID_RE)

    def test_access_log_carries_the_request_id(self):
        self.req("GET", "/v1/items", headers=[("X-Request-Id", "find-me-in-the-log")])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [o for o in self.srv.access_logs() if o.get("request_id") == "find-me-in-the-log"]
            if lines:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 1, self.srv.stdout()[-2000:])
        line = lines[0]
        self.assertEqual(line["method"], "GET")
        self.assertEqual(line["route"], "/v1/items")
        self.assertEqual(line["status"], 200)
        self.assertIsInstance(line["duration_ms"], (int, float))
        self.assertGreaterEqual(line["duration_ms"], 0)
        self.assertIsInstance(line["bytes"], int)
        self.assertIn(line["level"], ("info", "debug"))


class MetricsTest(ServerTestCase):

    def scrape(self, key=KEY1):
        r = self.req("GET", "/metrics", key=key)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r)
        self.assertIn("version=0.0.4", r.header("Content-Type"))
        return parse_metrics(r.body.decode("utf-8"))

    def test_requires_a_key(self):
        r = self.req("GET", "/metrics", key=None)
        self.assertEqual(r.status, 401, r)
        r = self.req("GET", "/metrics", key="wrong-key-000000000000")
        self.assertEqual(r.status, 401, r)

    def test_request_counters_by_method_route_status(self):
        item = self.create("m")
        self.req("GET", "/v1/items/%d" % item["id"])
        self.req("GET", "/v1/items/999999")
        self.req("DELETE", "/v1/items")
        self.req("GET", "/v1/items", key=None)
        self.req("GET", "/no/such/thing")
        samples, types = self.scrape()
        self.assertEqual(types.get("http_requests_total"), "counter")
        for method, route, status in (("POST", "/v1/items", "201"),
                                      ("GET", "/v1/items/{id}", "200"),
                                      ("GET", "/v1/items/{id}", "404"),
                                      ("DELETE", "/v1/items", "405"),
                                      ("GET", "/v1/items", "401")):
            with self.subTest(method=method, route=route, status=status):
                got = find(samples, "http_requests_total", method=method, route=route, status=status)
                self.assertEqual(len(got), 1, sorted(k for k in samples if k[0] == "http_requests_total"))
                self.assertGreaterEqual(list(got.values())[0], 1)
        # Unknown paths share one label value: no unbounded cardinality.
        routes = {dict(k[1]).get("route") for k in samples if k[0] == "http_requests_total"}
        self.assertNotIn("/no/such/thing", routes)
        self.assertLessEqual(len(routes), 8, routes)

    def test_counters_increase(self):
        def count():
            s, _ = self.scrape()
            return sum(find(s, "http_requests_total", method="GET", route="/healthz",
                            status="200").values())
        before = count()
        for _ in range(3):
            self.req("GET", "/healthz", key=None)
        self.assertEqual(count(), before + 3)

    def test_duration_histogram_per_route(self):
        self.create("h")
        samples, types = self.scrape()
        self.assertEqual(types.get("http_request_duration_seconds"), "histogram")
        buckets = find(samples, "http_request_duration_seconds_bucket", route="/v1/items")
        self.assertGreater(len(buckets), 3)
        les = sorted((float(dict(k[1])["le"]), v) for k, v in buckets.items())
        self.assertEqual(les[-1][0], float("inf"))
        counts = [v for _, v in les]
        self.assertEqual(counts, sorted(counts), "buckets must be cumulative")
        total = find(samples, "http_request_duration_seconds_count", route="/v1/items")
        self.assertEqual(list(total.values()), [les[-1][1]])
        self.assertGreaterEqual(les[-1][1], 1)
        self.assertEqual(len(find(samples, "http_request_duration_seconds_sum", route="/v1/items")), 1)
        self.assertTrue(find(samples, "http_request_duration_seconds_bucket", route="/v1/items/{id}"))

    def test_db_pool_gauges(self):
        samples, types = self.scrape()
        for name in ("db_pool_size", "db_pool_ready", "db_pool_in_flight", "db_pool_waiting"):
            with self.subTest(name=name):
                self.assertEqual(types.get(name), "gauge")
                got = find(samples, name)
                self.assertEqual(len(got), 1, got)
                self.assertGreaterEqual(list(got.values())[0], 0)
        self.assertGreaterEqual(list(find(samples, "db_pool_size").values())[0], 1)
        self.assertGreaterEqual(list(find(samples, "db_pool_ready").values())[0], 1)

    def test_process_start_time_and_build_info(self):
        samples, types = self.scrape()
        start = find(samples, "process_start_time_seconds")
        self.assertEqual(len(start), 1)
        t = list(start.values())[0]
        self.assertLess(abs(t - time.time()), 3600, t)
        self.assertLessEqual(t, time.time() + 5)
        info = [k for k in samples if k[0].endswith("build_info")]
        self.assertEqual(len(info), 1, info)
        labels = dict(info[0][1])
        self.assertIn("version", labels)
        self.assertEqual(samples[info[0]], 1)
        version = run_cli(["version"]).stdout
        self.assertIn(labels["version"], version)

    def test_head_metrics(self):
        r = self.req("HEAD", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"")

    def test_no_secrets_in_metrics(self):
        r = self.req("GET", "/metrics")
        text = r.body.decode()
        for s in (KEY1, KEY2, PG_PASSWORD):
            if s:
                self.assertNotIn(s, text)


class LogTest(ServerTestCase):
    """Every stdout line is a JSON object; access lines have the documented
    fields; health checks log at debug; no secrets (the audit in
    tearDownClass re-checks the whole output of every server)."""

    server_env = {"LOG_LEVEL": "debug"}

    def test_startup_and_access_lines_are_json(self):
        self.req("GET", "/healthz", key=None)
        self.create("log")
        self.req("GET", "/v1/items", key=None)
        time.sleep(0.2)
        logs = self.srv.logs()
        out = self.srv.stdout()
        self.assertEqual(len(logs), len([l for l in out.splitlines() if l.strip()]),
                         "non-JSON lines on stdout")
        for o in logs:
            self.assertIn(o["level"], ("debug", "info", "warn", "error"))
            self.assertRegex(o["time"], r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
        access = self.srv.access_logs()
        self.assertTrue(access)
        for o in access:
            for k in ("request_id", "method", "route", "status", "duration_ms", "bytes"):
                self.assertIn(k, o, o)
        health = [o for o in access if o["route"] in ("/healthz", "/readyz") and o["status"] < 500]
        self.assertTrue(health)
        self.assertTrue(all(o["level"] == "debug" for o in health), health)
        api = [o for o in access if o["route"] == "/v1/items"]
        self.assertTrue(all(o["level"] == "info" for o in api), api)

    def test_access_lines_name_the_key_without_revealing_it(self):
        """Key rotation needs to see which key clients use: access lines carry
        a short label per key (also logged once at start-up), never the key."""
        self.req("GET", "/v1/items", key=KEY1, headers={"X-Request-Id": "label-k1"})
        self.req("GET", "/v1/items", key=KEY2, auth="x-api-key", headers={"X-Request-Id": "label-k2"})
        self.req("GET", "/v1/items", key=None, headers={"X-Request-Id": "label-none"})
        time.sleep(0.2)
        by_id = {o.get("request_id"): o for o in self.srv.access_logs()}
        k1, k2 = by_id["label-k1"].get("key"), by_id["label-k2"].get("key")
        self.assertRegex(k1 or "", r"^[0-9a-f]{8}$")
        self.assertRegex(k2 or "", r"^[0-9a-f]{8}$")
        self.assertNotEqual(k1, k2)
        self.assertNotIn("key", by_id["label-none"], "an unauthenticated request names no key")
        loaded = {o["key"] for o in self.srv.logs() if o.get("message") == "api key loaded"}
        self.assertTrue({k1, k2} <= loaded, loaded)
        for label in (k1, k2):
            self.assertNotIn(label, KEY1 + KEY2)

    def test_no_secret_in_output_even_at_debug(self):
        self.req("GET", "/v1/items", key=KEY2, auth="x-api-key")
        self.req("GET", "/v1/items", key=KEY1)
        out = self.srv.stdout() + self.srv.stderr()
        self.assertNotIn(KEY1, out)
        self.assertNotIn(KEY2, out)
        if PG_PASSWORD:
            self.assertNotIn(PG_PASSWORD, out)

    def test_secrets_are_scrubbed_from_the_process_environment(self):
        # Keys are hashed at load time; the plaintext must not stay readable
        # in /proc/<pid>/environ (nor the database password).
        with open("/proc/%d/environ" % self.srv.proc.pid, "rb") as f:
            env = f.read()
        for s in (KEY1, KEY2, PG_PASSWORD):
            if s:
                self.assertNotIn(s.encode(), env)

    def test_database_url_is_redacted(self):
        if BACKEND == "postgres":
            self.assertNotIn(self.db.url, self.srv.stdout())
            self.assertNotIn(PG_PASSWORD, self.srv.stdout())

    def test_info_level_hides_health_access_lines(self):
        with TempServer(self, env={"LOG_LEVEL": "info"}) as s:
            s.request("GET", "/healthz", key=None)
            s.request("GET", "/v1/items")
            time.sleep(0.2)
            routes = [o["route"] for o in s.access_logs()]
            self.assertIn("/v1/items", routes)
            self.assertNotIn("/healthz", routes)

    def test_access_log_off(self):
        with TempServer(self, env={"ACCESS_LOG": "off"}) as s:
            s.request("GET", "/v1/items")
            time.sleep(0.2)
            self.assertEqual(s.access_logs(), [])

    def test_error_level_is_quiet(self):
        with TempServer(self, env={"LOG_LEVEL": "error"}) as s:
            s.request("GET", "/v1/items")
            time.sleep(0.2)
            self.assertEqual([o for o in s.logs() if o["level"] != "error"], [])


if __name__ == "__main__":
    unittest.main()
