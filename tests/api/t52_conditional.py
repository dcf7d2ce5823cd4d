"""ETag / If-None-Match (304) / If-Match (412) on GET, PUT, PATCH, DELETE."""

import json
import unittest

from harness import ServerTestCase

MERGE = [("Content-Type", "application/merge-patch+json")]


class ConditionalTest(ServerTestCase):

    def item_at_version(self, version):
        item = self.create("cond")
        path = "/v1/items/%d" % item["id"]
        for i in range(version - 1):
            r = self.req("PUT", path, {"name": "cond", "data": {"i": i}})
            self.assertEqual(r.status, 200, r)
        return path

    # -- If-None-Match on GET/HEAD

    def test_if_none_match_current_is_304(self):
        path = self.item_at_version(1)
        for value in ('"1"', 'W/"1"', "*", '"7", "1"', '"7","1"', 'W/"9", W/"1"'):
            with self.subTest(value=value):
                r = self.req("GET", path, headers=[("If-None-Match", value)])
                self.assertEqual(r.status, 304, r)
                self.assertEqual(r.body, b"")
                self.assertEqual(r.header("ETag"), '"1"')
                self.assertTrue(r.header("X-Request-Id"))

    def test_if_none_match_on_head_is_304(self):
        path = self.item_at_version(1)
        r = self.req("HEAD", path, headers=[("If-None-Match", '"1"')])
        self.assertEqual(r.status, 304, r)

    def test_if_none_match_other_is_200(self):
        path = self.item_at_version(2)
        for value in ('"1"', '"3"', 'W/"1"', '"abc"', '"2x"'):
            with self.subTest(value=value):
                r = self.req("GET", path, headers=[("If-None-Match", value)])
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("ETag"), '"2"')
                self.assertEqual(r.json()["version"], 2)

    def test_if_none_match_unknown_item_is_404(self):
        r = self.req("GET", "/v1/items/999999999", headers=[("If-None-Match", "*")])
        self.assertProblem(r, 404)

    def test_malformed_if_none_match_is_400(self):
        path = self.item_at_version(1)
        for value in ("1", "abc", '"1', 'W/1'):
            with self.subTest(value=value):
                r = self.req("GET", path, headers=[("If-None-Match", value)])
                self.assertProblem(r, 400, "invalid-header")

    def test_etag_follows_version(self):
        item = self.create("etag")
        path = "/v1/items/%d" % item["id"]
        r = self.req("PUT", path, {"name": "etag2"})
        self.assertEqual(r.header("ETag"), '"2"')
        r = self.req("PATCH", path, b'{"name":"etag3"}', MERGE)
        self.assertEqual(r.header("ETag"), '"3"')
        self.assertEqual(self.req("GET", path).header("ETag"), '"3"')

    # -- If-Match on PUT

    def test_put_if_match(self):
        path = self.item_at_version(1)
        r = self.req("PUT", path, {"name": "v2"}, [("If-Match", '"1"')])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["version"], 2)
        r = self.req("PUT", path, {"name": "stale"}, [("If-Match", '"1"')])
        self.assertProblem(r, 412, "precondition-failed")
        self.assertEqual(self.req("GET", path).json()["name"], "v2")
        r = self.req("PUT", path, {"name": "v3"}, [("If-Match", '"5", "2"')])
        self.assertEqual(r.status, 200, r)
        r = self.req("PUT", path, {"name": "v4"}, [("If-Match", "*")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["version"], 4)

    def test_weak_tags_never_match_if_match(self):
        path = self.item_at_version(1)
        for method, body, h in (("PUT", {"name": "w"}, []),
                                ("PATCH", b'{"name":"w"}', MERGE),
                                ("DELETE", None, [])):
            with self.subTest(method=method):
                r = self.req(method, path, body, h + [("If-Match", 'W/"1"')])
                self.assertProblem(r, 412, "precondition-failed")
        self.assertEqual(self.req("GET", path).json()["version"], 1)

    def test_foreign_tags_never_match(self):
        path = self.item_at_version(1)
        r = self.req("PUT", path, {"name": "f"}, [("If-Match", '"abc"')])
        self.assertProblem(r, 412, "precondition-failed")

    def test_malformed_if_match_is_400(self):
        path = self.item_at_version(1)
        for value in ("1", '"1', "W/1", ",", "abc"):
            for method, body, h in (("PUT", {"name": "m"}, []),
                                    ("PATCH", b'{"name":"m"}', MERGE),
                                    ("DELETE", None, [])):
                with self.subTest(method=method, value=value):
                    r = self.req(method, path, body, h + [("If-Match", value)])
                    self.assertProblem(r, 400, "invalid-header")
        self.assertEqual(self.req("GET", path).json()["version"], 1)

    # -- If-Match on PATCH

    def test_patch_if_match(self):
        path = self.item_at_version(3)
        r = self.req("PATCH", path, b'{"data":{"x":1}}', MERGE + [("If-Match", '"2"')])
        self.assertProblem(r, 412, "precondition-failed")
        r = self.req("PATCH", path, b'{"data":{"x":1}}', MERGE + [("If-Match", '"3"')])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["version"], 4)
        r = self.req("PATCH", path, b'{"data":{"y":1}}', MERGE + [("If-Match", "*")])
        self.assertEqual(r.status, 200, r)

    # -- If-Match on DELETE

    def test_delete_if_match(self):
        path = self.item_at_version(2)
        r = self.req("DELETE", path, headers=[("If-Match", '"1"')])
        self.assertProblem(r, 412, "precondition-failed")
        self.assertEqual(self.req("GET", path).status, 200)
        r = self.req("DELETE", path, headers=[("If-Match", '"1", "2"')])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.req("GET", path).status, 404)

    def test_delete_if_match_star(self):
        path = self.item_at_version(1)
        r = self.req("DELETE", path, headers=[("If-Match", "*")])
        self.assertEqual(r.status, 204, r)
        r = self.req("DELETE", path, headers=[("If-Match", "*")])
        self.assertEqual(r.status, 404, r)

    def test_412_body_and_state_untouched(self):
        path = self.item_at_version(2)
        before = self.req("GET", path).json()
        r = self.req("PATCH", path, json.dumps({"name": "no"}).encode(),
                     MERGE + [("If-Match", '"1"')])
        self.assertProblem(r, 412, "precondition-failed")
        self.assertEqual(self.req("GET", path).json(), before)


if __name__ == "__main__":
    unittest.main()
