"""Items CRUD end to end: shapes, headers, status codes, routing (404/405),
HEAD, and the documented order of checks."""

import unittest

from harness import KEY1, ServerTestCase


class ItemsCrudTest(ServerTestCase):

    def test_create_returns_201_location_etag_and_item(self):
        r = self.req("POST", "/v1/items", {"name": "widget", "data": {"color": "red", "n": [1, 2]}})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r)
        item = r.json()
        self.assertItem(item, name="widget", data={"color": "red", "n": [1, 2]}, version=1)
        self.assertEqual(item["created_at"], item["updated_at"])
        self.assertEqual(r.header("Location"), "/v1/items/%d" % item["id"])
        self.assertEqual(r.header("ETag"), '"1"')
        self.assertIsNone(r.header("Idempotent-Replayed"))

    def test_create_without_data_defaults_to_empty_object(self):
        item = self.create("no data")
        self.assertEqual(item["data"], {})

    def test_create_accepts_charset_utf8_and_media_type_case(self):
        for ct in ("application/json; charset=utf-8", "application/json;charset=UTF-8",
                   'application/json; charset="utf-8"', "Application/JSON"):
            r = self.post_raw(b'{"name":"ct"}', ct)
            self.assertEqual(r.status, 201, (ct, r))

    def test_ids_are_distinct_and_increasing(self):
        a = self.create("a")["id"]
        b = self.create("b")["id"]
        self.assertGreater(b, a)

    def test_get_returns_item_with_etag(self):
        item = self.create("get me", {"k": "v"})
        r = self.req("GET", "/v1/items/%d" % item["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), item)
        self.assertEqual(r.header("ETag"), '"1"')

    def test_head_item_has_headers_and_no_body(self):
        item = self.create("head")
        g = self.req("GET", "/v1/items/%d" % item["id"])
        r = self.req("HEAD", "/v1/items/%d" % item["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("ETag"), '"1"')
        self.assertEqual(r.header("Content-Length"), g.header("Content-Length"))

    def test_head_collection(self):
        r = self.req("HEAD", "/v1/items")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"")

    def test_put_replaces_and_bumps_version(self):
        item = self.create("old", {"a": 1, "b": 2})
        r = self.req("PUT", "/v1/items/%d" % item["id"], {"name": "new", "data": {"c": 3}})
        self.assertEqual(r.status, 200, r)
        new = r.json()
        self.assertItem(new, name="new", data={"c": 3}, version=2)
        self.assertEqual(new["id"], item["id"])
        self.assertEqual(new["created_at"], item["created_at"])
        self.assertGreaterEqual(new["updated_at"], item["updated_at"])
        self.assertEqual(r.header("ETag"), '"2"')
        self.assertEqual(self.req("GET", "/v1/items/%d" % item["id"]).json(), new)

    def test_put_without_data_resets_data(self):
        item = self.create("x", {"a": 1})
        r = self.req("PUT", "/v1/items/%d" % item["id"], {"name": "x"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"], {})

    def test_patch_merges_per_rfc7396(self):
        item = self.create("p", {"keep": 1, "drop": 2, "nested": {"a": 1, "b": 2}})
        r = self.req("PATCH", "/v1/items/%d" % item["id"],
                     b'{"data": {"drop": null, "add": [1], "nested": {"b": null, "c": 3}}}',
                     [("Content-Type", "application/merge-patch+json")])
        self.assertEqual(r.status, 200, r)
        got = r.json()
        self.assertItem(got, name="p", version=2,
                        data={"keep": 1, "add": [1], "nested": {"a": 1, "c": 3}})
        self.assertEqual(r.header("ETag"), '"2"')

    def test_patch_name_only_keeps_data(self):
        item = self.create("before", {"a": 1})
        r = self.patch(item["id"], {"name": "after"})
        self.assertEqual(r.status, 200, r)
        self.assertItem(r.json(), name="after", data={"a": 1}, version=2)

    def test_patch_data_null_resets_data_to_empty_object(self):
        item = self.create("d", {"a": 1})
        r = self.patch(item["id"], {"data": None})
        self.assertEqual(r.status, 200, r)
        self.assertItem(r.json(), name="d", data={}, version=2)

    def test_patch_arrays_are_replaced_not_merged(self):
        item = self.create("arr", {"l": [1, 2, 3]})
        r = self.patch(item["id"], {"data": {"l": [9]}})
        self.assertEqual(r.json()["data"], {"l": [9]})

    def test_patch_empty_object_is_ok(self):
        item = self.create("empty patch", {"a": 1})
        r = self.patch(item["id"], {})
        self.assertEqual(r.status, 200, r)
        self.assertItem(r.json(), name="empty patch", data={"a": 1})

    def test_patch_name_null_is_422(self):
        item = self.create("n")
        r = self.patch(item["id"], {"name": None})
        self.assertValidationProblem(r, ["name"])
        self.assertEqual(self.req("GET", "/v1/items/%d" % item["id"]).json(), item)

    def test_patch_invalid_result_is_422(self):
        item = self.create("n")
        self.assertValidationProblem(self.patch(item["id"], {"name": "x" * 201}), ["name"])
        self.assertValidationProblem(self.patch(item["id"], {"name": 5}), ["name"])
        self.assertValidationProblem(self.patch(item["id"], {"data": [1]}), ["data"])
        self.assertValidationProblem(self.patch(item["id"], {"data": "s"}), ["data"])

    def test_patch_unknown_field_or_non_object_is_422_even_for_unknown_id(self):
        item = self.create("n")
        for target in (item["id"], 999999999):
            self.assertValidationProblem(self.patch(target, {"id": 5}), ["id"])
            self.assertValidationProblem(self.patch(target, {"version": 5}), ["version"])
            for body in (b"[]", b'"x"', b"1", b"null", b"true"):
                r = self.req("PATCH", "/v1/items/%d" % target, body,
                             [("Content-Type", "application/merge-patch+json")])
                self.assertValidationProblem(r)

    def test_patch_unknown_id_is_404(self):
        r = self.patch(999999999, {"name": "x"})
        self.assertProblem(r, 404, blank=True)

    def test_delete_then_gone(self):
        item = self.create("del")
        r = self.req("DELETE", "/v1/items/%d" % item["id"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertIsNone(r.header("Content-Type"))
        self.assertProblem(self.req("GET", "/v1/items/%d" % item["id"]), 404, blank=True)
        self.assertProblem(self.req("DELETE", "/v1/items/%d" % item["id"]), 404, blank=True)
        self.assertProblem(self.req("PUT", "/v1/items/%d" % item["id"], {"name": "z"}), 404)
        self.assertProblem(self.patch(item["id"], {"name": "z"}), 404)

    def test_deleted_ids_are_not_reused(self):
        a = self.create("a")
        self.assertEqual(self.req("DELETE", "/v1/items/%d" % a["id"]).status, 204)
        b = self.create("b")
        self.assertGreater(b["id"], a["id"])

    def test_bad_ids_are_404(self):
        self.create("exists")  # id 1 exists at least from here on
        for raw in ("abc", "1a", "01", "007", "0", "-1", "+1", "1.0", "1e3", "%31",
                    "9223372036854775808", "99999999999999999999", "18446744073709551616",
                    "9223372036854775807"):
            path = "/v1/items/" + raw
            for method in ("GET", "HEAD", "DELETE"):
                r = self.req(method, path)
                self.assertEqual(r.status, 404, (method, raw, r))
            self.assertProblem(self.req("GET", path), 404, blank=True)
            self.assertProblem(self.req("PUT", path, {"name": "x"}), 404)
            self.assertProblem(self.patch(path, {"name": "x"}), 404)

    def test_unknown_paths_are_404(self):
        for path in ("/", "/v1", "/v1/", "/v1/itemz", "/v1/items/1/extra", "/v1/items/", "/v2/items",
                     "/items", "/healthz/", "/V1/items", "/metrics/x"):
            r = self.req("GET", path)
            self.assertProblem(r, 404, blank=True)

    def test_405_with_allow(self):
        item = self.create("m")
        cases = [
            ("/v1/items", ("PUT", "PATCH", "DELETE", "OPTIONS"), {"GET", "HEAD", "POST"}),
            ("/v1/items/%d" % item["id"], ("POST", "OPTIONS"),
             {"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
            ("/healthz", ("POST", "DELETE", "PUT"), {"GET", "HEAD"}),
            ("/readyz", ("POST",), {"GET", "HEAD"}),
            ("/metrics", ("POST",), {"GET", "HEAD"}),
        ]
        for path, methods, allowed in cases:
            for m in methods:
                r = self.req(m, path)
                self.assertProblem(r, 405, blank=True)
                allow = {a.strip() for a in (r.header("Allow") or "").split(",")}
                self.assertEqual(allow, allowed, (m, path, r))

    def test_unknown_method_token_is_405_on_known_path(self):
        r = self.req("BREW", "/v1/items")
        self.assertProblem(r, 405)
        self.assertIn("POST", r.header("Allow"))

    def test_405_comes_before_body_checks(self):
        item = self.create("m")
        r = self.req("POST", "/v1/items/%d" % item["id"], b"not json", [("Content-Type", "text/plain")])
        self.assertProblem(r, 405)
        r = self.req("DELETE", "/v1/items", b"x" * 10, [("Content-Type", "text/plain")])
        self.assertProblem(r, 405)

    def test_validation_comes_before_existence(self):
        # 400/415/422 are decided before looking the item up (404).
        missing = "/v1/items/999999999"
        self.assertProblem(self.req("PUT", missing, {"name": ""}), 422, "validation-error")
        self.assertProblem(self.req("PUT", missing, {"name": "x", "bogus": 1}), 422)
        self.assertProblem(self.req("PUT", missing, b"{", [("Content-Type", "application/json")]),
                           400, "invalid-json")
        self.assertProblem(self.req("PUT", missing, b"{}", [("Content-Type", "text/plain")]), 415)
        self.assertProblem(self.req("PUT", missing, {"name": "ok"}), 404)

    def test_existence_comes_before_preconditions(self):
        missing = "/v1/items/999999999"
        for method, body, ct in (("PUT", b'{"name":"x"}', "application/json"),
                                 ("PATCH", b'{"name":"x"}', "application/merge-patch+json"),
                                 ("DELETE", None, None)):
            h = [("If-Match", '"1"')] + ([("Content-Type", ct)] if ct else [])
            r = self.req(method, missing, body, h)
            self.assertProblem(r, 404, blank=True)

    # -- helpers

    def patch(self, id_or_path, body):
        path = id_or_path if isinstance(id_or_path, str) else "/v1/items/%d" % id_or_path
        import json
        return self.req("PATCH", path, json.dumps(body).encode(),
                        [("Content-Type", "application/merge-patch+json")])


class ContentTypeTest(ServerTestCase):

    def test_post_put_need_application_json(self):
        item = self.create("ct")
        path = "/v1/items/%d" % item["id"]
        for method, p in (("POST", "/v1/items"), ("PUT", path)):
            for ct in (None, "text/plain", "application/merge-patch+json", "application/jsonx",
                       "application/json; charset=latin-1", "application/x-www-form-urlencoded",
                       "application/json-patch+json", "multipart/form-data; boundary=x"):
                h = [] if ct is None else [("Content-Type", ct)]
                r = self.req(method, p, b'{"name":"x"}', h)
                self.assertProblem(r, 415, blank=True)

    def test_patch_needs_merge_patch_json(self):
        item = self.create("ct")
        path = "/v1/items/%d" % item["id"]
        for ct in (None, "application/json", "text/plain", "application/json-patch+json"):
            h = [] if ct is None else [("Content-Type", ct)]
            r = self.req("PATCH", path, b'{"name":"x"}', h)
            self.assertProblem(r, 415, blank=True)
        r = self.req("PATCH", path, b'{"name":"y"}',
                     [("Content-Type", "application/merge-patch+json; charset=utf-8")])
        self.assertEqual(r.status, 200, r)

    def test_415_even_for_unknown_id(self):
        r = self.req("PATCH", "/v1/items/999999999", b'{"name":"x"}', [("Content-Type", "application/json")])
        self.assertProblem(r, 415)


if __name__ == "__main__":
    unittest.main()
