"""Idempotency-Key on POST /v1/items: replay, mismatch, scope per API key,
syntax, and concurrent repeats."""

import secrets
import threading
import unittest

from harness import BACKEND, KEY1, KEY2, ServerTestCase


def ikey():
    return "idem-" + secrets.token_hex(8)


class IdempotencyTest(ServerTestCase):

    def post(self, body, key, api_key=KEY1):
        h = [("Content-Type", "application/json"), ("Idempotency-Key", key)]
        if isinstance(body, str):
            body = body.encode()
        return self.req("POST", "/v1/items", body, h, key=api_key)

    def test_replay_returns_original_response_and_creates_nothing(self):
        k = ikey()
        first = self.post('{"name": "once", "data": {"a": 1}}', k)
        self.assertEqual(first.status, 201, first)
        self.assertIsNone(first.header("Idempotent-Replayed"))
        before = self.db.count_items()
        again = self.post('{"name": "once", "data": {"a": 1}}', k)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        self.assertEqual(again.json(), first.json())
        self.assertEqual(again.header("Location"), first.header("Location"))
        self.assertEqual(again.header("ETag"), first.header("ETag"))
        self.assertEqual(self.db.count_items(), before)

    def test_json_equivalent_bodies_replay(self):
        k = ikey()
        first = self.post('{"name": "eq", "data": {"a": 1, "b": {"x": [1, 2], "y": null}}}', k)
        self.assertEqual(first.status, 201, first)
        for variant in ('{"data":{"b":{"y":null,"x":[1,2]},"a":1},"name":"eq"}',
                        '  {\n "data" : { "a" : 1 , "b" : { "x" : [ 1 , 2 ] , "y" : null } } ,\n'
                        ' "name" : "eq" }\n',
                        '{"name": "\\u0065q", "data": {"a": 1, "b": {"x": [1, 2], "y": null}}}'):
            with self.subTest(variant=variant):
                r = self.post(variant, k)
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.header("Idempotent-Replayed"), "true")
                self.assertEqual(r.json()["id"], first.json()["id"])

    def test_default_data_equals_explicit_empty_object(self):
        k = ikey()
        first = self.post('{"name": "dflt"}', k)
        r = self.post('{"name": "dflt", "data": {}}', k)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["id"], first.json()["id"])

    def test_different_body_same_key_is_422(self):
        k = ikey()
        first = self.post('{"name": "orig", "data": {"a": 1}}', k)
        self.assertEqual(first.status, 201)
        before = self.db.count_items()
        for other in ('{"name": "other", "data": {"a": 1}}', '{"name": "orig", "data": {"a": 2}}',
                      '{"name": "orig"}', '{"name": "orig", "data": {"a": [1]}}',
                      '{"name": "orig", "data": {"a": "1"}}'):
            with self.subTest(other=other):
                r = self.post(other, k)
                self.assertProblem(r, 422, "idempotency-key-reused")
        self.assertEqual(self.db.count_items(), before)
        r = self.post('{"name": "orig", "data": {"a": 1}}', k)
        self.assertEqual(r.header("Idempotent-Replayed"), "true")

    def test_replay_survives_later_updates(self):
        k = ikey()
        first = self.post('{"name": "upd"}', k).json()
        self.assertEqual(self.req("PUT", "/v1/items/%d" % first["id"], {"name": "changed"}).status, 200)
        r = self.post('{"name": "upd"}', k)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Idempotent-Replayed"), "true")
        self.assertEqual(r.json()["id"], first["id"])

    def test_keys_are_scoped_per_api_key(self):
        k = ikey()
        a = self.post('{"name": "scoped"}', k, KEY1)
        b = self.post('{"name": "scoped"}', k, KEY2)
        self.assertEqual(a.status, 201, a)
        self.assertEqual(b.status, 201, b)
        self.assertIsNone(b.header("Idempotent-Replayed"))
        self.assertNotEqual(a.json()["id"], b.json()["id"])
        # Each scope replays its own item; a different body under KEY2 is
        # judged against KEY2's record only.
        self.assertEqual(self.post('{"name": "scoped"}', k, KEY2).json()["id"], b.json()["id"])
        self.assertEqual(self.post('{"name": "scoped"}', k, KEY1).json()["id"], a.json()["id"])

    def test_scope_is_the_key_not_the_header_form(self):
        k = ikey()
        h = [("Content-Type", "application/json"), ("Idempotency-Key", k)]
        a = self.req("POST", "/v1/items", b'{"name": "form"}', h, key=KEY1, auth="bearer")
        b = self.req("POST", "/v1/items", b'{"name": "form"}', h, key=KEY1, auth="x-api-key")
        self.assertEqual(b.header("Idempotent-Replayed"), "true")
        self.assertEqual(a.json()["id"], b.json()["id"])

    def test_different_keys_create_different_items(self):
        a = self.post('{"name": "twin"}', ikey())
        b = self.post('{"name": "twin"}', ikey())
        self.assertNotEqual(a.json()["id"], b.json()["id"])

    def test_key_syntax(self):
        ok = ["a", "x" * 255, "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "UPPER-lower-123"]
        for k in ok:
            with self.subTest(key=k[:20]):
                r = self.post('{"name": "syntax"}', k)
                self.assertEqual(r.status, 201, r)
        bad = ["", "x" * 256, "has space", "tab\there", "caf\xe9".encode("latin-1"),
               "\xff\xfe".encode("latin-1")]
        before = self.db.count_items()
        for k in bad:
            with self.subTest(key=repr(k)[:20]):
                r = self.post('{"name": "syntax"}', k)
                self.assertProblem(r, 400, "invalid-header")
        self.assertEqual(self.db.count_items(), before)

    def test_invalid_key_is_checked_before_the_body(self):
        r = self.post("{not json", "x" * 256)
        self.assertProblem(r, 400, "invalid-header")

    def test_invalid_body_with_key_does_not_burn_the_key(self):
        k = ikey()
        self.assertValidationProblem(self.post('{"name": ""}', k))
        self.assertProblem(self.post("{", k), 400, "invalid-json")
        r = self.post('{"name": "after errors"}', k)
        self.assertEqual(r.status, 201, r)
        self.assertIsNone(r.header("Idempotent-Replayed"))

    def test_keys_are_kept_at_least_24_hours(self):
        k = ikey()
        first = self.post('{"name": "aged"}', k)
        self.assertEqual(first.status, 201)
        # Age the record by 23 hours underneath the server.
        if BACKEND == "sqlite":
            sql = ("UPDATE idempotency_keys SET created_ms = created_ms - 23 * 3600 * 1000 "
                   "WHERE key = '%s'" % k)
        else:
            sql = ("UPDATE idempotency_keys SET created_at = created_at - interval '23 hours' "
                   "WHERE key = '%s'" % k)
        self.db.execute(sql)
        r = self.post('{"name": "aged"}', k)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Idempotent-Replayed"), "true")
        self.assertEqual(r.json()["id"], first.json()["id"])
        self.assertProblem(self.post('{"name": "aged but different"}', k), 422,
                           "idempotency-key-reused")

    def test_concurrent_repeats_create_exactly_one_item(self):
        k = ikey()
        before = self.db.count_items()
        results = []
        barrier = threading.Barrier(12)

        def go():
            barrier.wait()
            results.append(self.post('{"name": "race", "data": {"k": 1}}', k))

        threads = [threading.Thread(target=go) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r.status for r in results], [201] * 12, results)
        self.assertEqual(len({r.json()["id"] for r in results}), 1, results)
        self.assertEqual(sum(r.header("Idempotent-Replayed") is None for r in results), 1)
        self.assertEqual(self.db.count_items(), before + 1)


if __name__ == "__main__":
    unittest.main()
