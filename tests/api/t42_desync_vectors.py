"""Replays the public request-smuggling / desync vectors in
../shared/http-vectors (AWS http-desync-guardian and HTTP Garden).

Oracles, for every vector:
  - the server stays up (GET /healthz answers 200 afterwards);
  - it never sends more responses than the payload has request lines;
  - nothing is answered after a response that closes the connection;
  - 5xx answers are only protocol ones (501/505), never a crash (500).
For http-desync-guardian's "Severe" tier additionally: rejected at the
protocol level (400/501/505/...) or not answered at all, never routed
(every vector targets a path that does not exist, so a 404/405 means the
request was parsed as valid)."""

import json
import os
import re
import sys
import unittest

from harness import REPO, ServerTestCase, parse_responses

VECTOR_DIR = os.environ.get("HTTP_VECTORS_DIR",
                            os.path.join(os.path.dirname(REPO), "shared", "http-vectors"))
REQUEST_LINE = re.compile(rb"(?:^|\r\n)[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/\d\.\d\r\n")
PROTOCOL_REJECTIONS = {400, 408, 413, 414, 417, 431, 501, 505}


def load(test, name):
    """The vectors, or a skip with a notice when the folder is absent (a
    user's clone has no ../shared); a present folder without the file fails."""
    if not os.path.isdir(VECTOR_DIR):
        msg = "NOTICE: %s is absent on this clone; set HTTP_VECTORS_DIR to replay %s" % (
            VECTOR_DIR, name)
        print(msg, file=sys.stderr)
        test.skipTest(msg)
    path = os.path.join(VECTOR_DIR, name)
    if not os.path.exists(path):
        test.fail("%s not found in %s" % (name, VECTOR_DIR))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class DesyncVectorTest(ServerTestCase):

    server_env = {"HEADER_TIMEOUT_SECONDS": 2, "BODY_TIMEOUT_SECONDS": 2}

    def replay(self, payload):
        try:
            data = payload.encode("latin-1")
        except UnicodeEncodeError:  # a few vectors carry characters meant as UTF-8
            data = payload.encode("utf-8")
        raw, closed = self.srv.raw(data, half_close=True, timeout=6)
        return data, parse_responses(raw), raw, closed

    def check(self, label, payload, severe=False):
        data, resps, raw, closed = self.replay(payload)
        n_lines = max(1, len(REQUEST_LINE.findall(data)))
        self.assertLessEqual(len(resps), n_lines,
                             "%s: %d responses for %d request lines: %r"
                             % (label, len(resps), n_lines, raw[:600]))
        for i, (st, hdrs, _) in enumerate(resps):
            self.assertNotEqual(st, 500, "%s: 500 response" % label)
            if hdrs.get("connection") == ["close"]:
                self.assertEqual(i, len(resps) - 1, "%s: a response after Connection: close: %r"
                                 % (label, raw[:600]))
            if st in PROTOCOL_REJECTIONS and i < len(resps) - 1:
                self.fail("%s: answered a request after a protocol error: %r" % (label, raw[:600]))
        if severe and resps:
            self.assertIn(resps[0][0], PROTOCOL_REJECTIONS,
                          "%s: severe vector was not rejected: %r" % (label, raw[:600]))
        r = self.req("GET", "/healthz", key=None)
        self.assertEqual(r.status, 200, "%s: server unhealthy afterwards" % label)

    def test_http_desync_guardian_vectors(self):
        vectors = load(self, "hdg_vectors.json")
        self.assertGreater(len(vectors), 100)
        for i, v in enumerate(vectors):
            label = "hdg[%d] %s/%s: %s" % (i, v["file"], v["tier"], v["name"])
            with self.subTest(label):
                self.check(label, v["payload"], severe=v["tier"] == "Severe")

    def test_http_garden_vectors(self):
        vectors = load(self, "garden_vectors.json")
        self.assertGreater(len(vectors), 50)
        for i, v in enumerate(vectors):
            label = "garden[%d] %s" % (i, v["section"])
            with self.subTest(label):
                self.check(label, v["payload"])


if __name__ == "__main__":
    unittest.main()
