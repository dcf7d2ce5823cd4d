"""The contract check itself (contract.py) and a second, independent opinion.

  - the validator the harness runs on every response catches a document
    that drifted from the service: a few deliberately wrong copies of
    openapi.yaml, each checked against real responses, are reported with the
    route and the validator's message (and the 422 schema this project had
    before, whose oneOf both branches matched, is one of them);
  - a violation fails the request that met it (the harness raises);
  - Stoplight Prism (`prism proxy`, tests/contract/package-lock.json) sits
    between a client and the service for a representative set of exchanges
    (every 422 kind, 400, 401, 404, 405, 412, 413, 415, 201, 200, 204, 304)
    and reports no response violation; the same exchanges through a Prism
    that reads the old 422 schema are reported, so the log parsing cannot
    pass by seeing nothing.
"""

import copy
import os
import re
import signal
import socket
import subprocess
import time
import unittest

import contract
import harness
from harness import KEY1, REPO, ServerTestCase, free_port, http_request

MERGE = [("Content-Type", "application/merge-patch+json")]


def mutated(edit):
    """A deep copy of openapi.yaml with edit(spec) applied, as a Contract."""
    spec = copy.deepcopy(contract.contract().spec)
    edit(spec)
    return contract.Contract(spec)


def old_422_schema(spec):
    """The schemas before issue 10: Problem open to other members,
    ValidationProblem = Problem + errors, so a validation-error body
    matches both branches of the 422 oneOf."""
    s = spec["components"]["schemas"]
    s["Problem"].pop("additionalProperties")
    s["ValidationProblem"] = {"allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {"type": "object", "required": ["errors"],
         "properties": {"errors": s["ValidationProblem"]["properties"]["errors"]}}]}


class DriftIsCaughtTest(ServerTestCase):

    def exchanges(self):
        item = self.create("drift", {"k": 1})
        p = "/v1/items/%d" % item["id"]
        return {
            "get": self.req("GET", p),
            "post422": self.req("POST", "/v1/items", {"name": ""}),
            "patch422": self.req("PATCH", p, b'{"name":null}', MERGE),
            "404": self.req("GET", "/v1/items/999999999"),
            "list": self.req("GET", "/v1/items?limit=2"),
        }

    def assertCaught(self, c, r, route, message):
        label, errs = c.check(r.method, r.target, r.status, r.headers, r.body)
        self.assertEqual(label.split(" -> ")[0], route, label)
        self.assertTrue(errs, "the wrong schema was not caught for %s" % label)
        self.assertTrue(any(re.search(message, e) for e in errs),
                        "%s: %r does not match %r" % (label, errs, message))
        return label, errs

    def test_the_real_document_accepts_the_real_responses(self):
        c = contract.contract()
        for name, r in self.exchanges().items():
            with self.subTest(name=name):
                label, errs = c.check(r.method, r.target, r.status, r.headers, r.body)
                self.assertEqual(errs, [], label)

    def test_a_wrong_document_is_caught(self):
        x = self.exchanges()

        def version_is_a_string(s):
            s["components"]["schemas"]["Item"]["properties"]["version"] = {"type": "string"}

        def detail_unknown_to_problem(s):
            del s["components"]["schemas"]["Problem"]["properties"]["detail"]
            s["components"]["schemas"]["Problem"]["required"].remove("detail")

        def weak_etags(s):
            s["components"]["headers"]["ETag"]["schema"]["pattern"] = '^W/"[0-9]+"$'

        def no_404_on_get_item(s):
            del s["paths"]["/v1/items/{id}"]["get"]["responses"]["404"]

        def cursor_is_required_text(s):
            s["components"]["schemas"]["ItemPage"]["properties"]["next_cursor"] = {"type": "string"}

        cases = [
            (version_is_a_string, "get", "GET /v1/items/{id}", r"^body \$\.version: 1 is not of type 'string'"),
            (detail_unknown_to_problem, "404", "GET /v1/items/{id}",
             r"Additional properties are not allowed \('detail' was unexpected\)"),
            (weak_etags, "get", "GET /v1/items/{id}", r"^header ETag: '\"1\"' does not match"),
            (no_404_on_get_item, "404", "GET /v1/items/{id}", r"^status 404 is not documented"),
            (cursor_is_required_text, "list", "GET /v1/items",
             r"^body \$\.next_cursor: None is not of type 'string'"),
            (old_422_schema, "post422", "POST /v1/items",
             r"^body \$: .* is valid under each of .*Problem"),
            (old_422_schema, "patch422", "PATCH /v1/items/{id}", r"is valid under each of"),
        ]
        for edit, which, route, message in cases:
            with self.subTest(edit=edit.__name__, exchange=which):
                self.assertCaught(mutated(edit), x[which], route, message)

    def test_a_violation_fails_the_request_that_met_it(self):
        """Through the harness's own client: the request raises
        ContractViolation naming the route and the message; the tally this
        run prints is not touched (a private one is used)."""
        wrong = mutated(old_422_schema)
        saved = contract._contract, contract.TALLY
        contract._contract, contract.TALLY = wrong, contract.Tally()
        try:
            with self.assertRaises(contract.ContractViolation) as cm:
                self.req("POST", "/v1/items", {"name": "x", "unknown": 1})
            seen = contract.TALLY
        finally:
            contract._contract, contract.TALLY = saved
        text = str(cm.exception)
        self.assertIn("POST /v1/items -> 422", text)
        self.assertIn("is valid under each of", text)
        self.assertEqual((seen.validated, len(seen.violations)), (1, 1))


# ---------------------------------------------------------------- Prism

PRISM_START_TIMEOUT = 60.0
RECEIVED = re.compile(r"\[HTTP SERVER\] (\w+) (\S+) .*Request received")
RESPONSE_VIOLATION = re.compile(r"Violation: (response\S*) (.*)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def prism_bin():
    return os.path.join(REPO, "build", "contract", "node_modules", ".bin", "prism")


class Prism:
    """`prism proxy SPEC UPSTREAM` on a free loopback port, logging to a
    file. Without --errors: with it, Prism answers a request it finds
    invalid itself (422, 401, 405) instead of forwarding it, and this suite
    sends invalid requests on purpose; response violations are logged
    either way, and those are what is checked."""

    def __init__(self, spec_path, upstream_port, name):
        self.port = free_port()
        self.log_path = os.path.join(harness.SERVERS_DIR, "prism-%s.log" % name)
        self._log = open(self.log_path, "wb")
        env = dict(os.environ, NO_COLOR="1", FORCE_COLOR="0")
        self.proc = subprocess.Popen(
            [prism_bin(), "proxy", "-h", "127.0.0.1", "-p", str(self.port), spec_path,
             "http://127.0.0.1:%d" % upstream_port],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)

    def wait_ready(self):
        deadline = time.monotonic() + PRISM_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("prism exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("prism not listening within %ss:\n%s" % (PRISM_START_TIMEOUT, self.log()))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def log(self):
        with open(self.log_path, "rb") as f:
            return ANSI.sub("", f.read().decode("utf-8", "replace"))

    def exchanges(self):
        """[(method, path, [response violations])] in the order received
        (the exchanges are sent one at a time)."""
        out = []
        for line in self.log().splitlines():
            m = RECEIVED.search(line)
            if m:
                out.append((m.group(1).upper(), m.group(2), []))
                continue
            m = RESPONSE_VIOLATION.search(line)
            if m and out:
                out[-1][2].append("%s: %s" % (m.group(1), m.group(2).strip()))
        return out


@unittest.skipUnless(harness.BACKEND == "sqlite",
                     "the Prism check runs once per suite run, on the sqlite backend (the "
                     "exchanges do not depend on the backend; every response of this backend's "
                     "run is checked by contract.py)")
class PrismProxyTest(ServerTestCase):
    """A second, independent opinion on the contract: Stoplight Prism."""

    server_env = {"MAX_BODY_BYTES": 131072}

    def exchanges(self, port):
        """A representative set: (what, method, path, body, headers,
        expected status). Sent to `port` (a Prism), one at a time. No HEAD:
        Prism 5.14's proxy parses a HEAD response's (absent) JSON body and
        answers 500 "invalid json response body", a Prism bug; contract.py
        checks every HEAD response of the suite."""
        item = self.create("prism", {"a": 1})
        p = "/v1/items/%d" % item["id"]
        ctl = {"name": "a\u0001b"}
        big_data = {"data": {"s": "x" * 70000}, "name": "big"}
        return [
            ("create", "POST", "/v1/items", {"name": "p1", "data": {"k": [1, None]}}, [], 201),
            ("read", "GET", p, None, [], 200),
            ("list", "GET", "/v1/items?limit=2", None, [], 200),
            ("not modified", "GET", p, None, [("If-None-Match", '"1"')], 304),
            ("replace", "PUT", p, {"name": "p2"}, [], 200),
            ("merge", "PATCH", p, b'{"data":{"b":2}}', MERGE, 200),
            ("stale If-Match", "PUT", p, {"name": "p3"}, [("If-Match", '"1"')], 412),
            ("unknown field", "POST", "/v1/items", {"name": "x", "colour": "red"}, [], 422),
            ("wrong type", "POST", "/v1/items", {"name": 5}, [], 422),
            ("missing name", "POST", "/v1/items", {"data": {}}, [], 422),
            ("name null", "POST", "/v1/items", {"name": None}, [], 422),
            ("empty name", "POST", "/v1/items", {"name": ""}, [], 422),
            ("control character", "POST", "/v1/items", ctl, [], 422),
            ("oversize data", "POST", "/v1/items", big_data, [], 422),
            ("patch name null", "PATCH", p, b'{"name":null}', MERGE, 422),
            ("idempotency key reused", "POST", "/v1/items", {"name": "k2"},
             [("Idempotency-Key", "prism-k")], 422),
            ("bad limit", "GET", "/v1/items?limit=0", None, [], 400),
            ("bad If-Match", "PUT", p, {"name": "p4"}, [("If-Match", "nope")], 400),
            ("no key", "GET", "/v1/items", None, None, 401),
            ("unknown id", "GET", "/v1/items/999999999", None, [], 404),
            ("unknown path", "GET", "/v1/nothing-here", None, [], 404),
            ("method not allowed", "DELETE", "/v1/items", None, [], 405),
            ("body too large", "POST", "/v1/items", {"name": "x" * 140000}, [], 413),
            ("media type", "POST", "/v1/items", b'{"name":"x"}', [("Content-Type", "text/plain")], 415),
            ("health", "GET", "/healthz", None, None, 200),
            ("ready", "GET", "/readyz", None, None, 200),
            ("metrics", "GET", "/metrics", None, [], 200),
            ("delete", "DELETE", p, None, [], 204),
        ]

    def send_all(self, prism, plan):
        got = []
        for what, method, path, body, headers, want in plan:
            hdrs = list(headers) if headers is not None else []
            if headers is not None:
                hdrs = [("Authorization", "Bearer " + KEY1)] + hdrs
            # Judged by Prism here (validate=False: Prism is the hop under
            # test); the same exchanges straight to the service are judged
            # by contract.py in the rest of the suite.
            r = http_request(prism.port, method, path, body, hdrs, validate=False)
            got.append((what, r.status, want))
        return got

    def test_prism_finds_no_violation_and_catches_the_old_422_schema(self):
        if not os.access(prism_bin(), os.X_OK):
            self.fail("%s is not installed: run tests/contract/install.sh (make test-api and "
                      "make test-sanitize do)" % prism_bin())
        t0 = time.monotonic()
        # The old 422 schema (both oneOf branches match a validation-error)
        # written beside the logs, for a second Prism that must object.
        import yaml
        old = copy.deepcopy(contract.contract().spec)
        old_422_schema(old)
        old_path = os.path.join(harness.SERVERS_DIR, "openapi-old-422.yaml")
        with open(old_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(old, f, sort_keys=False)
        good = Prism(os.path.join(REPO, "openapi.yaml"), self.srv.port, "openapi")
        bad = Prism(old_path, self.srv.port, "old-422")
        try:
            good.wait_ready()
            bad.wait_ready()
            started = time.monotonic() - t0
            # The idempotency key's first use, straight to the service.
            self.assertEqual(self.req("POST", "/v1/items", {"name": "k1"},
                                      [("Idempotency-Key", "prism-k")]).status, 201)
            plan = self.exchanges(good.port)
            got = self.send_all(good, plan)
            got_bad = self.send_all(bad, [x for x in plan if x[-1] == 422 and x[0] != "idempotency key reused"]
                                    + [x for x in plan if x[0] == "create"])
            time.sleep(0.5)  # let Prism write its last log lines
        finally:
            good.stop()
            bad.stop()
        wall = time.monotonic() - t0
        self.maxDiff = None
        self.assertEqual([(w, s) for w, s, _ in got], [(w, e) for w, _, e in got],
                         "statuses through Prism (log: %s)" % good.log_path)
        seen = good.exchanges()
        self.assertEqual(len(seen), len(plan),
                         "Prism logged %d exchanges, %d were sent:\n%s"
                         % (len(seen), len(plan), good.log()[-4000:]))
        violations = [("%s %s" % (m, p), v) for m, p, v in seen if v]
        self.assertEqual(violations, [], "Prism reports response violations (log: %s)"
                         % good.log_path)
        # The old schema: every validation-error 422 is reported, the 201 not.
        seen_bad = bad.exchanges()
        flagged = [bool(v) for _, _, v in seen_bad]
        self.assertEqual(len(seen_bad), len(got_bad), bad.log()[-4000:])
        self.assertEqual(flagged, [True] * (len(got_bad) - 1) + [False], bad.log()[-4000:])
        self.assertTrue(all("exactly one schema in oneOf" in " ".join(v) for _, _, v in seen_bad[:-1]),
                        seen_bad)
        print("\n  prism: %d exchanges through openapi.yaml, 0 response violations; old 422 "
              "schema: %d of %d flagged; started in %.1fs, %.1fs in all"
              % (len(seen), sum(flagged), len(seen_bad), started, wall), flush=True)


if __name__ == "__main__":
    unittest.main()
