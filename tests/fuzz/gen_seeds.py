#!/usr/bin/env python3
"""Writes the committed seed corpora under tests/fuzz/corpus/<harness>/.

Each seed is small and named for what it exercises. Re-run after editing:
    python3 tests/fuzz/gen_seeds.py
(the corpus directories are rewritten from scratch).
"""
import base64
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def crlf(s):
    return s.replace("\n", "\r\n").encode("latin-1")


def cursor(i):
    return base64.urlsafe_b64encode(f"v1:{i}".encode()).rstrip(b"=").decode()


BODY = '{"name":"widget","data":{"color":"red","size":3}}'

HTTP = {
    # --- ordinary requests
    "get-items": crlf("GET /v1/items HTTP/1.1\nHost: localhost:8080\nX-API-Key: k1\n\n"),
    "get-healthz-http10": crlf("GET /healthz HTTP/1.0\n\n"),
    "get-query": crlf(f"GET /v1/items?limit=20&cursor={cursor(10)} HTTP/1.1\nHost: a\n"
                      "Authorization: Bearer dev-key\nX-Request-Id: r-1\n\n"),
    "get-if-none-match": crlf('GET /v1/items/7 HTTP/1.1\nHost: a\nIf-None-Match: "3", W/"2"\n\n'),
    "post-content-length": crlf("POST /v1/items HTTP/1.1\nHost: a\nContent-Type: application/json\n"
                                f"Idempotency-Key: 5f0c\nContent-Length: {len(BODY)}\n\n{BODY}"),
    "post-chunked": crlf("POST /v1/items HTTP/1.1\nHost: a\nContent-Type: application/json\n"
                         "Transfer-Encoding: chunked\n\n1a\n{\"name\":\"widget\",\"data\":{}\n"
                         "1;ext=1\n}\n0\nX-Trailer: t\n\n"),
    "patch-merge": crlf('PATCH /v1/items/1 HTTP/1.1\nHost: a\nIf-Match: "1"\n'
                        "Content-Type: application/merge-patch+json\nContent-Length: 19\n\n"
                        '{"data":{"a":null}}'),
    "put-expect-continue": crlf("PUT /v1/items/2 HTTP/1.1\nHost: a\nExpect: 100-continue\n"
                                f"Content-Type: application/json; charset=utf-8\nContent-Length: {len(BODY)}\n\n{BODY}"),
    "delete": crlf("DELETE /v1/items/3 HTTP/1.1\nHost: a\nConnection: close\n\n"),
    "options-asterisk": crlf("OPTIONS * HTTP/1.1\nHost: a\n\n"),
    "absolute-form": crlf("GET http://a:8080/v1/items?limit=1 HTTP/1.1\nHost: a:8080\n\n"),
    "absolute-form-no-path": crlf("GET HTTPS://a?limit=1 HTTP/1.1\nHost: a\n\n"),
    "unknown-method": crlf("BREW /pot HTTP/1.1\nHost: [::1]:80\n\n"),
    "leading-empty-lines": crlf("\n\nGET /readyz HTTP/1.1\nHost: a\n\n"),
    "keep-alive-http10": crlf("GET / HTTP/1.0\nConnection: keep-alive\n\nGET /metrics HTTP/1.0\n\n"),
    "obs-text-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\t \r\n\r\n",
    # --- pipelines
    "pipeline-3": crlf(f"GET /healthz HTTP/1.1\nHost: a\n\nPOST /v1/items HTTP/1.1\nHost: a\n"
                       f"Content-Length: {len(BODY)}\n\n{BODY}GET /v1/items HTTP/1.1\nHost: a\n"
                       "Connection: close\n\nGET /ignored HTTP/1.1\nHost: a\n\n"),
    "pipeline-chunked-then-get": crlf("POST /v1/items HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
                                      "5\nhello\n0\n\nGET /healthz HTTP/1.1\nHost: a\n\n"),
    "pipeline-partial": crlf("GET / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\nHo"),
    # --- smuggling shapes and malformed input (all must be refused)
    "cl-and-te": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 4\nTransfer-Encoding: chunked\n\n"
                      "0\n\nGET /admin HTTP/1.1\nHost: a\n\n"),
    "te-and-cl": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nContent-Length: 30\n\n"
                      "0\n\n"),
    "cl-duplicate": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 5\nContent-Length: 6\n\nhello!"),
    "cl-list": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 5, 5\n\nhello"),
    "cl-plus-sign": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: +5\n\nhello"),
    "cl-huge": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 999999999999999999\n\n"),
    "cl-leading-zeros": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 0005\n\nhello"),
    "te-list": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, chunked\n\n0\n\n"),
    "te-twice": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n\n0\n\n"),
    "te-http10": crlf("POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n0\n\n"),
    "te-identity": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: identity\n\n"),
    "te-nbsp": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xa0chunked\r\n\r\n0\r\n\r\n",
    "obs-fold": crlf("GET / HTTP/1.1\nHost: a\nX-A: 1\n  continued\n\n"),
    "space-before-colon": crlf("POST / HTTP/1.1\nHost: a\nContent-Length : 5\n\nhello"),
    "bare-lf": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "bare-cr": b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "host-twice": crlf("GET / HTTP/1.1\nHost: a\nHost: b\n\n"),
    "host-missing": crlf("GET / HTTP/1.1\nX: y\n\n"),
    "host-invalid": crlf("GET / HTTP/1.1\nHost: a b@c\n\n"),
    "version-http2": crlf("GET / HTTP/2.0\nHost: a\n\n"),
    "version-garbage": crlf("GET / HTTP/1.1x\nHost: a\n\n"),
    "fragment-target": crlf("GET /a#b HTTP/1.1\nHost: a\n\n"),
    "expect-other": crlf("POST / HTTP/1.1\nHost: a\nExpect: 200-ok\nContent-Length: 0\n\n"),
    "chunk-size-overflow": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
                                "10000000000000001\nx\n0\n\n"),
    "chunk-size-0x": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n0x5\nhello\n0\n\n"),
    "chunk-ext-bare-lf": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
    "chunk-missing-crlf": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n5\nhelloX0\n\n"),
    "chunk-over-max-body": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n401\n"),
    "too-many-empty-lines": crlf("\n\n\n\n\n\nGET / HTTP/1.1\nHost: a\n\n"),
    "request-line-near-8k": crlf("GET /" + "a" * 8170 + " HTTP/1.1\nHost: a\n\n"),
    "header-section-near-1k": crlf("GET / HTTP/1.1\nHost: a\n" + "".join(
        f"X-Pad-{i}: {'v' * 40}\n" for i in range(18)) + "\n"),
    # --- bare chunked bodies (the harness also feeds the input to the decoder)
    "body-chunked": crlf("4\nWiki\n5;name=val\npedia\ne\n in\n\nchunks.\n0\n\n"),
    "body-chunked-trailers": crlf("3\nabc\n0\nExpires: never\nX-Sum: 1\n\n"),
    "body-chunked-uppercase-hex": crlf("A\n0123456789\n0000\n\n"),
}

JSON = {
    "item": BODY,
    "item-no-data": '{"name":"w"}',
    "item-escapes": '{"name":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/","data":{"k\\u0000ey":1}}',
    "item-utf8": '{"name":"caf\u00e9 \U0001f600 \u4e2d","data":{"\u00fc":["\u00e9",1.5e3]}}',
    "item-name-200": '{"name":"' + "\u00e9" * 200 + '"}',
    "item-name-201": '{"name":"' + "x" * 201 + '"}',
    "item-name-empty": '{"name":""}',
    "item-name-c1": '{"name":"a\\u0085b"}',
    "item-name-del": '{"name":"a\x7fb"}',
    "item-name-nul": '{"name":"a\\u0000b"}',
    "item-name-number": '{"name":5,"data":[]}',
    "item-data-null": '{"name":"a","data":null}',
    "item-data-nested": '{"name":"a","data":{"a":{"b":{"c":[1,[2,[3,{"d":null}]]]}},"e":true,"f":false}}',
    "item-unknown-fields": '{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"name":1,"data":2}',
    "item-whitespace": ' \t\r\n{ "name" : "w" , "data" : { } } \n',
    "not-object": '["name","data"]',
    "dup-keys": '{"name":"a","name":"b"}',
    "dup-keys-escaped": '{"a":1,"\\u0061":2}',
    "many-keys": "{" + ",".join(f'"k{i}":{i}' for i in range(40)) + "}",
    "numbers": "[0,-0,1,-1,0.5,-0.5e-3,1E10,1e+2,123456789012345678901234567890,1.7976931348623157e308,4.9e-324,1e-400]",
    "number-overflow": "1e309",
    "number-neg-overflow": "[-1.8e308]",
    "number-bad": "[01,1.,.5,+1,1e,-]",
    "literals": "[true,false,null]",
    "top-string": '"just a string"',
    "top-number": "-12.5e-1",
    "empty-containers": '{"a":{},"b":[],"c":""}',
    "depth-64": "[" * 64 + "]" * 64,
    "depth-65": "[" * 65 + "]" * 65,
    "depth-64-objects": '{"a":' * 63 + "{}" + "}" * 63,
    "lone-high-surrogate": '"\\ud800"',
    "lone-low-surrogate": '"\\udc00x"',
    "high-surrogate-then-bmp": '"\\ud800\\u0041"',
    "bad-escape": '"\\x41"',
    "bad-unicode-escape": '"\\u00zz"',
    "truncated-escape": '"abc\\',
    "truncated-unicode": '"\\u12',
    "unterminated": '{"a":"b',
    "trailing-comma": '{"a":1,}',
    "trailing-garbage": '{"a":1} x',
    "single-quotes": "{'a':1}",
    "control-in-string": '"a\tb"',
    "empty": "",
    "whitespace-only": " \n",
}
JSON_BYTES = {
    "bom": b"\xef\xbb\xbf{}",
    "invalid-utf8": b'"\xff"',
    "overlong-utf8": b'"\xc0\xaf"',
    "raw-surrogate-utf8": b'"\xed\xa0\x80"',
    "above-max-utf8": b'"\xf4\x90\x80\x80"',
    "truncated-utf8": b'"\xe2\x82"',
    "nul-raw": b'{"a":"\x00"}',
}

# (name, target, patch): RFC 7396 appendix A, then item-shaped documents.
MERGE = [
    ("rfc7396-a1", '{"a":"b"}', '{"a":"c"}'),
    ("rfc7396-a2", '{"a":"b"}', '{"b":"c"}'),
    ("rfc7396-a3", '{"a":"b"}', '{"a":null}'),
    ("rfc7396-a4", '{"a":"b","b":"c"}', '{"a":null}'),
    ("rfc7396-a5", '{"a":["b"]}', '{"a":"c"}'),
    ("rfc7396-a6", '{"a":"c"}', '{"a":["b"]}'),
    ("rfc7396-a7", '{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}'),
    ("rfc7396-a8", '{"a":[{"b":"c"}]}', '{"a":[1]}'),
    ("rfc7396-a9", '["a","b"]', '["c","d"]'),
    ("rfc7396-a10", '{"a":"b"}', '["c"]'),
    ("rfc7396-a11", '{"a":"foo"}', "null"),
    ("rfc7396-a12", '{"a":"foo"}', '"bar"'),
    ("rfc7396-a13", '{"e":null}', '{"a":1}'),
    ("rfc7396-a14", "[1,2]", '{"a":"b","c":null}'),
    ("rfc7396-a15", "{}", '{"a":{"bb":{"ccc":null}}}'),
    # RFC 7396 section 3
    ("rfc7396-section3", '{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},'
     '"tags":["example","sample"],"content":"This will be unchanged"}',
     '{"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},'
     '"tags":["example"]}'),
    # items
    ("item-data-member-null", '{"name":"widget","data":{"color":"red"}}', '{"data":{"color":null,"size":2}}'),
    ("item-rename", '{"name":"widget","data":{"color":"red"}}', '{"name":"gadget"}'),
    ("item-remove-name", '{"name":"widget","data":{"color":"red"}}', '{"name":null}'),
    ("item-empty-patch", '{"name":"widget","data":{"color":"red"}}', "{}"),
    ("item-deep-null", '{"name":"widget","data":{"a":{"b":{"c":1}}}}', '{"data":{"a":{"b":{"c":null,"d":[null]}}}}'),
    ("item-data-gets-nul-key", '{"name":"widget","data":{}}', '{"data":{"k\\u0000":1}}'),
    ("item-data-not-object", '{"name":"widget","data":{"a":1}}', '{"data":"not an object"}'),
    ("item-unknown-field", '{"name":"widget","data":{"a":1}}', '{"extra":true,"data":null}'),
    ("keys-nfc-nfd", '{"\\u00e9":1,"e\\u0301":2}', '{"\\u00e9":null,"\u00e9\u00e9":3}'),
    ("target-empty-patch-nested-null", "", '{"a":{"b":null},"c":[null]}'),
    ("no-target-item", None, '{"name":"w","data":{"x":null}}'),
    ("no-target-array", None, "[]"),
]

CURSOR = {
    "query": f"limit=20&cursor={cursor(10)}".encode(),
    "query-dup": f"cursor={cursor(1)}&cursor={cursor(2)}".encode(),
    "query-empty-values": b"cursor=&limit&=x&&",
    "cursor-1": cursor(1).encode(),
    "cursor-max": cursor(2**63 - 1).encode(),
    "cursor-0": cursor(0).encode(),
    "cursor-overflow": cursor(2**63).encode(),
    "cursor-leading-zero": base64.urlsafe_b64encode(b"v1:01").rstrip(b"=") ,
    "cursor-negative": base64.urlsafe_b64encode(b"v1:-5").rstrip(b"="),
    "cursor-padded": base64.urlsafe_b64encode(b"v1:12"),
    "cursor-noncanonical-bits": (cursor(1)[:-1] + "R").encode(),
    "id-max": b"9223372036854775807",
    "id-overflow": b"9223372036854775808",
    "id-zero": b"0",
    "id-leading-zero": b"007",
    "binary-ids": bytes(range(0, 256, 7)) + b"\xff" * 16 + b"\x00" * 8,
}


def write(name, seeds):
    d = ROOT / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for k, v in seeds.items():
        (d / k).write_bytes(v if isinstance(v, bytes) else v.encode("utf-8"))


def main():
    write("http", HTTP)
    js = {k: v.encode("utf-8") for k, v in JSON.items()}
    js.update(JSON_BYTES)
    write("json", js)
    mp = {}
    for name, t, p in MERGE:
        mp[name] = p.encode() if t is None else t.encode() + b"\x00" + p.encode()
    write("merge_patch", mp)
    write("cursor", CURSOR)


if __name__ == "__main__":
    main()
