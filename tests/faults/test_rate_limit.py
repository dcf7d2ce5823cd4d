#!/usr/bin/env python3
"""Per-API-key rate limit (issue 3, "Hostile clients").

RATE_LIMIT_RPS=5 RATE_LIMIT_BURST=5, two keys:
  - 6 requests sent back to back (pipelined on one connection, so the bucket
    cannot refill in between): 5 pass, the 6th is a 429 problem+json with
    Retry-After >= 1 and RateLimit-Limit / RateLimit-Remaining /
    RateLimit-Reset;
  - the limit is per key: the second key right after still gets 5 passes;
  - after Retry-After seconds the first key passes again;
  - off by default: without the variables, 40 back-to-back requests all pass
    and no response carries a RateLimit-* header.
"""
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itemstest as T  # noqa: E402


def pipelined(port, key, n, path="/v1/items?limit=1"):
    """n GETs in one write on one connection; returns [(status, headers, body)]."""
    req = ("GET %s HTTP/1.1\r\nHost: rl\r\nX-API-Key: %s\r\n\r\n" % (path, key)).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = T.now()
    s.sendall(req * n)
    buf = b""
    out = []
    try:
        while len(out) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end].decode("latin-1").split("\r\n")
                hdrs = {}
                for line in head[1:]:
                    k, _, v = line.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
                ln = int(hdrs.get("content-length", "0"))
                if len(buf) < end + 4 + ln:
                    break
                out.append((int(head[0].split()[1]), hdrs, buf[end + 4:end + 4 + ln]))
                buf = buf[end + 4 + ln:]
    finally:
        s.close()
    return out, T.now() - t


def check_429(c, resp, burst):
    st, h, body = resp
    ok = c.check(st == 429, "the request over the burst is 429", "got %s" % st)
    if not ok:
        return
    ct = h.get("content-type", "").split(";")[0].strip()
    c.check(ct == "application/problem+json", "429 is application/problem+json", ct)
    try:
        p = json.loads(body)
    except ValueError:
        p = {}
    c.check(p.get("status") == 429 and all(k in p for k in ("type", "title", "detail", "request_id")),
            "429 body is a problem (type, title, status, detail, request_id)", repr(body[:200]))
    ra = h.get("retry-after", "")
    c.figure("429 Retry-After", ra)
    c.check(ra.isdigit() and int(ra) >= 1, "Retry-After is an integer >= 1", repr(ra))
    rl = {k: h.get(k) for k in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")}
    c.figure("429 RateLimit-* headers", rl)
    c.check(all(v is not None for v in rl.values()), "429 carries RateLimit-Limit, -Remaining, -Reset",
            str(rl))
    if all(v is not None for v in rl.values()):
        lim = re.match(r"\d+", rl["ratelimit-limit"])
        c.check(lim is not None and int(lim.group(0)) == burst, "RateLimit-Limit is the burst (%d)" % burst,
                rl["ratelimit-limit"])
        c.check(rl["ratelimit-remaining"].strip() == "0", "RateLimit-Remaining is 0",
                rl["ratelimit-remaining"])
        c.check(rl["ratelimit-reset"].strip().isdigit() and int(rl["ratelimit-reset"]) >= 1,
                "RateLimit-Reset is an integer >= 1 (seconds)", rl["ratelimit-reset"])


def main():
    c = T.Checker("rate_limit: RATE_LIMIT_RPS=5 RATE_LIMIT_BURST=5, per key; off by default")
    url = T.new_database("faults_rl")
    on = T.Service("ratelimit", env={"WORKER_THREADS": "2", "RATE_LIMIT_RPS": "5",
                                     "RATE_LIMIT_BURST": "5"},
                   database_url=url, keys=(T.KEY1, T.KEY2))
    off = T.Service("ratelimit-off", env={"WORKER_THREADS": "2"}, database_url=url,
                    keys=(T.KEY1, T.KEY2))
    try:
        on.start()
        c.check(on.wait_ready(10), "service ready")
        # One attempt more if the machine was so slow the bucket refilled.
        # (at 5 tokens/s the bucket gains one in 200 ms; the 6 requests take
        # a few ms, so a retry only happens on a badly overloaded machine)
        for attempt in range(2):
            res, took = pipelined(on.port, T.KEY1, 6)
            sts = [r[0] for r in res]
            if sts == [200] * 5 + [429] or took < 0.2:
                break
            c.info("attempt %d took %.3fs (bucket may have refilled): retrying" % (attempt + 1, took))
            time.sleep(2)
        c.figure("key 1: 6 back-to-back requests", "%s in %.3fs" % (sts, took))
        c.check(len(res) == 6, "six answers", str(sts))
        c.check(sts[:5] == [200] * 5, "the first 5 requests pass", str(sts))
        if len(res) == 6:
            check_429(c, res[5], 5)
            c.info("RateLimit-* on the passing answers: %s" % (
                [{k: v for k, v in r[1].items() if k.startswith("ratelimit")} for r in res[:5]]))
        res2, took2 = pipelined(on.port, T.KEY2, 5)
        sts2 = [r[0] for r in res2]
        c.figure("key 2 right after: 5 back-to-back requests", "%s in %.3fs" % (sts2, took2))
        c.check(sts2 == [200] * 5, "the limit is per key: the second key is unaffected", str(sts2))
        # Waiting Retry-After lets key 1 through again.
        wait = int(res[5][1].get("retry-after", "1")) if len(res) == 6 and res[5][1].get(
            "retry-after", "").isdigit() else 1
        time.sleep(wait)
        r = T.request(on.port, "GET", "/v1/items?limit=1", key=T.KEY1)
        c.check(r.status == 200, "after Retry-After (%ds) the first key passes again" % wait, repr(r))
        # /healthz has no key and is not limited.
        hz = [T.request(on.port, "GET", "/healthz").status for _ in range(10)]
        c.check(hz == [200] * 10, "/healthz is not rate limited", str(hz))
        on.stop()

        off.start()
        res3, took3 = pipelined(off.port, T.KEY1, 40)
        sts3 = [r[0] for r in res3]
        hdrs = sorted({k for r in res3 for k in r[1] if k.startswith("ratelimit")})
        c.figure("default config: 40 back-to-back requests", "%d answers, statuses %s, %.3fs" % (
            len(res3), sorted(set(sts3)), took3))
        c.check(len(res3) == 40 and all(s == 200 for s in sts3), "off by default: no 429", str(sts3))
        c.check(not hdrs, "off by default: no RateLimit-* headers", str(hdrs))
    except Exception as e:
        c.check(False, "test ran to completion", "%s: %s" % (type(e).__name__, e))
    finally:
        on.stop()
        off.stop()
    c.finish()


if __name__ == "__main__":
    main()
