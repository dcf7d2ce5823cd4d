"""Request body rules: malformed JSON -> 400 invalid-json; valid JSON that
breaks the item rules -> 422 validation-error with the offending fields.
Both for POST and PUT (same rules), and the merge-patch result for PATCH."""

import json
import unittest

from harness import ServerTestCase

DATA_MAX = 65536


def body_with_data_string(n_chars, char="x"):
    """A body whose data is {"s": "<n_chars x char>"}."""
    return {"name": "big", "data": {"s": char * n_chars}}


def compact_len(obj):
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


class MalformedJsonTest(ServerTestCase):
    """400 urn:items-api:problem:invalid-json."""

    CASES = [
        ("empty body", b""),
        ("whitespace only", b"   "),
        ("truncated", b'{"name": "a"'),
        ("trailing comma", b'{"name": "a",}'),
        ("unquoted key", b'{name: "a"}'),
        ("single quotes", b"{'name': 'a'}"),
        ("trailing garbage", b'{"name": "a"} x'),
        ("two documents", b'{"name": "a"}{"name": "b"}'),
        ("comment", b'{"name": "a" /* c */}'),
        ("NaN", b'{"name": "a", "data": {"x": NaN}}'),
        ("Infinity", b'{"name": "a", "data": {"x": Infinity}}'),
        ("leading zero", b'{"name": "a", "data": {"x": 01}}'),
        ("bare dot", b'{"name": "a", "data": {"x": 1.}}'),
        ("plus sign", b'{"name": "a", "data": {"x": +1}}'),
        ("hex", b'{"name": "a", "data": {"x": 0x10}}'),
        ("raw control char in string", b'{"name": "a\tb"}'),
        ("raw newline in string", b'{"name": "a\nb"}'),
        ("raw NUL byte in string", b'{"name": "a\x00b"}'),
        ("bad escape", b'{"name": "a\\qb"}'),
        ("short unicode escape", b'{"name": "\\u12"}'),
        ("invalid UTF-8 byte", b'{"name": "\xff"}'),
        ("invalid UTF-8 in data", b'{"name": "a", "data": {"k": "\xc3\x28"}}'),
        ("invalid UTF-8 in key", b'{"name": "a", "data": {"\xfe": 1}}'),
        ("overlong UTF-8", b'{"name": "\xc0\xaf"}'),
        ("UTF-8 encoded surrogate", b'{"name": "\xed\xa0\x80"}'),
        ("truncated UTF-8", b'{"name": "\xe2\x82"}'),
        ("code point above U+10FFFF", b'{"name": "\xf4\x90\x80\x80"}'),
        ("lone high surrogate escape", b'{"name": "\\ud800"}'),
        ("lone low surrogate escape", b'{"name": "\\udc00"}'),
        ("high surrogate then letter", b'{"name": "\\ud800\\u0041"}'),
        ("reversed surrogate pair", b'{"name": "\\ude00\\ud83d"}'),
        ("lone surrogate in data", b'{"name": "a", "data": {"k": ["\\udfff"]}}'),
        ("number overflows a double", b'{"name": "a", "data": {"x": 1e400}}'),
        ("negative overflow", b'{"name": "a", "data": {"x": -1e400}}'),
        ("huge mantissa overflow", b'{"name": "a", "data": {"x": ' + b"9" * 400 + b"}}"),
        ("duplicate top-level key", b'{"name": "a", "name": "b"}'),
        ("duplicate key in data", b'{"name": "a", "data": {"k": 1, "k": 2}}'),
        ("duplicate key nested", b'{"name": "a", "data": {"o": {"x": [{"d": 1, "d": 1}]}}}'),
        ("duplicate key via escape", b'{"name": "a", "n\\u0061me": "b"}'),
        ("BOM", b'\xef\xbb\xbf{"name": "a"}'),
    ]

    def test_malformed_json_is_400_on_post(self):
        for label, body in self.CASES:
            with self.subTest(label):
                r = self.post_raw(body)
                self.assertProblem(r, 400, "invalid-json")

    def test_malformed_json_is_400_on_put(self):
        item = self.create("put target")
        for label, body in self.CASES:
            with self.subTest(label):
                r = self.post_raw(body, path="/v1/items/%d" % item["id"], method="PUT")
                self.assertProblem(r, 400, "invalid-json")

    def test_malformed_json_is_400_on_patch(self):
        item = self.create("patch target")
        for label, body in self.CASES:
            if label in ("empty body", "whitespace only"):
                continue
            with self.subTest(label):
                r = self.post_raw(body, "application/merge-patch+json",
                                  path="/v1/items/%d" % item["id"], method="PATCH")
                self.assertProblem(r, 400, "invalid-json")

    def test_nothing_was_created(self):
        before = self.db.count_items()
        for _, body in self.CASES:
            self.post_raw(body)
        self.assertEqual(self.db.count_items(), before)

    def test_depth_64_is_accepted_and_65_rejected(self):
        # Depth counts every object/array, the body itself included.
        def doc(depth):
            # body(1) > data(2) > arrays...
            inner = "[" * (depth - 2) + "]" * (depth - 2)
            return ('{"name": "deep", "data": {"a": %s}}' % inner).encode()

        r = self.post_raw(doc(64))
        self.assertEqual(r.status, 201, r)
        self.assertProblem(self.post_raw(doc(65)), 400, "invalid-json")
        self.assertProblem(self.post_raw(doc(1000)), 400, "invalid-json")
        objs = '{"name":"deep","data":' + '{"a":' * 63 + "1" + "}" * 63 + "}"
        self.assertEqual(self.post_raw(objs.encode()).status, 201)
        objs = '{"name":"deep","data":' + '{"a":' * 64 + "1" + "}" * 64 + "}"
        self.assertProblem(self.post_raw(objs.encode()), 400, "invalid-json")

    def test_large_but_finite_numbers_are_fine(self):
        for num in (b"1e308", b"-1.7976931348623157e308", b"5e-324", b"1e-400",
                    b"123456789012345678901234567890"):
            r = self.post_raw(b'{"name": "n", "data": {"x": ' + num + b"}}")
            self.assertEqual(r.status, 201, (num, r))

    def test_valid_surrogate_pair_and_escapes(self):
        r = self.post_raw(b'{"name": "\\ud83d\\ude00 \\u00e9\\/\\"\\\\", "data": {"\\u00e9": "\\u2028"}}')
        self.assertEqual(r.status, 201, r)
        item = r.json()
        self.assertEqual(item["name"], "\U0001F600 \u00e9/\"\\")
        self.assertEqual(item["data"], {"\u00e9": "\u2028"})


class ItemRulesTest(ServerTestCase):
    """422 urn:items-api:problem:validation-error with errors[]."""

    def test_non_object_bodies(self):
        for body in (b"[]", b'[{"name": "a"}]', b'"name"', b"1", b"null", b"true"):
            with self.subTest(body):
                self.assertValidationProblem(self.post_raw(body))

    def test_unknown_fields(self):
        for body, field in (({"name": "a", "extra": 1}, "extra"),
                            ({"name": "a", "id": 5}, "id"),
                            ({"name": "a", "version": 3}, "version"),
                            ({"name": "a", "created_at": "2026-01-01T00:00:00.000Z"}, "created_at"),
                            ({"name": "a", "Name": "b"}, "Name")):
            with self.subTest(field):
                self.assertValidationProblem(self.req("POST", "/v1/items", body), [field])

    def test_name_required_and_typed(self):
        for body in ({}, {"data": {}}, {"name": None}, {"name": 1}, {"name": True},
                     {"name": ["a"]}, {"name": {"a": 1}}):
            with self.subTest(body):
                self.assertValidationProblem(self.req("POST", "/v1/items", body), ["name"])

    def test_name_length_in_code_points(self):
        for ch, size in (("a", 1), ("\u00e9", 2), ("\u20ac", 3), ("\U0001F600", 4)):
            with self.subTest(ch=ch):
                r = self.req("POST", "/v1/items", {"name": ch * 200})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json()["name"], ch * 200)
                r = self.req("POST", "/v1/items", {"name": ch * 201})
                self.assertValidationProblem(r, ["name"])
        # Combining sequences count per code point, not per grapheme.
        r = self.req("POST", "/v1/items", {"name": "e\u0301" * 100})
        self.assertEqual(r.status, 201, r)
        self.assertValidationProblem(self.req("POST", "/v1/items", {"name": "e\u0301" * 100 + "x"}),
                                     ["name"])

    def test_empty_name(self):
        self.assertValidationProblem(self.req("POST", "/v1/items", {"name": ""}), ["name"])

    def test_name_control_characters(self):
        for ch in ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f",
                   "\x80", "\x85", "\x9f"]:
            for name in (ch, "a" + ch, ch + "b", "a" + ch + "b"):
                with self.subTest(cp="U+%04X" % ord(ch), name=name):
                    r = self.req("POST", "/v1/items", {"name": name})
                    self.assertValidationProblem(r, ["name"])

    def test_name_allowed_non_control_characters(self):
        for name in ("\u00a0nbsp", "\u00a1", "\u2028", "tab\u2409", "\ufeff", "\U0010FFFD",
                     " leading and trailing ", "\u00c2"):
            with self.subTest(name=name):
                r = self.req("POST", "/v1/items", {"name": name})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json()["name"], name)

    def test_data_must_be_object(self):
        for data in (None, [], [1], "x", 1, 1.5, True, False):
            with self.subTest(data=data):
                r = self.req("POST", "/v1/items", {"name": "a", "data": data})
                self.assertValidationProblem(r, ["data"])

    def test_several_errors_reported_together(self):
        r = self.req("POST", "/v1/items", {"name": "", "data": [], "junk": 1})
        self.assertValidationProblem(r, ["name", "data", "junk"])

    def test_nul_escape_anywhere_in_data_is_422(self):
        for data in ('{"k": "\\u0000"}', '{"k": "a\\u0000b"}', '{"\\u0000": 1}',
                     '{"k\\u0000": 1}', '{"a": [1, ["x\\u0000"]]}', '{"a": {"b": {"c": "\\u0000"}}}'):
            with self.subTest(data=data):
                r = self.post_raw(('{"name": "nul", "data": %s}' % data).encode())
                self.assertValidationProblem(r, ["data"])

    def test_nul_escape_in_name_is_422(self):
        r = self.post_raw(b'{"name": "a\\u0000b"}')
        self.assertValidationProblem(r, ["name"])

    def test_data_round_trips_exactly(self):
        data = {"z": 1, "a": [1.5, -0.0, 1e-7, True, False, None, "s"], "m": {"\u00e9": {"x": []}},
                "big": 12345678901234567, "esc": "quote\" backslash\\ nl\n tab\t \u001f \u2028"}
        item = self.create("round", data)
        self.assertEqual(item["data"], data)
        got = self.req("GET", "/v1/items/%d" % item["id"]).json()
        self.assertEqual(got["data"], data)
        self.assertEqual(list(got["data"].keys()), list(data.keys()))

    def test_rules_apply_to_put(self):
        item = self.create("put rules")
        path = "/v1/items/%d" % item["id"]
        self.assertValidationProblem(self.req("PUT", path, {"name": ""}), ["name"])
        self.assertValidationProblem(self.req("PUT", path, {"data": {}}), ["name"])
        self.assertValidationProblem(self.req("PUT", path, {"name": "a", "data": None}), ["data"])
        self.assertValidationProblem(self.req("PUT", path, {"name": "a", "x": 1}), ["x"])
        self.assertValidationProblem(self.req("PUT", path, {"name": "\x85"}), ["name"])
        self.assertValidationProblem(self.req("PUT", path, []), None)
        self.assertEqual(self.req("GET", path).json(), item)

    def test_patch_nul_and_controls(self):
        item = self.create("patch rules")
        path = "/v1/items/%d" % item["id"]
        for body in (b'{"data": {"k": "\\u0000"}}', b'{"name": "a\\u0000"}', b'{"name": "\\u0085"}'):
            r = self.req("PATCH", path, body, [("Content-Type", "application/merge-patch+json")])
            self.assertValidationProblem(r)
        self.assertEqual(self.req("GET", path).json(), item)


class DataSizeTest(ServerTestCase):
    """data: compact serialization of at most 65,536 bytes. Bodies here are
    large (up to ~200 KB), which also exercises the body buffer."""

    def test_data_size_boundary_compact_serialization(self):
        overhead = compact_len({"s": ""})  # {"s":""} = 8 bytes
        exact = body_with_data_string(DATA_MAX - overhead)
        self.assertEqual(compact_len(exact["data"]), DATA_MAX)
        r = self.req("POST", "/v1/items", exact)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"], exact["data"])
        over = body_with_data_string(DATA_MAX - overhead + 1)
        self.assertValidationProblem(self.req("POST", "/v1/items", over), ["data"])

    def test_data_size_ignores_insignificant_whitespace(self):
        # Pretty-printed input far above the limit; compact form exactly at it.
        data = {"s": "x" * (DATA_MAX - 14), "t": 1}  # {"s":"...","t":1}: 14 bytes + the string
        self.assertEqual(compact_len(data), DATA_MAX)
        text = json.dumps({"name": "ws", "data": data}, indent=40)
        padded = text.replace(",", " ,\n" + " " * 30000, 1).encode()
        self.assertGreater(len(padded), DATA_MAX + 20000)
        r = self.post_raw(padded)
        self.assertEqual(r.status, 201, r)
        data["t"] = 10
        text = json.dumps({"name": "ws", "data": data}, indent=4).encode()
        self.assertValidationProblem(self.post_raw(text), ["data"])

    def test_data_size_counts_non_ascii_as_raw_utf8(self):
        # \u00e9 escapes are 6 input bytes but 2 bytes in the compact form.
        n = (DATA_MAX - 8) // 2
        data = {"s": "\u00e9" * n}
        self.assertEqual(compact_len(data), DATA_MAX)
        escaped = json.dumps({"name": "utf8", "data": data}, ensure_ascii=True).encode()
        self.assertGreater(len(escaped), 3 * DATA_MAX)
        r = self.post_raw(escaped)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"], data)
        data = {"s": "\u00e9" * n + "x"}
        self.assertValidationProblem(self.post_raw(json.dumps({"name": "utf8", "data": data}).encode()),
                                     ["data"])

    def test_data_size_limit_applies_to_put_and_patch(self):
        item = self.create("size")
        path = "/v1/items/%d" % item["id"]
        over = body_with_data_string(DATA_MAX - 8 + 1)
        self.assertValidationProblem(self.req("PUT", path, over), ["data"])
        exact = body_with_data_string(DATA_MAX - 8)
        self.assertEqual(self.req("PUT", path, exact).status, 200)
        # A patch that pushes data over the limit: one more key.
        r = self.req("PATCH", path, json.dumps({"data": {"t": 1}}).encode(),
                     [("Content-Type", "application/merge-patch+json")])
        self.assertValidationProblem(r, ["data"])


if __name__ == "__main__":
    unittest.main()
