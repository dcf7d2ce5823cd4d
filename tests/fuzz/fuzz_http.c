/*
 * libFuzzer harness: the HTTP/1.1 request parser (http_parse.h).
 *
 * The input is what a client writes on one connection: pipelined requests,
 * bodies (Content-Length or chunked), garbage. It is fed, piece by piece,
 * to the framer http_conn.c uses (http_framer.c: scan the head
 * incrementally, parse it, read or de-chunk the body, drop the request, go
 * on with the rest), and what the server would see is logged. Checked:
 *
 *   - framing does not depend on segmentation: the input delivered at once,
 *     byte by byte, and in pseudo-random pieces gives the same requests,
 *     bodies and outcome (smuggling lives in such differences);
 *   - http_scan_head: progress never exceeds the buffer or goes back,
 *     head_end lies within the buffer and ends a CRLF CRLF, a completed head
 *     respects max_header_bytes, error statuses are the documented ones;
 *   - http_parse_head (run on an exact-size copy of the head, so any
 *     over-read is an ASan report): every slice lies in the head, the
 *     method/target/version/header fields follow the grammar, Content-Length
 *     and Transfer-Encoding agree with the header list, never both, Host is
 *     there on HTTP/1.1, keep-alive follows the version rules;
 *   - http_chunked_feed (on the raw input as a body, and inside the
 *     simulation): same decoded body and outcome whatever the pieces, AGAIN
 *     consumes everything, the decoded size never exceeds max_body;
 *   - http_query_param values lie inside the query.
 * The bytes beyond what the simulated socket has delivered are poisoned, so
 * reading them is an ASan report too.
 */
#include "buf.h"
#include "common.h"
#include "fuzz_common.h"
#include "http_framer.h"
#include "http_parse.h"

#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool within(slice_t s, const char *base, size_t len)
{
    if (s.len == 0)
        return true; /* empty slices may point anywhere (or be NULL) */
    return s.ptr >= base && s.ptr <= base + len && s.len <= (size_t)(base + len - s.ptr);
}

static bool ieq(slice_t s, const char *lit)
{
    return s.len == strlen(lit) && strncasecmp(s.ptr, lit, s.len) == 0;
}

/* ---- http_parse_head result checks ---- */

static void check_error(const http_error_t *err, const int *allowed)
{
    bool ok = false;

    for (; *allowed; allowed++)
        ok |= err->status == *allowed;
    FUZZ_CHECK(ok, "unexpected error status %d (%s)", err->status, err->detail);
    FUZZ_CHECK(memchr(err->detail, '\0', sizeof(err->detail)) != NULL && err->detail[0] != '\0',
               "error detail not a non-empty string");
}

static const int parse_statuses[] = {400, 414, 417, 431, 501, 505, 0};
static const int scan_statuses[] = {400, 414, 431, 0};
/* http_parse.h says 400 or 413; a too-large trailer section answers 431. */
static const int chunk_statuses[] = {400, 413, 431, 0};

static void check_request(const http_request_t *r, const char *head, size_t len)
{
    FUZZ_CHECK(r->head_len == len, "head_len %zu for a %zu-byte head", r->head_len, len);

    /* Request line. */
    FUZZ_CHECK(r->method_str.len > 0 && within(r->method_str, head, len), "method slice");
    for (size_t i = 0; i < r->method_str.len; i++)
        FUZZ_CHECK(is_tchar((unsigned char)r->method_str.ptr[i]), "non-tchar in the method");
    FUZZ_CHECK(r->method >= HTTP_GET && r->method < HTTP_METHOD_COUNT, "method %d", r->method);
    if (r->method != HTTP_OTHER) {
        FUZZ_CHECK(
            r->method_str.len == strlen(http_method_name(r->method)) &&
                memcmp(r->method_str.ptr, http_method_name(r->method), r->method_str.len) == 0,
            "method %d is not \"%.*s\"", r->method, (int)r->method_str.len, r->method_str.ptr);
    } else {
        for (int m = HTTP_GET; m < HTTP_OTHER; m++) {
            const char *name = http_method_name((http_method_t)m);
            FUZZ_CHECK(!(r->method_str.len == strlen(name) &&
                         memcmp(r->method_str.ptr, name, r->method_str.len) == 0),
                       "known method %s classified as OTHER", name);
        }
    }
    FUZZ_CHECK(r->target.len > 0 && within(r->target, head, len), "target slice");
    for (size_t i = 0; i < r->target.len; i++) {
        unsigned char c = (unsigned char)r->target.ptr[i];
        FUZZ_CHECK(c > 0x20 && c < 0x7F && c != '#', "byte 0x%02x in the target", c);
    }
    FUZZ_CHECK(within(r->query, r->target.ptr, r->target.len), "query outside the target");
    if (r->query.len > 0)
        FUZZ_CHECK(r->query.ptr > r->target.ptr && r->query.ptr[-1] == '?',
                   "query does not follow a '?'");
    bool absolute = r->target.len > 7 && (strncasecmp(r->target.ptr, "http://", 7) == 0 ||
                                          strncasecmp(r->target.ptr, "https://", 8) == 0);
    if (r->target.len == 1 && r->target.ptr[0] == '*') {
        FUZZ_CHECK(r->method == HTTP_OPTIONS, "asterisk-form for a method other than OPTIONS");
    } else if (!within(r->path, r->target.ptr, r->target.len)) {
        /* Only an absolute-form target without a path gets a path of "/". */
        FUZZ_CHECK(absolute && r->path.len == 1 && r->path.ptr[0] == '/',
                   "path outside the target");
    } else {
        FUZZ_CHECK(r->target.ptr[0] == '/' || absolute, "origin-form target without '/'");
        FUZZ_CHECK(r->path.len > 0 && r->path.ptr[0] == '/', "path does not start with '/'");
        FUZZ_CHECK(memchr(r->path.ptr, '?', r->path.len) == NULL, "'?' inside the path");
        if (r->query.len > 0)
            FUZZ_CHECK(r->query.ptr == r->path.ptr + r->path.len + 1,
                       "query does not follow the path's '?'");
        FUZZ_CHECK(r->path.ptr + r->path.len + (r->query.len ? r->query.len + 1 : 0) <=
                       r->target.ptr + r->target.len,
                   "path+query overrun the target");
    }
    FUZZ_CHECK(r->minor == 0 || r->minor == 1, "HTTP/1.%d accepted", r->minor);

    /* Header fields. */
    FUZZ_CHECK(r->n_headers <= HTTP_MAX_HEADERS, "%zu headers", r->n_headers);
    size_t n_cl = 0, n_te = 0, n_host = 0, n_conn = 0;
    slice_t cl = {0}, te = {0}, host = {0};
    for (size_t i = 0; i < r->n_headers; i++) {
        slice_t n = r->headers[i].name, v = r->headers[i].value;
        FUZZ_CHECK(n.len > 0 && within(n, head, len) && within(v, head, len), "header slices");
        for (size_t k = 0; k < n.len; k++)
            FUZZ_CHECK(is_tchar((unsigned char)n.ptr[k]), "non-tchar in a header name");
        for (size_t k = 0; k < v.len; k++) {
            unsigned char c = (unsigned char)v.ptr[k];
            FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7F), "byte 0x%02x in a header value", c);
        }
        if (v.len > 0) {
            FUZZ_CHECK(v.ptr[0] != ' ' && v.ptr[0] != '\t' && v.ptr[v.len - 1] != ' ' &&
                           v.ptr[v.len - 1] != '\t',
                       "header value keeps surrounding whitespace");
        }
        if (ieq(n, "content-length"))
            n_cl++, cl = v;
        if (ieq(n, "transfer-encoding"))
            n_te++, te = v;
        if (ieq(n, "host"))
            n_host++, host = v;
        if (ieq(n, "connection"))
            n_conn++;
    }
    FUZZ_CHECK(n_cl <= 1 && n_te <= 1 && n_host <= 1, "duplicate CL (%zu)/TE (%zu)/Host (%zu)",
               n_cl, n_te, n_host);
    FUZZ_CHECK(r->has_content_length == (n_cl == 1), "has_content_length disagrees");
    if (r->has_content_length) {
        uint64_t v = 0;
        FUZZ_CHECK(cl.len >= 1 && cl.len <= 18, "Content-Length of %zu digits", cl.len);
        for (size_t k = 0; k < cl.len; k++) {
            FUZZ_CHECK(cl.ptr[k] >= '0' && cl.ptr[k] <= '9', "non-digit in Content-Length");
            v = v * 10 + (uint64_t)(cl.ptr[k] - '0');
        }
        FUZZ_CHECK(v == r->content_length, "content_length %llu, header says %llu",
                   (unsigned long long)r->content_length, (unsigned long long)v);
    }
    FUZZ_CHECK(r->chunked == (n_te == 1), "chunked disagrees with Transfer-Encoding");
    if (r->chunked)
        FUZZ_CHECK(ieq(te, "chunked") && r->minor == 1, "chunked from \"%.*s\" on HTTP/1.%d",
                   (int)te.len, te.ptr, r->minor);
    FUZZ_CHECK(!(r->chunked && r->has_content_length), "both chunked and Content-Length");
    FUZZ_CHECK(r->has_host == (n_host == 1), "has_host disagrees");
    if (r->has_host)
        FUZZ_CHECK(r->host.len == host.len && (host.len == 0 || r->host.ptr == host.ptr),
                   "host is not the Host header");
    if (r->minor == 1)
        FUZZ_CHECK(r->has_host, "HTTP/1.1 without Host accepted");
    if (n_conn == 0)
        FUZZ_CHECK(r->keep_alive == (r->minor == 1), "keep_alive %d on HTTP/1.%d", r->keep_alive,
                   r->minor);
    slice_t s[] = {r->content_type, r->authorization, r->x_api_key,      r->request_id,
                   r->if_match,     r->if_none_match, r->idempotency_key};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        FUZZ_CHECK(within(s[i], head, len), "field slice %zu outside the head", i);

    slice_t v = {NULL, 0};
    static const char *const params[] = {"limit", "cursor"};
    for (size_t i = 0; i < 2; i++) {
        if (http_query_param(r->query, params[i], &v) > 0)
            FUZZ_CHECK(within(v, r->query.ptr, r->query.len), "query param outside the query");
    }
}

/* ---- connection simulator ---- */

typedef struct {
    size_t max_header;
    uint64_t max_body;
} sim_cfg_t;

/* The bytes just past what has been delivered are poisoned: a window, not the
 * whole spare capacity, since inputs go in byte by byte. unpoison() must run
 * before anything changes the buffer. */
#define POISON_WINDOW 64
static char *poisoned;
static size_t poisoned_len;

static void poison_tail(buf_t *b)
{
    if (b->data != NULL && b->cap > b->len) {
        poisoned = b->data + b->len;
        poisoned_len = IA_MIN(b->cap - b->len, POISON_WINDOW);
        ASAN_POISON_MEMORY_REGION(poisoned, poisoned_len);
    }
}

static void unpoison(buf_t *b)
{
    (void)b;
    if (poisoned != NULL)
        ASAN_UNPOISON_MEMORY_REGION(poisoned, poisoned_len);
    poisoned = NULL;
}

static uint32_t fnv(const char *p, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static void log_slice(buf_t *log, const char *label, slice_t s)
{
    buf_printf(log, " %s=%zu:%08x", label, s.len, s.len ? fnv(s.ptr, s.len) : 0);
}

enum { ST_HEAD, ST_BODY, ST_STOP };

/* The request is complete: close, or drop it and look for the next one. */
static int next_request(const http_request_t *req, http_framer_t *fr, buf_t *in, buf_t *log)
{
    if (!req->keep_alive) {
        buf_printf(log, "close (no keep-alive)\n");
        return ST_STOP;
    }
    unpoison(in);
    http_framer_next(fr, in);
    poison_tail(in);
    return ST_HEAD;
}

/* A head the framer accepted: the scan's invariants, then the head parsed
 * again from an exact-size copy (an over-read is an ASan report) and
 * checked against the grammar and against what the framer parsed. */
static void check_head(const http_framer_t *fr, const buf_t *in, const sim_cfg_t *cfg,
                       const http_request_t *req, http_request_t *copy)
{
    const http_scan_t *sc = &fr->scan;
    http_error_t err;

    FUZZ_CHECK(sc->head_end <= in->len && sc->head_end >= sc->skip + 4 && sc->skip <= in->len,
               "head_end %zu skip %zu len %zu", sc->head_end, sc->skip, in->len);
    FUZZ_CHECK(memcmp(in->data + sc->head_end - 4, "\r\n\r\n", 4) == 0,
               "the head does not end with CRLF CRLF");
    size_t hlen = sc->head_end - sc->skip;
    FUZZ_CHECK(hlen <= cfg->max_header, "a %zu-byte head passed the scan with max_header_bytes %zu",
               hlen, cfg->max_header);
    for (size_t i = 0; i < sc->skip; i += 2)
        FUZZ_CHECK(in->data[i] == '\r' && in->data[i + 1] == '\n',
                   "skipped bytes are not empty lines");
    FUZZ_CHECK(fr->body_start == sc->head_end && fr->request_end == sc->head_end,
               "the body does not start where the head ends");
    char *head = malloc(hlen);
    if (head == NULL)
        abort();
    memcpy(head, in->data + sc->skip, hlen);
    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(http_parse_head(head, hlen, copy, &err) == HTTP_PARSE_DONE,
               "a head the framer parsed fails on its copy (%d)", err.status);
    check_request(copy, head, hlen);
    FUZZ_CHECK(copy->method == req->method && copy->minor == req->minor &&
                   copy->has_content_length == req->has_content_length &&
                   copy->content_length == req->content_length && copy->chunked == req->chunked &&
                   copy->keep_alive == req->keep_alive && copy->n_headers == req->n_headers &&
                   copy->target.len == req->target.len &&
                   memcmp(copy->target.ptr, req->target.ptr, req->target.len) == 0,
               "the framer and the copy parse differently");
    free(head);
}

/* Feeds data[0..len) in pieces ending at cuts[0..ncuts) (the last is len)
 * to the framer http_conn.c uses (http_framer.h), and logs what the server
 * sees. Like the server, a body is refused when its Content-Length is over
 * max_body; unlike it, every request may have one (routes are not modelled). */
static void sim_run(const char *data, size_t len, const size_t *cuts, size_t ncuts,
                    const sim_cfg_t *cfg, buf_t *log)
{
    buf_t in = {0}, body = {0};
    http_framer_t fr;
    http_error_t err;
    http_request_t *req = malloc(sizeof(*req)), *copy = malloc(sizeof(*copy));
    size_t fed = 0, k = 0, prev_scanned = 0, nreq = 0;
    int st = ST_HEAD;

    if (req == NULL || copy == NULL)
        abort();
    http_framer_init(&fr);
    while (st != ST_STOP) {
        bool progress = false;

        if (st == ST_HEAD && in.len > 0) {
            memset(&err, 0, sizeof(err));
            http_frame_t rc = http_framer_head(&fr, &in, cfg->max_header, req, &err);
            const http_scan_t *sc = &fr.scan;
            FUZZ_CHECK(sc->scanned <= in.len && sc->scanned >= prev_scanned,
                       "scanned %zu (was %zu) for %zu buffered bytes", sc->scanned, prev_scanned,
                       in.len);
            FUZZ_CHECK(sc->skip <= sc->scanned || rc == FRAME_ERROR, "skip %zu > scanned %zu",
                       sc->skip, sc->scanned);
            FUZZ_CHECK(rc == FRAME_AGAIN || rc == FRAME_HEAD || rc == FRAME_ERROR,
                       "http_framer_head returned %d", rc);
            prev_scanned = sc->scanned;
            if (rc == FRAME_ERROR) {
                /* The scan sets head_end only once it has found the head. */
                bool parsing = sc->head_end != 0;
                check_error(&err, parsing ? parse_statuses : scan_statuses);
                buf_printf(log, "%s-error %d\n", parsing ? "parse" : "scan", err.status);
                st = ST_STOP;
                break;
            }
            if (rc == FRAME_HEAD) {
                check_head(&fr, &in, cfg, req, copy);
                nreq++;
                buf_printf(log, "request %zu skip=%zu head=%zu m=%d minor=%d cl=%d:%llu te=%d",
                           nreq, sc->skip, sc->head_end - sc->skip, req->method, req->minor,
                           req->has_content_length, (unsigned long long)req->content_length,
                           req->chunked);
                buf_printf(log, " ka=%d 100=%d nh=%zu", req->keep_alive, req->expect_continue,
                           req->n_headers);
                log_slice(log, "target", req->target);
                log_slice(log, "host", req->host);
                buf_putc(log, '\n');
                if (req->has_content_length && req->content_length > cfg->max_body) {
                    buf_printf(log, "413 by Content-Length\n");
                    st = ST_STOP;
                    break;
                }
                if (http_framer_has_body(req)) {
                    unpoison(&in);
                    http_framer_body_begin(&fr, &in, req, &body, cfg->max_body, 64);
                    poison_tail(&in);
                    st = ST_BODY;
                } else {
                    buf_printf(log, "body 0:%08x\n", fnv("", 0));
                    st = next_request(req, &fr, &in, log);
                    prev_scanned = 0;
                }
                progress = st != ST_STOP;
            }
        } else if (st == ST_BODY) {
            size_t avail = in.len - fr.body_start, before = body.len;
            slice_t b = {NULL, 0};
            memset(&err, 0, sizeof(err));
            unpoison(&in);
            http_frame_t rc = http_framer_body(&fr, &in, req, &body, &b, &err);
            poison_tail(&in);
            if (req->chunked) {
                size_t used = avail - (in.len - fr.body_start);
                FUZZ_CHECK(in.len - fr.body_start <= avail, "the framer grew the raw body");
                FUZZ_CHECK(body.len >= before && body.len - before <= used,
                           "decoded %zu bytes from %zu", body.len - before, used);
                FUZZ_CHECK(body.len <= cfg->max_body, "decoded %zu bytes, max_body %llu", body.len,
                           (unsigned long long)cfg->max_body);
                if (rc == FRAME_AGAIN)
                    FUZZ_CHECK(used == avail, "AGAIN after using %zu of %zu bytes", used, avail);
            }
            if (rc == FRAME_ERROR) {
                FUZZ_CHECK(req->chunked, "a Content-Length body failed");
                check_error(&err, chunk_statuses);
                buf_printf(log, "chunked-error %d\n", err.status);
                st = ST_STOP;
            } else if (rc == FRAME_BODY) {
                FUZZ_CHECK(req->chunked ? b.len == body.len : b.len == req->content_length,
                           "body of %zu bytes", b.len);
                FUZZ_CHECK(fr.request_end <= in.len, "request_end %zu past %zu buffered bytes",
                           fr.request_end, in.len);
                buf_printf(log, "%sbody %zu:%08x\n", req->chunked ? "chunked " : "", b.len,
                           fnv(b.ptr, b.len));
                st = next_request(req, &fr, &in, log);
                prev_scanned = 0;
                progress = st != ST_STOP;
            } else {
                FUZZ_CHECK(rc == FRAME_AGAIN, "http_framer_body returned %d", rc);
            }
        }
        if (st == ST_STOP)
            break;
        if (progress)
            continue;
        if (fed == len) {
            buf_printf(log, "eof in state %d with %zu bytes buffered\n", st, in.len);
            break;
        }
        /* The socket delivers the next piece. */
        size_t upto = cuts[k++];
        FUZZ_CHECK(upto > fed && upto <= len && k <= ncuts, "bad cut");
        unpoison(&in);
        buf_append(&in, data + fed, upto - fed);
        poison_tail(&in);
        fed = upto;
    }
    unpoison(&in);
    buf_release(&in);
    buf_release(&body);
    free(req);
    free(copy);
}

/* Logs with error statuses reduced to "error": which violation is reported
 * first may depend on how far the scanner got; whether one is, may not. */
static void normalize(buf_t *b)
{
    size_t w = 0;

    for (size_t r = 0; r < b->len;) {
        if (r + 6 <= b->len && memcmp(b->data + r, "error ", 6) == 0) {
            memcpy(b->data + w, "error", 5);
            w += 5;
            while (r < b->len && b->data[r] != '\n')
                r++;
            continue;
        }
        b->data[w++] = b->data[r++];
    }
    b->len = w;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void check_segmentation(const char *data, size_t len, const sim_cfg_t *cfg)
{
    size_t *cuts = malloc((len ? len : 1) * sizeof(*cuts));
    buf_t once = {0}, bytes = {0}, pieces = {0};
    size_t n = 0;

    if (cuts == NULL)
        abort();
    cuts[0] = len;
    sim_run(data, len, cuts, 1, cfg, &once);

    for (size_t i = 1; i <= len; i++)
        cuts[n++] = i;
    sim_run(data, len, cuts, n, cfg, &bytes);

    uint64_t seed = fnv(data, len) | 1;
    n = 0;
    for (size_t at = 0; at < len;) {
        at += 1 + rng_next(&seed) % (1 + rng_next(&seed) % 64);
        cuts[n++] = at < len ? at : len;
        if (at >= len)
            break;
    }
    if (len > 0)
        sim_run(data, len, cuts, n, cfg, &pieces);

    normalize(&once);
    normalize(&bytes);
    normalize(&pieces);
    bool same1 = once.len == bytes.len && memcmp(once.data, bytes.data, once.len) == 0;
    bool same2 =
        len == 0 || (once.len == pieces.len && memcmp(once.data, pieces.data, once.len) == 0);
    if (!same1 || !same2) {
        fprintf(stderr, "==FUZZ== max_header_bytes=%zu max_body=%llu\n", cfg->max_header,
                (unsigned long long)cfg->max_body);
        fprintf(stderr, "==FUZZ== delivered at once:\n%.*s", (int)once.len, once.data);
        fprintf(stderr, "==FUZZ== delivered byte by byte:\n%.*s", (int)bytes.len, bytes.data);
        fprintf(stderr, "==FUZZ== delivered in pieces:\n%.*s", (int)pieces.len, pieces.data);
    }
    FUZZ_CHECK(same1 && same2, "the server sees different requests depending on segmentation");
    buf_release(&once);
    buf_release(&bytes);
    buf_release(&pieces);
    free(cuts);
}

/*
 * Reference chunked decoder, from the RFC 9112 section 7.1 grammar with the
 * service's documented limits (15 hex digits, extensions of printable ASCII up
 * to 1 KiB, 8 KiB of trailer lines counting their CRs, max_body). Trailer
 * lines are field lines: token ":" value. Returns DONE/AGAIN/FAIL like the
 * real one; FAIL may come earlier than the real decoder notices.
 */
static int ref_fail(int *status, int s)
{
    *status = s;
    return HTTP_PARSE_FAIL;
}

static int hexdig(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

static int ref_chunked(const unsigned char *d, size_t n, uint64_t max, buf_t *body, size_t *used,
                       int *status)
{
    size_t i = 0, trailer = 0;

    *used = n;
    for (;;) {
        size_t digits = 0;
        uint64_t size = 0;
        for (; i < n && hexdig(d[i]) >= 0; i++) {
            if (++digits > 15)
                return ref_fail(status, 400);
            size = size * 16 + (uint64_t)hexdig(d[i]);
        }
        if (i == n)
            return HTTP_PARSE_AGAIN;
        if (digits == 0)
            return ref_fail(status, 400);
        if (d[i] == ';') {
            size_t ext = 0;
            for (i++; i < n && d[i] != '\r'; i++) {
                if (!(d[i] == '\t' || (d[i] >= 0x20 && d[i] < 0x7F)) || ++ext > 1024)
                    return ref_fail(status, 400);
            }
        }
        if (i == n)
            return HTTP_PARSE_AGAIN;
        if (d[i++] != '\r')
            return ref_fail(status, 400);
        if (i == n)
            return HTTP_PARSE_AGAIN;
        if (d[i++] != '\n')
            return ref_fail(status, 400);
        if (size == 0)
            break;
        if (body->len + size > max)
            return ref_fail(status, 413);
        if (n - i < size) {
            buf_append(body, d + i, n - i);
            return HTTP_PARSE_AGAIN;
        }
        buf_append(body, d + i, (size_t)size);
        i += (size_t)size;
        if (i == n)
            return HTTP_PARSE_AGAIN;
        if (d[i++] != '\r')
            return ref_fail(status, 400);
        if (i == n)
            return HTTP_PARSE_AGAIN;
        if (d[i++] != '\n')
            return ref_fail(status, 400);
    }
    for (;;) {
        if (i == n)
            return HTTP_PARSE_AGAIN;
        if (d[i] == '\r') {
            if (++i == n)
                return HTTP_PARSE_AGAIN;
            if (d[i++] != '\n')
                return ref_fail(status, 400);
            *used = i;
            return HTTP_PARSE_DONE;
        }
        size_t s = i;
        while (i < n && is_tchar(d[i]))
            i++;
        if (i == s)
            return ref_fail(status, 400);
        if (i < n && d[i] != ':')
            return ref_fail(status, 400);
        for (; i < n && d[i] != '\r'; i++) {
            if (!(d[i] == '\t' || (d[i] >= 0x20 && d[i] != 0x7F)))
                return ref_fail(status, 400);
        }
        trailer += i - s + (i < n); /* the CR counts */
        if (trailer > 8192)
            return ref_fail(status, 431);
        if (i == n)
            return HTTP_PARSE_AGAIN;
        if (++i == n)
            return HTTP_PARSE_AGAIN;
        if (d[i++] != '\n')
            return ref_fail(status, 400);
    }
}

/* The chunked decoder alone, on the input as a body. */
static void check_chunked(const char *data, size_t len, uint64_t max_body)
{
    http_chunked_t a, b;
    buf_t ba = {0}, bb = {0};
    http_error_t ea, eb;
    size_t ua = 0, ub = 0, total_b = 0;
    http_parse_rc_t ra, rb = HTTP_PARSE_AGAIN;

    http_chunked_init(&a, max_body);
    memset(&ea, 0, sizeof(ea));
    ra = http_chunked_feed(&a, data, len, &ua, &ba, &ea);
    FUZZ_CHECK(ua <= len, "used %zu of %zu", ua, len);
    FUZZ_CHECK(ba.len <= max_body, "decoded %zu > max_body", ba.len);
    if (ra == HTTP_PARSE_AGAIN)
        FUZZ_CHECK(ua == len, "AGAIN after %zu of %zu bytes", ua, len);
    if (ra == HTTP_PARSE_FAIL)
        check_error(&ea, chunk_statuses);

    /* Byte by byte. */
    http_chunked_init(&b, max_body);
    memset(&eb, 0, sizeof(eb));
    for (size_t i = 0; i < len && rb == HTTP_PARSE_AGAIN; i++) {
        rb = http_chunked_feed(&b, data + i, 1, &ub, &bb, &eb);
        FUZZ_CHECK(ub <= 1, "used %zu of 1", ub);
        total_b += ub;
    }
    FUZZ_CHECK(ra == rb, "at once %d, byte by byte %d", ra, rb);
    if (ra == HTTP_PARSE_FAIL)
        FUZZ_CHECK(ea.status == eb.status, "status %d vs %d", ea.status, eb.status);
    else
        FUZZ_CHECK(ua == total_b, "used %zu at once, %zu byte by byte", ua, total_b);
    FUZZ_CHECK(ba.len == bb.len && (ba.len == 0 || memcmp(ba.data, bb.data, ba.len) == 0),
               "decoded bodies differ (%zu vs %zu bytes)", ba.len, bb.len);

    /* Against the reference: the same bodies are accepted, the same refused. */
    buf_t br = {0};
    size_t ur = 0;
    int sr = 0;
    int rr = ref_chunked((const unsigned char *)data, len, max_body, &br, &ur, &sr);
    bool agree = true;
    if (ra == HTTP_PARSE_DONE || rr == HTTP_PARSE_DONE)
        agree = ra == rr && ua == ur && ba.len == br.len &&
                (ba.len == 0 || memcmp(ba.data, br.data, ba.len) == 0);
    else if (ra == HTTP_PARSE_FAIL)
        agree = rr == HTTP_PARSE_FAIL;
    if (!agree)
        fuzz_dump("chunked body", data, len);
    FUZZ_CHECK(agree,
               "chunked decoder says %d (used %zu, status %d), the RFC 9112 reference %d "
               "(used %zu, status %d)",
               ra, ua, ea.status, rr, ur, sr);
    buf_release(&br);

    if (ra == HTTP_PARSE_DONE) {
        /* Feeding after the end consumes nothing and stays done. */
        size_t u2 = 99;
        FUZZ_CHECK(http_chunked_feed(&a, data, len, &u2, &ba, &ea) == HTTP_PARSE_DONE && u2 == 0,
                   "feeding a finished decoder");
    }
    buf_release(&ba);
    buf_release(&bb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size private copy: ASan sees any over-read. */
    char *p = malloc(size ? size : 1);
    if (p == NULL)
        abort();
    if (size > 0)
        memcpy(p, data, size);

    /* The smallest limits the configuration allows, and the largest. */
    static const sim_cfg_t cfgs[] = {{65536, 65536}, {1024, 1024}};
    for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
        check_segmentation(p, size, &cfgs[i]);

    /* http_parse_head straight on the input (no scanner in front). */
    http_request_t *req = malloc(sizeof(*req));
    http_error_t err;
    if (req == NULL)
        abort();
    memset(&err, 0, sizeof(err));
    if (size > 0) {
        http_parse_rc_t rc = http_parse_head(p, size, req, &err);
        if (rc == HTTP_PARSE_DONE)
            check_request(req, p, size);
        else
            check_error(&err, parse_statuses);
    }
    free(req);

    check_chunked(p, size, 1024);
    check_chunked(p, size, 65536);
    free(p);
    return 0;
}
