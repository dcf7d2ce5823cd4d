"""Strict HTTP/1.1 (RFC 9112): framing errors, header syntax, limits,
versions, Expect. Each bad request gets exactly one problem response and
then the server closes the connection; nothing after it is answered."""

import json
import socket
import time
import unittest

from harness import KEY1, ServerTestCase, parse_responses, read_until_close

H = "Host: t\r\n"
AUTH = "Authorization: Bearer %s\r\n" % KEY1
JSON_CT = "Content-Type: application/json\r\n"
# A request that would be answered if anything after the error were parsed.
SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: smuggled\r\n\r\n"

MAX_HEADER_BYTES = 2048


def req(head, body=b""):
    return head.encode("latin-1") + body


class ProtocolErrorTest(ServerTestCase):

    server_env = {"MAX_HEADER_BYTES": MAX_HEADER_BYTES}

    def exchange(self, payload, timeout=5):
        """Sends the payload without half-closing (so closing is the
        server's own decision); returns (responses, closed)."""
        s = self.srv.connect(timeout)
        try:
            try:
                s.sendall(payload)
            except OSError:
                pass  # the server may close before reading everything
            data, closed = read_until_close(s, timeout)
        finally:
            s.close()
        return parse_responses(data), closed, data

    def assertRejected(self, payload, status, smuggle=True):
        """Exactly one response with `status`, a problem body, Connection:
        close, and the connection closed by the server."""
        if smuggle:
            payload = payload + SMUGGLED
        resps, closed, data = self.exchange(payload)
        self.assertEqual(len(resps), 1, "expected exactly one response, got: %r" % data[:1500])
        st, hdrs, body = resps[0]
        self.assertEqual(st, status, data[:1500])
        self.assertTrue(closed, "connection not closed after %d" % status)
        self.assertEqual(hdrs.get("connection"), ["close"], data[:800])
        self.assertTrue(hdrs.get("content-type", [""])[0].startswith("application/problem+json"))
        p = json.loads(body)
        self.assertEqual(p["status"], status)
        self.assertEqual(p["request_id"], hdrs["x-request-id"][0])
        self.assertEqual(p["type"], "about:blank")
        return p

    def assertAccepted(self, payload, status=200):
        resps, closed, data = self.exchange(payload + b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
                                            b"Connection: close\r\n\r\n")
        self.assertEqual([r[0] for r in resps], [status, 200], data[:1500])

    # -- framing

    def test_content_length_and_transfer_encoding_together(self):
        for head in ("POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT +
                     "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                     "POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT +
                     "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                     "GET /healthz HTTP/1.1\r\n" + H +
                     "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"):
            with self.subTest(head=head):
                self.assertRejected(req(head, b"0\r\n\r\n"), 400)

    def test_conflicting_content_lengths(self):
        for cl in ("Content-Length: 5\r\nContent-Length: 6\r\n",
                   "Content-Length: 6\r\nContent-Length: 5\r\n",
                   "Content-Length: 5, 6\r\n", "Content-Length: 0\r\nContent-Length: 5\r\n"):
            with self.subTest(cl=cl):
                self.assertRejected(req("POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT + cl +
                                        "\r\n", b"{}   "), 400)

    def test_malformed_content_length(self):
        for v in ("abc", "-1", "+5", "5.0", "0x5", "", "5 5", "5a", " ", "1_000",
                  "99999999999999999999999", "\xa05"):
            with self.subTest(v=v):
                self.assertRejected(req("POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT +
                                        "Content-Length: " + v + "\r\n\r\n"), 400)

    def test_unknown_transfer_coding_is_501(self):
        for te in ("gzip", "deflate", "compress", "identity", "xchunked", "chunkedx"):
            with self.subTest(te=te):
                self.assertRejected(req("POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT +
                                        "Transfer-Encoding: " + te + "\r\n\r\n", b"0\r\n\r\n"), 501)

    def test_malformed_transfer_encoding(self):
        for te in ("chunked, chunked", "gzip, chunked", ""):
            with self.subTest(te=te):
                resps, closed, data = self.exchange(req(
                    "POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT + "Transfer-Encoding: " + te +
                    "\r\n\r\n", b"0\r\n\r\n") + SMUGGLED)
                self.assertEqual(len(resps), 1, data)
                self.assertIn(resps[0][0], (400, 501), data)
                self.assertTrue(closed)
        self.assertRejected(req("POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT +
                                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                                b"0\r\n\r\n"), 400)

    def test_bad_chunk_sizes(self):
        head = "POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT + "Transfer-Encoding: chunked\r\n\r\n"
        for body in (b"zz\r\n{}\r\n0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n", b"0x2\r\n{}\r\n0\r\n\r\n",
                     b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n", b" 2\r\n{}\r\n0\r\n\r\n",
                     b"2 \r\n{}\r\n0\r\n\r\n", b"\r\n{}\r\n0\r\n\r\n",
                     b"2\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"2\r\n{}\n0\r\n\r\n",
                     b"2;a\x00b\r\n{}\r\n0\r\n\r\n"):
            with self.subTest(body=body):
                self.assertRejected(req(head, body), 400)

    def test_chunked_with_extensions_and_trailers_is_fine(self):
        head = "POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT + "Transfer-Encoding: chunked\r\n\r\n"
        body = b'{"name":"ext"}'
        payload = req(head, b"%x;ext=1\r\n%s\r\n0\r\nX-Trailer: yes\r\n\r\n" % (len(body), body))
        self.assertAccepted(payload, 201)

    # -- header syntax

    def test_control_characters_in_header_values(self):
        for v in ("a\x00b", "a\rb", "\x00", "a\x7fb", "a\x01b", "a\x1fb"):
            with self.subTest(v=repr(v)):
                self.assertRejected(req("GET /healthz HTTP/1.1\r\n" + H + "X-Test: " + v + "\r\n\r\n"),
                                    400)

    def test_bare_lf_and_cr_line_endings(self):
        for payload in (b"GET /healthz HTTP/1.1\nHost: t\n\n",
                        b"GET /healthz HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n",
                        b"GET /healthz HTTP/1.1\r\nHost: t\rX-A: b\r\n\r\n",
                        b"GET /healthz HTTP/1.1\rHost: t\r\n\r\n"):
            with self.subTest(payload=payload):
                self.assertRejected(payload, 400)

    def test_whitespace_before_colon(self):
        for line in ("Host : t\r\n", "X-A : b\r\n", "Content-Length\t: 0\r\n",
                     "Transfer-Encoding : chunked\r\n"):
            with self.subTest(line=line):
                hdrs = line if line.startswith("Host") else H + line
                self.assertRejected(req("GET /healthz HTTP/1.1\r\n" + hdrs + "\r\n"), 400)

    def test_obsolete_line_folding(self):
        for fold in ("X-A: a\r\n b\r\n", "X-A: a\r\n\tb\r\n", "X-A: a\r\n \r\n"):
            with self.subTest(fold=fold):
                self.assertRejected(req("GET /healthz HTTP/1.1\r\n" + H + fold + "\r\n"), 400)
        self.assertRejected(req("GET /healthz HTTP/1.1\r\n Host: t\r\n\r\n"), 400)

    def test_malformed_header_names(self):
        for line in ("X A: b\r\n", ": novalue\r\n", "X-A\r\n", "X\x00A: b\r\n", "X(A): b\r\n",
                     "X\xe9: b\r\n"):
            with self.subTest(line=line):
                self.assertRejected(req("GET /healthz HTTP/1.1\r\n" + H + line + "\r\n"), 400)

    def test_missing_host(self):
        self.assertRejected(req("GET /healthz HTTP/1.1\r\n\r\n"), 400)
        self.assertRejected(req("GET /healthz HTTP/1.1\r\nX-Host: t\r\n\r\n"), 400)

    def test_duplicate_host(self):
        self.assertRejected(req("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400)
        self.assertRejected(req("GET /healthz HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400)

    def test_invalid_host(self):
        for host in ("a b", "a/b", "a@b\x01", "a\"b"):
            with self.subTest(host=host):
                self.assertRejected(req("GET /healthz HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), 400)

    def test_http10_without_host_is_fine(self):
        resps, closed, data = self.exchange(b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual([r[0] for r in resps], [200], data)
        self.assertTrue(closed, "HTTP/1.0 without keep-alive must close")

    def test_transfer_encoding_in_http10_is_400(self):
        self.assertRejected(req("POST /v1/items HTTP/1.0\r\n" + AUTH + JSON_CT +
                                "Transfer-Encoding: chunked\r\n\r\n", b"0\r\n\r\n"), 400)

    def test_duplicate_singleton_headers(self):
        for dup in ("Authorization: Bearer a\r\n", "X-API-Key: a\r\n", "Content-Type: text/plain\r\n",
                    "If-Match: \"1\"\r\n", "If-None-Match: \"1\"\r\n",
                    "Idempotency-Key: a\r\n"):  # two X-Request-Id: t80 DuplicateRequestIdTest
            with self.subTest(dup=dup):
                self.assertRejected(req("GET /v1/items HTTP/1.1\r\n" + H + dup + dup + "\r\n"), 400)

    # -- request line and versions

    def test_malformed_request_lines(self):
        for line in ("GET  /healthz HTTP/1.1", "GET /healthz  HTTP/1.1", "GET /healthz",
                     "GET", "/healthz HTTP/1.1", "GET /healthz HTTP/1.1 extra",
                     "GET /healthz http/1.1", "GET /healthz HTTP/1.", "GET /healthz HTTP/11",
                     "GE\x01T /healthz HTTP/1.1", "GET /heal\x7fthz HTTP/1.1",
                     "GET /h\xe9 HTTP/1.1", "GET /healthz#frag HTTP/1.1", "GET healthz HTTP/1.1",
                     "GET * HTTP/1.1", "GET\t/healthz HTTP/1.1"):
            with self.subTest(line=line):
                self.assertRejected(req(line + "\r\n" + H + "\r\n"), 400)

    def test_unsupported_versions_are_505(self):
        for v in ("HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"):
            with self.subTest(v=v):
                self.assertRejected(req("GET /healthz " + v + "\r\n" + H + "\r\n"), 505)

    def test_request_line_over_8k_is_414(self):
        long_path = "/v1/items/" + "a" * 9000
        self.assertRejected(req("GET " + long_path + " HTTP/1.1\r\n" + H + "\r\n"), 414,
                            smuggle=False)
        # Even before the line ends.
        self.assertRejected(req("GET " + long_path), 414, smuggle=False)

    def test_header_section_over_max_header_bytes_is_431(self):
        big = "X-Big: " + "b" * (MAX_HEADER_BYTES + 100) + "\r\n"
        many = "".join("X-H%d: %s\r\n" % (i, "v" * 40) for i in range(MAX_HEADER_BYTES // 40))
        cases = [
            ("incomplete head over the limit", "GET /healthz HTTP/1.1\r\n" + H + big),
            ("one big header", "GET /healthz HTTP/1.1\r\n" + H + big + "\r\n"),
            ("many headers", "GET /healthz HTTP/1.1\r\n" + H + many + "\r\n"),
            ("just over the limit", "GET /healthz HTTP/1.1\r\n" + H + "X-B: " +
             "b" * (MAX_HEADER_BYTES - 40) + "\r\n\r\n"),
        ]
        for label, head in cases:
            with self.subTest(label):
                self.assertGreater(len(head), MAX_HEADER_BYTES)
                self.assertRejected(req(head), 431, smuggle=False)

    def test_header_section_under_max_header_bytes_is_fine(self):
        hdr = "X-Big: " + "b" * (MAX_HEADER_BYTES - 200) + "\r\n"
        self.assertAccepted(req("GET /healthz HTTP/1.1\r\n" + H + hdr + "\r\n"), 200)

    # -- Expect

    def test_unsupported_expectation_is_417(self):
        for e in ("something", "100-continue-x", "200-ok"):
            with self.subTest(e=e):
                self.assertRejected(req("POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT +
                                        "Expect: " + e + "\r\nContent-Length: 2\r\n\r\n", b"{}"),
                                    417)

    def test_expect_100_continue(self):
        body = b'{"name":"continue"}'
        s = self.srv.connect()
        try:
            s.sendall(req("POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT +
                          "Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)))
            s.settimeout(10)
            first = s.recv(4096)
            self.assertTrue(first.startswith(b"HTTP/1.1 100 "), first)
            s.sendall(body)
            buf = first
            while buf.count(b"HTTP/1.1 ") < 2 or not buf.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        rest = buf[buf.index(b"\r\n\r\n") + 4:]
        resps = parse_responses(rest)
        self.assertEqual([r[0] for r in resps], [201], buf)

    def test_expect_100_with_error_skips_the_continue(self):
        r, closed = self.srv.raw_request(req("POST /v1/items HTTP/1.1\r\n" + H + JSON_CT +
                                             "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"),
                                         "POST")
        self.assertEqual(r.status, 401, r)

    def test_absolute_form_target(self):
        self.assertAccepted(req("GET http://t/healthz HTTP/1.1\r\n" + H + "\r\n"), 200)

    def test_server_survives(self):
        self.assertEqual(self.req("GET", "/healthz", key=None).status, 200)


class KeepAliveTest(ServerTestCase):
    """Default limits (MAX_HEADER_BYTES 16 KiB)."""

    def test_request_line_under_8k_is_fine(self):
        path = "/healthz?" + "a" * 8000
        self.assertLess(len("GET " + path + " HTTP/1.1"), 8192)
        data, _ = self.srv.raw(req("GET " + path + " HTTP/1.1\r\n" + H + "\r\n"))
        self.assertEqual([r[0] for r in parse_responses(data)], [200], data[:300])

    def test_keep_alive_reuses_the_connection(self):
        conn = self.srv.connection()
        try:
            ids = []
            for i in range(10):
                r = self.srv.request("POST", "/v1/items", {"name": "ka%d" % i}, conn=conn)
                self.assertEqual(r.status, 201, r)
                ids.append(r.json()["id"])
                if i == 0:
                    sock = conn.sock
                self.assertIs(conn.sock, sock, "the server closed a keep-alive connection")
            r = self.srv.request("GET", "/v1/items/%d" % ids[0], conn=conn)
            self.assertEqual(r.status, 200)
            # Errors that are not protocol errors keep the connection too.
            for path in ("/v1/nope", "/v1/items/abc"):
                self.assertEqual(self.srv.request("GET", path, conn=conn).status, 404)
                self.assertIs(conn.sock, sock)
            self.assertEqual(self.srv.request("GET", "/v1/items", key=None, conn=conn).status, 401)
            self.assertIs(conn.sock, sock)
        finally:
            conn.close()

    def test_pipelined_requests_are_answered_in_order(self):
        item = self.create("pipe")
        body = b'{"name":"piped"}'
        reqs = [
            "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: r0\r\n\r\n",
            "GET /v1/items/%d HTTP/1.1\r\nHost: t\r\n%sX-Request-Id: r1\r\n\r\n" % (item["id"], AUTH),
            "POST /v1/items HTTP/1.1\r\nHost: t\r\n%s%sContent-Length: %d\r\nX-Request-Id: r2\r\n\r\n"
            % (AUTH, JSON_CT, len(body)) + body.decode(),
            "GET /v1/nope HTTP/1.1\r\nHost: t\r\n%sX-Request-Id: r3\r\n\r\n" % AUTH,
            "GET /v1/items?limit=1 HTTP/1.1\r\nHost: t\r\n%sX-Request-Id: r4\r\n\r\n" % AUTH,
            "DELETE /v1/items HTTP/1.1\r\nHost: t\r\n%sX-Request-Id: r5\r\n\r\n" % AUTH,
            "GET /readyz HTTP/1.1\r\nHost: t\r\nX-Request-Id: r6\r\nConnection: close\r\n\r\n",
        ]
        s = self.srv.connect()
        try:
            s.sendall("".join(reqs).encode())
            data, closed = read_until_close(s, 15)
        finally:
            s.close()
        resps = parse_responses(data)
        self.assertEqual([r[1]["x-request-id"][0] for r in resps],
                         ["r0", "r1", "r2", "r3", "r4", "r5", "r6"], data[:3000])
        self.assertEqual([r[0] for r in resps], [200, 200, 201, 404, 200, 405, 200])
        self.assertTrue(closed)
        self.assertEqual(json.loads(resps[2][2])["name"], "piped")

    def test_pipelined_requests_in_tiny_pieces(self):
        payload = b"".join(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: p%d\r\n\r\n" % i
                           for i in range(4))
        payload += b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: p4\r\nConnection: close\r\n\r\n"
        s = self.srv.connect()
        try:
            for i in range(0, len(payload), 3):
                s.sendall(payload[i:i + 3])
            data, _ = read_until_close(s, 15)
        finally:
            s.close()
        resps = parse_responses(data)
        self.assertEqual([r[1]["x-request-id"][0] for r in resps], ["p%d" % i for i in range(5)])

    def test_many_pipelined_requests(self):
        n = 200
        payload = b"".join(b"GET /v1/items/1 HTTP/1.1\r\nHost: t\r\n" + AUTH.encode() +
                           b"X-Request-Id: m%d\r\n\r\n" % i for i in range(n))
        self.create("one")
        s = self.srv.connect()
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            data, _ = read_until_close(s, 30)
        finally:
            s.close()
        resps = parse_responses(data)
        self.assertEqual([r[1]["x-request-id"][0] for r in resps], ["m%d" % i for i in range(n)])

    def test_connection_close_is_honoured(self):
        resps, closed = None, None
        s = self.srv.connect()
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data, closed = read_until_close(s, 10)
        finally:
            s.close()
        resps = parse_responses(data)
        self.assertEqual(len(resps), 1)
        self.assertEqual(resps[0][1].get("connection"), ["close"])
        self.assertTrue(closed)

    def test_http10_keep_alive(self):
        s = self.srv.connect()
        try:
            s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            s.settimeout(10)
            data = b""
            while b"}" not in data:
                data += s.recv(4096)
            resps = parse_responses(data)
            self.assertEqual(resps[0][0], 200)
            self.assertEqual(resps[0][1].get("connection"), ["keep-alive"])
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            data, closed = read_until_close(s, 10)
            self.assertEqual([r[0] for r in parse_responses(data)], [200])
            self.assertTrue(closed)
        finally:
            s.close()

    def test_error_after_good_requests_closes_after_answering_them(self):
        payload = (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: ok1\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: ok2\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n" + SMUGGLED)
        s = self.srv.connect()
        try:
            s.sendall(payload)
            data, closed = read_until_close(s, 10)
        finally:
            s.close()
        resps = parse_responses(data)
        self.assertEqual([r[0] for r in resps], [200, 200, 400], data)
        self.assertTrue(closed)

    def test_head_in_a_pipeline(self):
        payload = (b"HEAD /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: h0\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: h1\r\nConnection: close\r\n\r\n")
        data, _ = self.srv.raw(payload, half_close=False)
        resps = parse_responses(data, head=(0,))
        self.assertEqual([(r[0], r[1]["x-request-id"][0]) for r in resps], [(200, "h0"), (200, "h1")])
        self.assertEqual(json.loads(resps[1][2]), {"status": "ok"})


class TimeoutTest(ServerTestCase):
    """HEADER_TIMEOUT_SECONDS, BODY_TIMEOUT_SECONDS -> 408 then close;
    KEEPALIVE_TIMEOUT_SECONDS -> silent close."""

    server_env = {"HEADER_TIMEOUT_SECONDS": 1, "BODY_TIMEOUT_SECONDS": 1,
                  "KEEPALIVE_TIMEOUT_SECONDS": 1}

    def test_slow_header_is_408(self):
        s = self.srv.connect()
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            data, closed = read_until_close(s, 15)
        finally:
            s.close()
        resps = parse_responses(data)
        self.assertEqual([r[0] for r in resps], [408], data)
        self.assertTrue(closed)
        self.assertEqual(json.loads(resps[0][2])["status"], 408)

    def test_trickled_header_does_not_extend_the_deadline(self):
        s = self.srv.connect()
        start = time.monotonic()
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
            got = b""
            s.settimeout(0.3)
            for i in range(40):  # one header byte every 0.3 s, up to 12 s
                try:
                    s.sendall(b"X")
                except OSError:
                    break
                try:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    break
            more, _ = read_until_close(s, 5)
            got += more
        finally:
            s.close()
        self.assertLess(time.monotonic() - start, 12, "trickling kept the connection alive")
        self.assertIn(b" 408 ", got[:20])

    def test_slow_body_is_408(self):
        s = self.srv.connect()
        try:
            s.sendall(req("POST /v1/items HTTP/1.1\r\n" + H + AUTH + JSON_CT +
                          "Content-Length: 100\r\n\r\n", b'{"name":'))
            data, closed = read_until_close(s, 15)
        finally:
            s.close()
        self.assertEqual([r[0] for r in parse_responses(data)], [408], data)
        self.assertTrue(closed)

    def test_idle_keep_alive_is_closed_silently(self):
        s = self.srv.connect()
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            s.settimeout(10)
            data = b""
            while b"}" not in data:
                data += s.recv(4096)
            more, closed = read_until_close(s, 15)
        finally:
            s.close()
        self.assertEqual(more, b"")
        self.assertTrue(closed)

    def test_silent_connection_is_closed_without_a_response(self):
        s = self.srv.connect()
        try:
            data, closed = read_until_close(s, 15)
        finally:
            s.close()
        self.assertEqual(data, b"")
        self.assertTrue(closed)


if __name__ == "__main__":
    unittest.main()
