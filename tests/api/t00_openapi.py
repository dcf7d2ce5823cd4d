"""openapi.yaml: a valid OpenAPI document that describes every path,
method, parameter, header, schema, security scheme and status code of the
API. Validated with openapi-spec-validator when it is importable; otherwise
a notice is printed and a structural check with PyYAML stands in (the
structural checks below run in both cases)."""

import sys
import unittest

from openapi_doc import (SPEC_PATH, SpecUnavailable, all_refs, load_spec, op_parameters,
                         operations, resolve, response)

EXPECTED = {
    # path: {method: statuses the operation must document}
    "/healthz": {"get": {200, 405}, "head": {200}},
    "/readyz": {"get": {200, 503}, "head": {200, 503}},
    "/metrics": {"get": {200, 401}, "head": {200, 401}},
    "/v1/items": {
        "get": {200, 400, 401, 429, 503},
        "head": {200, 401},
        "post": {201, 400, 401, 405, 413, 415, 422, 429, 503},
    },
    "/v1/items/{id}": {
        "get": {200, 304, 400, 401, 404, 405, 503},
        "head": {200, 304, 401, 404},
        "put": {200, 400, 401, 404, 412, 413, 415, 422, 503},
        "patch": {200, 400, 401, 404, 412, 413, 415, 422, 503},
        "delete": {204, 400, 401, 404, 412, 503},
    },
}
# Protocol errors any request can get: documented on every GET/POST/PUT/
# PATCH/DELETE operation.
PROTOCOL = {400, 408, 414, 417, 431, 501, 505}


class OpenApiValidityTest(unittest.TestCase):

    def test_validates_with_openapi_spec_validator(self):
        try:
            from openapi_spec_validator import validate
            from openapi_spec_validator.readers import read_from_filename
        except ImportError as e:
            sys.stderr.write(
                "\nNOTICE: openapi-spec-validator is not importable under %s (%s); "
                "falling back to the structural check with PyYAML "
                "(t00_openapi.OpenApiStructureTest covers it).\n" % (sys.executable, e))
            spec = self.load()
            self.assertRegex(str(spec.get("openapi", "")), r"^3\.[01]\.\d+$")
            self.assertIn("info", spec)
            self.assertIn("title", spec["info"])
            self.assertIn("version", spec["info"])
            self.assertIsInstance(spec.get("paths"), dict)
            for where, ref in all_refs(spec):
                resolve(spec, {"$ref": ref})
            for path, method, op in operations(spec):
                self.assertIn("responses", op, (path, method))
                for status in op["responses"]:
                    self.assertRegex(str(status), r"^([1-5]\d\d|[1-5]XX|default)$")
                    self.assertIn("description", resolve(spec, op["responses"][status]))
            return
        spec_dict, _ = read_from_filename(SPEC_PATH)
        validate(spec_dict)

    def load(self):
        try:
            return load_spec()
        except SpecUnavailable as e:
            self.fail(str(e))


class OpenApiStructureTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        try:
            cls.spec = load_spec()
        except SpecUnavailable as e:
            raise AssertionError(str(e))

    def test_every_ref_resolves(self):
        refs = list(all_refs(self.spec))
        self.assertGreater(len(refs), 20)
        for where, ref in refs:
            with self.subTest(where=where):
                resolve(self.spec, {"$ref": ref})

    def test_paths_and_methods(self):
        self.assertEqual(set(self.spec["paths"]), set(EXPECTED))
        for path, methods in EXPECTED.items():
            documented = {m for p, m, _ in operations(self.spec) if p == path}
            self.assertEqual(documented, set(methods), path)

    def test_status_codes_per_operation(self):
        for path, methods in EXPECTED.items():
            for method, statuses in methods.items():
                with self.subTest(path=path, method=method):
                    got = {int(s) for s in self.spec["paths"][path][method]["responses"]}
                    self.assertLessEqual(statuses, got)
                    if method != "head":
                        self.assertLessEqual(PROTOCOL, got, "protocol errors not documented")

    def test_every_response_documents_x_request_id(self):
        for path, method, op in operations(self.spec):
            for status, r in op["responses"].items():
                with self.subTest(path=path, method=method, status=status):
                    headers = {h.lower() for h in resolve(self.spec, r).get("headers", {})}
                    self.assertIn("x-request-id", headers)

    def test_response_headers(self):
        cases = [
            ("/v1/items", "post", 201, {"location", "etag", "idempotent-replayed"}),
            ("/v1/items/{id}", "get", 200, {"etag"}),
            ("/v1/items/{id}", "get", 304, {"etag"}),
            ("/v1/items/{id}", "put", 200, {"etag"}),
            ("/v1/items/{id}", "patch", 200, {"etag"}),
            ("/v1/items", "get", 401, {"www-authenticate"}),
            ("/metrics", "get", 401, {"www-authenticate"}),
            ("/v1/items", "post", 405, {"allow"}),
            ("/healthz", "get", 405, {"allow"}),
            ("/v1/items/{id}", "delete", 503, {"retry-after"}),
            ("/readyz", "get", 503, {"retry-after"}),
            ("/v1/items", "get", 429, {"retry-after", "ratelimit-limit", "ratelimit-remaining",
                                       "ratelimit-reset"}),
            ("/v1/items", "get", 200, {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"}),
        ]
        for path, method, status, want in cases:
            with self.subTest(path=path, method=method, status=status):
                r = response(self.spec, path, method, status)
                self.assertLessEqual(want, {h.lower() for h in r.get("headers", {})})

    def test_parameters(self):
        p = op_parameters(self.spec, "/v1/items", "get")
        self.assertIn(("query", "limit"), p)
        self.assertEqual(p[("query", "limit")]["schema"].get("minimum"), 1)
        self.assertEqual(p[("query", "limit")]["schema"].get("maximum"), 100)
        self.assertEqual(p[("query", "limit")]["schema"].get("default"), 20)
        self.assertIn(("query", "cursor"), p)
        p = op_parameters(self.spec, "/v1/items", "post")
        self.assertIn(("header", "idempotency-key"), p)
        self.assertEqual(p[("header", "idempotency-key")]["schema"].get("maxLength"), 255)
        for method in ("get", "head"):
            p = op_parameters(self.spec, "/v1/items/{id}", method)
            self.assertIn(("header", "if-none-match"), p)
            self.assertIn(("path", "id"), p)
        for method in ("put", "patch", "delete"):
            p = op_parameters(self.spec, "/v1/items/{id}", method)
            self.assertIn(("header", "if-match"), p, method)
            self.assertIn(("path", "id"), p)
            self.assertTrue(p[("path", "id")]["required"])
        for path, method, _ in operations(self.spec):
            with self.subTest(path=path, method=method):
                self.assertIn(("header", "x-request-id"), op_parameters(self.spec, path, method))

    def test_request_bodies(self):
        for path, method, ct in (("/v1/items", "post", "application/json"),
                                 ("/v1/items/{id}", "put", "application/json"),
                                 ("/v1/items/{id}", "patch", "application/merge-patch+json")):
            with self.subTest(method=method):
                body = resolve(self.spec, self.spec["paths"][path][method]["requestBody"])
                self.assertTrue(body.get("required"))
                self.assertEqual(set(body["content"]), {ct})

    def test_schemas(self):
        s = self.spec["components"]["schemas"]
        for name in ("Item", "ItemInput", "ItemPatch", "ItemPage", "Problem", "ValidationProblem"):
            self.assertIn(name, s)
        self.assertEqual(set(s["Item"]["required"]),
                         {"id", "name", "data", "version", "created_at", "updated_at"})
        self.assertFalse(s["Item"].get("additionalProperties", True))
        self.assertEqual(s["ItemInput"]["required"], ["name"])
        self.assertFalse(s["ItemInput"].get("additionalProperties", True))
        name = resolve(self.spec, s["ItemInput"]["properties"]["name"])
        self.assertEqual((name["minLength"], name["maxLength"]), (1, 200))
        self.assertEqual(set(s["ItemPage"]["required"]), {"items", "next_cursor"})
        self.assertEqual(set(s["Problem"]["required"]),
                         {"type", "title", "status", "detail", "request_id"})
        vp = resolve(self.spec, s["ValidationProblem"])
        text = repr(vp)
        self.assertIn("errors", text)
        self.assertIn("field", text)
        self.assertIn("message", text)

    def test_problem_media_type(self):
        for path, method, op in operations(self.spec):
            for status, r in op["responses"].items():
                if int(status) >= 400 and method != "head":
                    with self.subTest(path=path, method=method, status=status):
                        self.assertIn("application/problem+json",
                                      resolve(self.spec, r).get("content", {}))

    def test_security(self):
        schemes = self.spec["components"]["securitySchemes"]
        kinds = {(v["type"], v.get("scheme", v.get("name"))) for v in schemes.values()}
        self.assertIn(("http", "bearer"), kinds)
        self.assertIn(("apiKey", "X-API-Key"), kinds)
        header = [v for v in schemes.values() if v["type"] == "apiKey"][0]
        self.assertEqual(header["in"], "header")
        # Either scheme suffices: two alternatives in the global requirement.
        self.assertEqual(len(self.spec["security"]), 2)
        for path in ("/healthz", "/readyz"):
            for method in ("get", "head"):
                self.assertEqual(self.spec["paths"][path][method].get("security"), [])
        for path in ("/metrics", "/v1/items", "/v1/items/{id}"):
            for method, op in self.spec["paths"][path].items():
                if method in ("get", "head", "post", "put", "patch", "delete"):
                    self.assertNotEqual(op.get("security", None), [], (path, method))

    def test_problem_types_are_documented(self):
        text = open(SPEC_PATH, encoding="utf-8").read()
        for slug in ("validation-error", "invalid-json", "invalid-parameter", "invalid-header",
                     "idempotency-key-reused", "precondition-failed", "unavailable"):
            self.assertIn(slug, text)
        self.assertIn("about:blank", text)
        self.assertIn("urn:items-api:problem:", text)


if __name__ == "__main__":
    unittest.main()
