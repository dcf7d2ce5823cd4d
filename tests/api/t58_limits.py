"""Body size limit (413) and per-key rate limit (429)."""

import json
import socket
import time
import unittest

from harness import KEY1, KEY2, ServerTestCase, parse_responses, read_until_close

LIMIT = 4096


def padded_body(total):
    """A valid create body of exactly `total` bytes (whitespace padding)."""
    base = b'{"name": "pad"}'
    return base[:-1] + b" " * (total - len(base)) + b"}"


class BodyLimitTest(ServerTestCase):

    server_env = {"MAX_BODY_BYTES": LIMIT}

    def head(self, method="POST", path="/v1/items", length=LIMIT + 1, ct="application/json",
             extra=""):
        return ("%s %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
                % (method, path, KEY1, ct, length, extra)).encode()

    def test_body_at_the_limit_is_accepted(self):
        body = padded_body(LIMIT)
        self.assertEqual(len(body), LIMIT)
        r = self.post_raw(body)
        self.assertEqual(r.status, 201, r)

    def test_declared_length_over_limit_is_413_without_reading_the_body(self):
        item = self.create("target")
        for method, path, ct in (("POST", "/v1/items", "application/json"),
                                 ("PUT", "/v1/items/%d" % item["id"], "application/json"),
                                 ("PATCH", "/v1/items/%d" % item["id"],
                                  "application/merge-patch+json")):
            for length in (LIMIT + 1, 10 ** 12):
                with self.subTest(method=method, length=length):
                    # Send only the head: the answer must come anyway.
                    r, closed = self.srv.raw_request(self.head(method, path, length, ct), method)
                    self.assertProblem(r, 413, blank=True)
                    self.assertEqual(r.header("Connection"), "close")
                    self.assertTrue(closed, "connection left open after 413")

    def test_413_even_with_a_wrong_content_type_or_unknown_id(self):
        r, _ = self.srv.raw_request(self.head(path="/v1/items/999999999", method="PUT"), "PUT")
        self.assertEqual(r.status, 413, r)

    def test_413_while_the_client_keeps_sending(self):
        s = self.srv.connect()
        try:
            s.sendall(self.head(length=LIMIT * 100))
            try:
                for _ in range(20):
                    s.sendall(b"x" * LIMIT)
            except OSError:
                pass  # the server may close early; the response must be there
            data, closed = read_until_close(s, 10)
        finally:
            s.close()
        resps = parse_responses(data)
        self.assertEqual(len(resps), 1, data[:500])
        self.assertEqual(resps[0][0], 413)
        self.assertTrue(closed)

    def test_chunked_body_over_limit_is_413(self):
        chunk = b"%x\r\n%s\r\n" % (1000, b" " * 1000)
        head = ("POST /v1/items HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" % KEY1).encode()
        data, closed = self.srv.raw(head + b'1\r\n{\r\n' + chunk * 6 + b"0\r\n\r\n")
        resps = parse_responses(data)
        self.assertEqual(len(resps), 1, data[:500])
        self.assertEqual(resps[0][0], 413, data[:500])
        self.assertTrue(closed)
        p = json.loads(resps[0][2])
        self.assertEqual(p["status"], 413)

    def test_chunked_body_under_limit_is_accepted(self):
        body = b'{"name": "chunked", "data": {"a": 1}}'
        head = ("POST /v1/items HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" % KEY1).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                          for i in range(0, len(body), 7))
        data, closed = self.srv.raw(head + chunks + b"0\r\n\r\n")
        resps = parse_responses(data)
        self.assertEqual([r[0] for r in resps], [201], data[:500])
        self.assertEqual(json.loads(resps[0][2])["name"], "chunked")

    def test_chunked_body_exactly_at_limit_is_accepted(self):
        body = padded_body(LIMIT)
        head = ("POST /v1/items HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" % KEY1).encode()
        data, _ = self.srv.raw(head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        self.assertEqual([r[0] for r in parse_responses(data)], [201], data[:300])

    def test_server_is_still_fine(self):
        self.assertEqual(self.req("GET", "/healthz", key=None).status, 200)


class RateLimitTest(ServerTestCase):
    """RATE_LIMIT_RPS: a token bucket per API key on /v1; 429 with
    Retry-After and RateLimit-* headers."""

    server_env = {"RATE_LIMIT_RPS": 1, "RATE_LIMIT_BURST": 3}

    def test_429_after_the_burst_per_key(self):
        statuses = []
        last = None
        for _ in range(12):
            last = self.req("GET", "/v1/items", key=KEY1)
            statuses.append(last.status)
            if last.status == 429:
                break
        self.assertEqual(statuses[0], 200)
        self.assertIn(429, statuses)
        self.assertProblem(last, 429)
        self.assertRegex(last.header("Retry-After") or "", r"^\d+$")
        for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
            self.assertRegex(last.header(h) or "", r"^\d+$", h)
        # Another key has its own bucket.
        r = self.req("GET", "/v1/items", key=KEY2)
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.header("RateLimit-Remaining") or "", r"^\d+$")
        # Open endpoints are not limited.
        for _ in range(5):
            self.assertEqual(self.req("GET", "/healthz", key=None).status, 200)

    def test_bucket_refills(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.req("GET", "/v1/items", key=KEY2).status == 429:
                break
        time.sleep(2.5)
        self.assertEqual(self.req("GET", "/v1/items", key=KEY2).status, 200)

    def test_unauthenticated_requests_are_401_not_429(self):
        for _ in range(6):
            self.assertEqual(self.req("GET", "/v1/items", key=None).status, 401)


if __name__ == "__main__":
    unittest.main()
