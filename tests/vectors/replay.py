#!/usr/bin/env python3
"""Replays the public HTTP/1.1 desync vectors against the running service.

Source: ../shared/http-vectors/ next to the repository (HTTP_VECTORS_DIR
overrides): hdg_vectors.json (AWS http-desync-guardian cases with a tier)
and garden_vectors.json (HTTP Garden parser-bug payloads), plus any other
*.json file there (held to the garden oracle). When the folder is absent the
test prints a notice and skips (exit 77); a folder without those two files
fails.

Each payload is sent byte for byte (latin-1; the four payloads holding
characters above U+00FF are sent as UTF-8, as they travel on the wire) on a
fresh connection, the write side is half-closed, and the reply is read until
the server closes or 2 s pass. The responses in the reply are counted by
parsing status lines and headers and skipping bodies by Content-Length /
chunked framing (no body for HEAD, 1xx, 204, 304), so a body is never
mistaken for a response.

Legitimate requests: a strict RFC 9112 model (below) parses the payload the
way a strict front end would and counts the complete, valid requests before
the first invalid or incomplete one (L), and whether anything follows them
that deserves at most one error response (R = 0 or 1). Oracles:
  - hdg: at most 1 response per vector (the brief: every hdg payload holds
    at most one legitimate request, or gets one error response), and a
    Severe vector never gets a 2xx;
  - garden: at most L + R responses;
  - every reply parses as HTTP responses (no stray bytes);
  - the service never crashes or hangs: after every vector /healthz answers
    200 within 2 s, and the same process is alive at the end.
"""
import json
import os
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import itemstest as T  # noqa: E402

READ_TIMEOUT = 2.0
HEALTH_BOUND = 2.0
VERBOSE = os.environ.get("VERBOSE", "") not in ("", "0")

# ------------------------------------------------------------ strict model

TCHAR = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
MAX_REQUEST_LINE = 8192
MAX_HEADER_BYTES = 16384


class Invalid(Exception):
    pass


class Incomplete(Exception):
    pass


def is_token(b):
    return len(b) > 0 and all(ch in TCHAR for ch in b)


def field_value_ok(v):
    # field-vchar / SP / HTAB / obs-text; never CTLs (NUL, CR, LF, ...) or DEL
    return all(ch in (0x20, 0x09) or 0x21 <= ch <= 0x7E or ch >= 0x80 for ch in v)


def parse_field_line(line):
    if line[:1] in (b" ", b"\t"):
        raise Invalid("obs-fold")
    i = line.find(b":")
    if i < 0:
        raise Invalid("field line without colon")
    name, value = line[:i], line[i + 1:].strip(b" \t")
    if not is_token(name):
        raise Invalid("bad field name %r" % name[:40])
    if not field_value_ok(value):
        raise Invalid("bad field value %r" % value[:40])
    return name.lower(), value


def split_lines(block):
    lines = block.split(b"\r\n")
    for ln in lines:
        if b"\r" in ln or b"\n" in ln:
            raise Invalid("bare CR or LF")
    return lines


def list_items(values):
    out = []
    for v in values:
        for x in v.split(b","):
            x = x.strip(b" \t")
            if x:
                out.append(x)  # empty list elements are ignored (RFC 9110 5.6.1)
    return out


CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})"
    rb"((?:[ \t]*;[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    rb"(?:[ \t]*=[ \t]*(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|\"(?:[^\"\\\r\n]|\\.)*\"))?)*)\Z")


def parse_chunked(data, pos):
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            if b"\n" in data[pos:] or b"\r" in data[pos:]:
                raise Invalid("bare CR or LF in chunk line")
            raise Incomplete("chunk size line")
        line = data[pos:eol]
        if b"\r" in line or b"\n" in line:
            raise Invalid("bare CR or LF in chunk line")
        m = CHUNK_LINE.match(line)
        if not m:
            raise Invalid("bad chunk line %r" % line[:40])
        size = int(m.group(1), 16)
        pos = eol + 2
        if size == 0:
            # trailer section
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    raise Incomplete("trailer section")
                line = data[pos:eol]
                pos = eol + 2
                if line == b"":
                    return pos
                if b"\r" in line or b"\n" in line:
                    raise Invalid("bare CR or LF in trailer")
                parse_field_line(line)
        if len(data) < pos + size + 2:
            raise Incomplete("chunk data")
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise Invalid("chunk data not followed by CRLF")
        pos += size + 2


def strict_model(data):
    """Returns (requests, tail, methods): requests = [(method, target)] a strict
    parser accepts in order; tail = None if nothing deserves a further
    response, else the reason the next request is invalid or incomplete;
    methods = methods of the requests the server may answer (incl. the
    invalid one when its request line names one), for response framing."""
    reqs, methods = [], []
    pos = 0
    while True:
        while data.startswith(b"\r\n", pos):
            pos += 2  # empty lines before a request-line are ignored
        if pos >= len(data):
            return reqs, None, methods
        m = re.match(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ", data[pos:pos + 64])
        if m:
            methods.append(m.group(1))
        try:
            end = data.find(b"\r\n\r\n", pos)
            if end < 0:
                eol = data.find(b"\r\n", pos)
                first = data[pos:eol if eol >= 0 else len(data)]
                if b"\n" in first or b"\r" in first:
                    raise Invalid("bare CR or LF in the request line")
                raise Incomplete("header section")
            lines = split_lines(data[pos:end])
            if len(lines[0]) > MAX_REQUEST_LINE:
                raise Invalid("request line too long")
            if end - pos > MAX_HEADER_BYTES:
                raise Invalid("header section too large")
            parts = lines[0].split(b" ")
            if len(parts) != 3:
                raise Invalid("request line needs exactly two SP")
            method, target, version = parts
            if not is_token(method):
                raise Invalid("bad method")
            if not target or not all(0x21 <= ch <= 0x7E or ch >= 0x80 for ch in target):
                raise Invalid("bad request-target")
            vm = re.match(rb"HTTP/([0-9])\.([0-9])\Z", version)
            if not vm or vm.group(1) != b"1":
                raise Invalid("unsupported version %r" % version[:20])
            http10 = vm.group(2) == b"0"
            fields = [parse_field_line(ln) for ln in lines[1:]]
            get = lambda n: [v for k, v in fields if k == n]  # noqa: E731
            hosts = get(b"host")
            if (not http10 and len(hosts) != 1) or len(hosts) > 1:
                raise Invalid("Host missing or repeated")
            te, cl = get(b"transfer-encoding"), get(b"content-length")
            body_end = end + 4
            if te:
                if http10:
                    raise Invalid("Transfer-Encoding in HTTP/1.0")
                if cl:
                    raise Invalid("Content-Length with Transfer-Encoding")
                if [x.lower() for x in list_items(te)] != [b"chunked"]:
                    raise Invalid("transfer coding other than a single chunked")
                body_end = parse_chunked(data, end + 4)
            elif cl:
                vals = [x.strip(b" \t") for v in cl for x in v.split(b",")]
                if not all(re.match(rb"[0-9]{1,18}\Z", v) for v in vals) or len(set(vals)) != 1:
                    raise Invalid("bad or conflicting Content-Length")
                n = int(vals[0])
                if len(data) < end + 4 + n:
                    raise Incomplete("body")
                body_end = end + 4 + n
            conn = [x.lower() for x in list_items(get(b"connection"))]
            close = b"close" in conn or (http10 and b"keep-alive" not in conn)
        except Invalid as e:
            return reqs, "invalid: %s" % e, methods
        except Incomplete as e:
            return reqs, "incomplete: %s" % e, methods
        reqs.append((method, target))
        pos = body_end
        if close:
            return reqs, None, methods


# ------------------------------------------------------------ responses

def parse_responses(buf, methods):
    """Final responses in buf: ([status], stray_bytes, notes)."""
    statuses, notes = [], []
    pos, k = 0, 0
    while pos < len(buf):
        if not buf.startswith(b"HTTP/", pos):
            return statuses, buf[pos:], notes
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            return statuses, buf[pos:], notes + ["truncated response head"]
        lines = buf[pos:end].split(b"\r\n")
        sm = re.match(rb"HTTP/1\.[01] ([0-9]{3})(?: |\Z)", lines[0])
        if not sm:
            return statuses, buf[pos:], notes + ["bad status line"]
        status = int(sm.group(1))
        hdrs = {}
        for ln in lines[1:]:
            n, _, v = ln.partition(b":")
            hdrs.setdefault(n.strip().lower(), []).append(v.strip())
        pos = end + 4
        if 100 <= status < 200:
            continue
        method = methods[k] if k < len(methods) else None
        k += 1
        statuses.append(status)
        if status in (204, 304):
            continue
        if b"chunked" in b",".join(hdrs.get(b"transfer-encoding", [])).lower():
            try:
                pos = parse_chunked(buf, pos)
            except (Invalid, Incomplete) as e:
                return statuses, buf[pos:], notes + ["bad chunked response: %s" % e]
            continue
        if b"content-length" in hdrs:
            try:
                n = int(hdrs[b"content-length"][0])
            except ValueError:
                return statuses, buf[pos:], notes + ["bad response Content-Length"]
            fits = lambda p: p == len(buf) or buf.startswith(b"HTTP/", p)  # noqa: E731
            if method == b"HEAD":
                if fits(pos):
                    continue
                if n and fits(pos + n):
                    notes.append("body sent in a response to HEAD")
                    pos += n
                    continue
            pos += n
            if pos > len(buf):
                notes.append("truncated response body")
            continue
        pos = len(buf)  # delimited by close
    return statuses, b"", notes


# ------------------------------------------------------------ replay

def encode(payload):
    try:
        return payload.encode("latin-1"), False
    except UnicodeEncodeError:
        return payload.encode("utf-8"), True


def send_vector(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    send_err = None
    try:
        s.sendall(data)
    except OSError as e:
        send_err = e  # the server may close before reading everything
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    buf, closed, t0 = b"", False, T.now()
    while True:
        left = t0 + READ_TIMEOUT - T.now()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
    s.close()
    return buf, closed, send_err


def health(port):
    t = T.now()
    try:
        r = T.request(port, "GET", "/healthz", timeout=HEALTH_BOUND)
        return r.status == 200 and T.now() - t <= HEALTH_BOUND, T.now() - t
    except OSError:
        return False, T.now() - t


def main():
    c = T.Checker("vectors: replay ../shared/http-vectors (desync and parser-bug payloads)")
    vdir = os.environ.get("HTTP_VECTORS_DIR") or os.path.join(T.REPO, "..", "shared", "http-vectors")
    vdir = os.path.abspath(vdir)
    if not os.path.isdir(vdir):
        c.skip("NOTICE: %s is absent on this clone; set HTTP_VECTORS_DIR to replay the vectors" % vdir)
    # Every vector file in the folder is replayed: a file added later is not
    # silently ignored. hdg_* files carry a tier (stricter oracle); any other
    # file is held to the garden oracle (no more responses than legitimate
    # requests). A present folder without vectors is a failure, not a skip.
    files = sorted(f for f in os.listdir(vdir) if f.endswith(".json"))
    for must in ("hdg_vectors.json", "garden_vectors.json"):
        c.check(must in files, "%s is in %s" % (must, vdir))
    if c.failures:
        c.finish()
    c.info("vectors from %s" % vdir)

    url = T.new_database("faults_vectors")
    env = {"WORKER_THREADS": "2", "HEADER_TIMEOUT_SECONDS": "3", "BODY_TIMEOUT_SECONDS": "3",
           "ACCESS_LOG": "off"}
    svc = T.Service("vectors", env=env, database_url=url)
    crashes = []
    try:
        svc.start()
        first_pid = svc.pid
        total_sent = 0
        for fname in files:
            with open(os.path.join(vdir, fname), encoding="utf-8") as f:
                vectors = json.load(f)
            hdg = fname.startswith("hdg")
            tiers = {}
            violations = []
            utf8 = 0
            for idx, v in enumerate(vectors):
                tier = v.get("tier") if hdg else v.get("section", "garden")
                label = "%s#%d %s%s" % (fname.split("_")[0], idx, tier,
                                        (" (%s)" % v.get("name", "")[:60]) if hdg else "")
                data, as_utf8 = encode(v["payload"])
                utf8 += as_utf8
                reqs, tail, methods = strict_model(data)
                legit = len(reqs)
                limit = 1 if hdg else legit + (1 if tail else 0)
                buf, closed, send_err = send_vector(svc.port, data)
                total_sent += 1
                statuses, stray, notes = parse_responses(buf, methods)
                st = tiers.setdefault(tier, {"n": 0, "rejected": 0, "2xx": 0, "first": {},
                                             "closed": 0, "max_resp": 0, "violations": 0})
                st["n"] += 1
                st["closed"] += closed
                first = statuses[0] if statuses else "none"
                st["first"][first] = st["first"].get(first, 0) + 1
                if not statuses or statuses[0] >= 400:
                    st["rejected"] += 1
                if any(200 <= s < 300 for s in statuses):
                    st["2xx"] += 1
                st["max_resp"] = max(st["max_resp"], len(statuses))
                problems = []
                if len(statuses) > limit:
                    problems.append("%d responses %s > %d legitimate%s" % (
                        len(statuses), statuses, limit, "" if hdg else
                        " (model: %d valid request(s), then %s)" % (legit, tail or "nothing")))
                if hdg and tier == "Severe" and any(200 <= s < 300 for s in statuses):
                    problems.append("Severe vector answered 2xx: %s" % statuses)
                if hdg and tier == "Severe" and statuses and statuses[0] in (404, 405):
                    # /foo/bar and friends do not exist: 404/405 means the
                    # parser accepted the request and the router answered.
                    problems.append("Severe vector accepted by the parser (routed: %d)" % statuses[0])
                if stray:
                    problems.append("reply does not parse as HTTP responses: %r" % stray[:80])
                alive = svc.alive()
                ok_h, lat = health(svc.port) if alive else (False, 0.0)
                if not alive:
                    problems.append("service died (exit status %s)" % svc.proc.returncode)
                elif not ok_h:
                    problems.append("/healthz did not answer 200 within %.0fs after the vector (%.2fs)"
                                    % (HEALTH_BOUND, lat))
                if VERBOSE or problems:
                    c.info("%s: model %d valid + %s; got %s%s%s" % (
                        label, legit, tail or "-", statuses, " closed" if closed else " open",
                        (" notes %s" % notes) if notes else ""))
                if problems:
                    st["violations"] += 1
                    violations.append((label, v["payload"], problems))
                    c.info("  payload %r" % v["payload"][:200])
                    for p in problems:
                        c.info("  -> " + p)
                if not alive or not ok_h:
                    crashes.append(label)
                    c.info("  service log:\n" + svc.log_tail(15))
                    if not alive:  # keep replaying on a fresh process
                        svc.stop()
                        svc = T.Service("vectors", env=env, database_url=url)
                        svc.start()
            c.info("%s: %d vectors%s" % (fname, len(vectors),
                                         ", %d sent as UTF-8 (characters above U+00FF)" % utf8 if utf8 else ""))
            for tier in sorted(tiers):
                st = tiers[tier]
                c.figure("%s %s" % (fname.split("_")[0], tier),
                         "n=%d rejected(4xx/5xx/none)=%d 2xx=%d closed=%d max-responses=%d "
                         "violations=%d first-status=%s" % (
                             st["n"], st["rejected"], st["2xx"], st["closed"], st["max_resp"],
                             st["violations"],
                             dict(sorted(st["first"].items(), key=lambda kv: str(kv[0])))))
            if hdg:
                sev2xx = tiers.get("Severe", {}).get("2xx", 0)
                c.check(sev2xx == 0, "hdg: no Severe vector gets a 2xx", str(sev2xx))
                routed = [lab for lab, _, ps in violations if any("accepted by the parser" in p for p in ps)]
                c.check(not routed, "hdg: every Severe vector is rejected by the parser (never routed to 404/405)",
                        ", ".join(routed[:10]))
            over = [x for x in violations if any("legitimate" in p for p in x[2])]
            c.check(not over, "%s: no vector yields more responses than legitimate requests" % fname,
                    "; ".join("%s: %s" % (lab, [p for p in ps if "legitimate" in p][0])
                              for lab, _, ps in over[:10]))
            stray = [x for x in violations if any("parse as HTTP" in p for p in x[2])]
            c.check(not stray, "%s: every reply parses as HTTP responses" % fname,
                    "; ".join(lab for lab, _, _ in stray[:10]))
        c.figure("vectors replayed", total_sent)
        c.check(not crashes, "the service never crashed or hung (/healthz 200 within %.0fs after each vector)"
                % HEALTH_BOUND, ", ".join(crashes[:10]))
        c.check(svc.alive() and svc.pid == first_pid, "same service process alive at the end (pid %d)"
                % first_pid)
    except Exception as e:
        c.check(False, "test ran to completion", "%s: %s" % (type(e).__name__, e))
    finally:
        svc.stop()
    c.finish()


if __name__ == "__main__":
    main()
