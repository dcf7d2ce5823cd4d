"""Cross-checks over everything this run observed (runs last):
  - every (method, route, status) the servers logged is documented in
    openapi.yaml;
  - every status code the issue names was produced by some test;
  - real responses match the documented schemas (the harness checks every
    response with contract.py; these exchanges name the operation each one
    must land on, so a routing slip in contract.py shows too)."""

import glob
import json
import os
import unittest

import harness
from harness import KEY1, ServerTestCase, parse_log_lines
import contract
from openapi_doc import SpecUnavailable, load_spec

# Status codes issue 2 names (plus the protocol ones the brief lists); a
# full run must have produced each at least once.
REQUIRED_STATUSES = {200, 201, 204, 304, 400, 401, 404, 405, 412, 413, 414, 415, 417, 422,
                     431, 501, 503, 505}
ROUTE_TO_PATH = {"/healthz": "/healthz", "/readyz": "/readyz", "/metrics": "/metrics",
                 "/v1/items": "/v1/items", "/v1/items/{id}": "/v1/items/{id}"}


def observed():
    """{(method, route, status)} from the access logs of every server this
    run started (including the ones still running)."""
    seen = set()
    for path in glob.glob(os.path.join(harness.SERVERS_DIR, "*.out")):
        with open(path, "rb") as f:
            objs, _ = parse_log_lines(f.read().decode("utf-8", "replace"))
        for o in objs:
            if o.get("message") == "request" and isinstance(o.get("status"), int):
                seen.add((o.get("method", ""), o.get("route", ""), o["status"]))
    return seen


def full_run():
    return os.environ.get("ITEMS_API_PARTIAL_RUN") != "1"


class DocumentedStatusTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        try:
            cls.spec = load_spec()
        except SpecUnavailable as e:
            raise AssertionError(str(e))
        cls.seen = observed()

    def documented(self, path, method):
        item = self.spec["paths"].get(path, {})
        op = item.get(method.lower())
        return {int(s) for s in op["responses"]} if op else set()

    def any_documented(self, path=None):
        out = set()
        for p, item in self.spec["paths"].items():
            if path and p != path:
                continue
            for m, op in item.items():
                if isinstance(op, dict) and "responses" in op:
                    out |= {int(s) for s in op["responses"]}
        return out

    def test_every_observed_status_is_documented(self):
        self.assertTrue(self.seen, "no access log lines found under %s" % harness.SERVERS_DIR)
        missing = []
        for method, route, status in sorted(self.seen):
            if route in ROUTE_TO_PATH:
                path = ROUTE_TO_PATH[route]
                ok = self.documented(path, method)
                if status == 405 or not ok:
                    # A method the path does not have: 405 must be documented
                    # for the path (and protocol errors anywhere on it).
                    ok = self.any_documented(path)
            else:
                # Unknown paths (404, 401 under /v1) and protocol errors
                # that came before routing.
                ok = self.any_documented()
            if status not in ok:
                missing.append((method, route, status))
        self.assertEqual(missing, [], "responses the server gave that openapi.yaml does not list")

    def test_no_500_was_ever_returned(self):
        self.assertEqual(sorted(s for s in self.seen if s[2] >= 500 and s[2] not in (501, 503, 505)),
                         [])

    def test_every_required_status_was_exercised(self):
        if not full_run():
            self.skipTest("partial run (-k): not every test ran")
        statuses = {s for _, _, s in self.seen}
        self.assertEqual(sorted(REQUIRED_STATUSES - statuses), [],
                         "status codes no test produced")


class ResponseSchemaTest(ServerTestCase):
    """Real responses against the documented schemas."""

    @classmethod
    def setUpClass(cls):
        try:
            cls.spec = load_spec()
        except SpecUnavailable as e:
            raise AssertionError(str(e))
        super().setUpClass()

    def check(self, r, path, method, status=None):
        """The response answered `method path` with `status`, and validates
        against that operation's response in openapi.yaml."""
        status = status or r.status
        self.assertEqual(r.status, status, r)
        label, errs = contract.contract().check(r.method, r.target, r.status, r.headers, r.body)
        self.assertTrue(label.startswith("%s %s -> " % (method.upper(), path)),
                        "%s %s landed on %s" % (r.method, r.target, label))
        self.assertEqual(errs, [], label)

    def test_items_responses(self):
        r = self.req("POST", "/v1/items", {"name": "schema", "data": {"a": [1, {"b": None}]}})
        self.check(r, "/v1/items", "post", 201)
        item = r.json()
        p = "/v1/items/%d" % item["id"]
        self.check(self.req("GET", p), "/v1/items/{id}", "get", 200)
        self.check(self.req("GET", p, headers=[("If-None-Match", '"1"')]), "/v1/items/{id}", "get", 304)
        self.check(self.req("HEAD", p), "/v1/items/{id}", "head", 200)
        self.check(self.req("GET", "/v1/items?limit=1"), "/v1/items", "get", 200)
        self.check(self.req("PUT", p, {"name": "s2"}), "/v1/items/{id}", "put", 200)
        self.check(self.req("PATCH", p, b'{"data":null}',
                            [("Content-Type", "application/merge-patch+json")]),
                   "/v1/items/{id}", "patch", 200)
        self.check(self.req("PUT", p, {"name": "s3"}, [("If-Match", '"1"')]),
                   "/v1/items/{id}", "put", 412)
        self.check(self.req("DELETE", p), "/v1/items/{id}", "delete", 204)
        self.check(self.req("GET", p), "/v1/items/{id}", "get", 404)

    def test_error_responses(self):
        self.check(self.req("POST", "/v1/items", {"name": ""}), "/v1/items", "post", 422)
        self.check(self.req("POST", "/v1/items", b"{", [("Content-Type", "application/json")]),
                   "/v1/items", "post", 400)
        self.check(self.req("POST", "/v1/items", b"{}", [("Content-Type", "text/plain")]),
                   "/v1/items", "post", 415)
        self.check(self.req("GET", "/v1/items", key=None), "/v1/items", "get", 401)
        self.check(self.req("GET", "/v1/items?limit=0"), "/v1/items", "get", 400)
        self.check(self.req("DELETE", "/v1/items"), "/v1/items (method not in openapi.yaml)",
                   "delete", 405)

    def test_operational_responses(self):
        self.check(self.req("GET", "/healthz", key=None), "/healthz", "get", 200)
        self.check(self.req("GET", "/readyz", key=None), "/readyz", "get", 200)
        self.check(self.req("GET", "/metrics"), "/metrics", "get", 200)
        self.check(self.req("GET", "/metrics", key=None), "/metrics", "get", 401)


if __name__ == "__main__":
    unittest.main()
