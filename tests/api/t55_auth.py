"""API keys: both header forms, several keys at once (rotation), 401 with
WWW-Authenticate before anything else on /v1 and /metrics."""

import unittest

from harness import KEY1, KEY2, ServerTestCase, TempServer, http_request

PROTECTED = [
    ("GET", "/v1/items"), ("HEAD", "/v1/items"), ("POST", "/v1/items"),
    ("GET", "/v1/items/1"), ("PUT", "/v1/items/1"), ("PATCH", "/v1/items/1"),
    ("DELETE", "/v1/items/1"), ("GET", "/metrics"),
    # Unknown paths and wrong methods under /v1 still ask for a key first.
    ("GET", "/v1"), ("GET", "/v1/nope"), ("GET", "/v1/items/abc"), ("DELETE", "/v1/items"),
    ("POST", "/v1/items/1"), ("OPTIONS", "/v1/items"),
]


class AuthTest(ServerTestCase):

    def assert401(self, r, method):
        self.assertEqual(r.status, 401, r)
        self.assertRegex(r.header("WWW-Authenticate") or "", r'^Bearer\b')
        self.assertIn('realm="items-api"', r.header("WWW-Authenticate"))
        if method != "HEAD":
            self.assertProblem(r, 401, blank=True)

    def test_missing_key_is_401_everywhere(self):
        for method, path in PROTECTED:
            with self.subTest(method=method, path=path):
                self.assert401(self.req(method, path, key=None), method)

    def test_wrong_key_is_401_in_both_forms(self):
        for auth in ("bearer", "x-api-key"):
            for wrong in ("wrong-key-0123456789abcdef", KEY1 + "x", KEY1[:-1], KEY1.upper()):
                for method, path in PROTECTED:
                    with self.subTest(auth=auth, key=wrong[:8], method=method, path=path):
                        self.assert401(self.req(method, path, key=wrong, auth=auth), method)

    def test_malformed_authorization_is_401(self):
        for value in ("Basic " + KEY1, KEY1, "Bearer", "Bearer ", "Token " + KEY1,
                      "Bearer  " + KEY1 + " extra", "Bearer" + KEY1):
            with self.subTest(value=value[:12]):
                r = self.req("GET", "/v1/items", key=None, headers=[("Authorization", value)])
                self.assert401(r, "GET")
        r = self.req("GET", "/v1/items", key=None, headers=[("X-API-Key", "")])
        self.assert401(r, "GET")

    def test_both_header_forms_work(self):
        for auth in ("bearer", "x-api-key"):
            r = self.req("GET", "/v1/items", key=KEY1, auth=auth)
            self.assertEqual(r.status, 200, r)

    def test_bearer_scheme_is_case_insensitive(self):
        r = self.req("GET", "/v1/items", key=None, headers=[("Authorization", "bearer " + KEY1)])
        self.assertEqual(r.status, 200, r)

    def test_two_keys_are_active_at_once(self):
        for key in (KEY1, KEY2):
            for auth in ("bearer", "x-api-key"):
                r = self.req("POST", "/v1/items", {"name": "rot"}, key=key, auth=auth)
                self.assertEqual(r.status, 201, r)
                r = self.req("GET", "/metrics", key=key, auth=auth)
                self.assertEqual(r.status, 200, r)

    def test_401_comes_before_405_404_415_413_400(self):
        cases = [
            ("DELETE", "/v1/items", None, []),                         # 405 with a key
            ("GET", "/v1/does-not-exist", None, []),                    # 404
            ("POST", "/v1/items", b"{}", [("Content-Type", "text/plain")]),  # 415
            ("POST", "/v1/items", b"{", [("Content-Type", "application/json")]),  # 400
            ("POST", "/v1/items", b"x", [("Content-Type", "application/json"),
                                         ("Content-Length", "999999999")]),  # 413
            ("GET", "/v1/items?limit=0", None, []),                     # 400
            ("POST", "/v1/items", b'{"name":"x"}', [("Content-Type", "application/json"),
                                                    ("Idempotency-Key", "")]),  # 400
        ]
        for method, path, body, h in cases:
            with self.subTest(method=method, path=path, h=h):
                r = self.request_raw_body(method, path, body, h)
                self.assert401(r, method)

    def request_raw_body(self, method, path, body, h):
        # A declared Content-Length larger than the body: the server must
        # answer without waiting for it; http.client would not let us lie.
        if any(k == "Content-Length" for k, _ in h):
            head = "%s %s HTTP/1.1\r\nHost: t\r\n" % (method, path)
            head += "".join("%s: %s\r\n" % kv for kv in h) + "\r\n"
            r, _ = self.srv.raw_request(head.encode() + body, method)
            return r
        return self.req(method, path, body, h, key=None)

    def test_open_endpoints_need_no_key(self):
        for path in ("/healthz", "/readyz"):
            r = self.req("GET", path, key=None)
            self.assertEqual(r.status, 200, r)
            r = self.req("GET", path, key="wrong-key-0123456789")
            self.assertEqual(r.status, 200, r)

    def test_failed_auth_is_logged_without_the_key(self):
        wrong = "wrong-secret-" + "z" * 20
        self.req("GET", "/v1/items", key=wrong)
        self.req("GET", "/v1/items", key=wrong, auth="x-api-key")
        self.assertNotIn(wrong, self.srv.stdout() + self.srv.stderr())
        self.assertNotIn(KEY1, self.srv.stdout() + self.srv.stderr())


class KeyRotationTest(ServerTestCase):
    """Rotation: start with {old, new}, then restart with {new} only."""

    server_keys = (KEY1,)

    def test_rotation_by_restart(self):
        self.assertEqual(self.req("GET", "/v1/items", key=KEY1).status, 200)
        self.assertEqual(self.req("GET", "/v1/items", key=KEY2).status, 401)
        with TempServer(self, keys=(KEY1, KEY2), db=self.db) as s:
            for k in (KEY1, KEY2):
                self.assertEqual(s.request("GET", "/v1/items", key=k).status, 200)
        with TempServer(self, keys=(KEY2,), db=self.db) as s:
            self.assertEqual(s.request("GET", "/v1/items", key=KEY2).status, 200)
            self.assertEqual(s.request("GET", "/v1/items", key=KEY1).status, 401)


if __name__ == "__main__":
    unittest.main()
