#include "http_parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* tchar per RFC 9110 section 5.6.2. */
static const unsigned char tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool is_tchar(unsigned char c)
{
    return tchar_table[c] != 0;
}

/* field-vchar / SP / HTAB; obs-text (0x80-0xFF) is allowed by the grammar. */
static bool is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7F);
}

static http_parse_rc_t fail(http_error_t *err, int status, const char *detail)
{
    err->status = status;
    snprintf(err->detail, sizeof(err->detail), "%s", detail);
    return HTTP_PARSE_FAIL;
}

void http_scan_init(http_scan_t *sc)
{
    memset(sc, 0, sizeof(*sc));
}

http_parse_rc_t http_scan_head(http_scan_t *sc, const char *buf, size_t len,
                               size_t max_header_bytes, http_error_t *err)
{
    size_t i = sc->scanned;

    /* Skip a few empty lines before the request line (RFC 9112 section 2.2). */
    if (i == sc->skip) {
        while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n') {
            if (i >= 8)
                return fail(err, 400, "too many empty lines before the request line");
            i += 2;
        }
        sc->skip = i;
        if (i + 1 == len && buf[i] == '\r') {
            sc->scanned = i;
            return HTTP_PARSE_AGAIN;
        }
    }
    const size_t start = sc->skip;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n') {
            if (i == start || buf[i - 1] != '\r')
                return fail(err, 400, "bare LF line ending");
            if (sc->first_eol == 0)
                sc->first_eol = i;
            /* End of head: CRLF CRLF. The limits apply however the bytes
             * arrived, in one read or a thousand. */
            if (i - start >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
                if (sc->first_eol - start - 1 > HTTP_MAX_REQUEST_LINE)
                    return fail(err, 414, "request line longer than 8 KiB");
                if (i + 1 - start > max_header_bytes)
                    return fail(err, 431, "request header section too large");
                sc->head_end = i + 1;
                sc->scanned = i + 1;
                return HTTP_PARSE_DONE;
            }
            continue;
        }
        if (i > start && buf[i - 1] == '\r')
            return fail(err, 400, "bare CR in request head");
    }
    sc->scanned = len;
    size_t head_bytes = len - start;
    /* Line length without its CRLF; with no LF yet, a trailing CR may
     * still be the line's end. */
    size_t line = sc->first_eol                              ? sc->first_eol - start - 1
                  : (head_bytes > 0 && buf[len - 1] == '\r') ? head_bytes - 1
                                                             : head_bytes;
    if (line > HTTP_MAX_REQUEST_LINE)
        return fail(err, 414, "request line longer than 8 KiB");
    if (head_bytes > max_header_bytes)
        return fail(err, 431, "request header section too large");
    return HTTP_PARSE_AGAIN;
}

static const struct {
    const char *name;
    size_t len;
    http_method_t m;
} methods[] = {
    {"GET", 3, HTTP_GET},         {"HEAD", 4, HTTP_HEAD},   {"POST", 4, HTTP_POST},
    {"PUT", 3, HTTP_PUT},         {"PATCH", 5, HTTP_PATCH}, {"DELETE", 6, HTTP_DELETE},
    {"OPTIONS", 7, HTTP_OPTIONS},
};

const char *http_method_name(http_method_t m)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(methods); i++) {
        if (methods[i].m == m)
            return methods[i].name;
    }
    return "OTHER";
}

static http_method_t method_lookup(const char *p, size_t n)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(methods); i++) {
        if (methods[i].len == n && memcmp(methods[i].name, p, n) == 0)
            return methods[i].m;
    }
    return HTTP_OTHER;
}

static bool is_host_char(unsigned char c)
{
    /* reg-name / IPv4 / IP-literal characters, plus ':' for the port. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:[]%", c) != NULL;
}

/* uri-host [ ":" port ] (RFC 9110 section 7.2): an IP-literal in brackets or a
 * name without ':', then at most one ':' and a port of up to 5 digits, <= 65535. */
static bool host_valid(slice_t v)
{
    size_t i = 0, port_digits = 0;
    long port = 0;

    if (v.len > 0 && v.ptr[0] == '[') {
        while (i < v.len && v.ptr[i] != ']') {
            if (v.ptr[i] == '[' && i > 0)
                return false;
            if (!is_host_char((unsigned char)v.ptr[i]))
                return false;
            i++;
        }
        if (i == v.len)
            return false;
        i++;
    } else {
        while (i < v.len && v.ptr[i] != ':') {
            if (!is_host_char((unsigned char)v.ptr[i]) || v.ptr[i] == '[' || v.ptr[i] == ']')
                return false;
            i++;
        }
    }
    if (i == v.len)
        return true;
    if (v.ptr[i++] != ':')
        return false;
    for (; i < v.len; i++, port_digits++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9' || port_digits == 5)
            return false;
        port = port * 10 + (v.ptr[i] - '0');
    }
    return port <= 65535;
}

static http_parse_rc_t parse_target(http_request_t *req, http_error_t *err)
{
    const char *t = req->target.ptr;
    size_t n = req->target.len;
    const char *path = t;
    size_t path_len = n;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7F)
            return fail(err, 400, "invalid character in request target");
        if (c == '#')
            return fail(err, 400, "fragment in request target");
    }
    if (n == 1 && t[0] == '*') {
        if (req->method != HTTP_OPTIONS)
            return fail(err, 400, "asterisk-form target is only for OPTIONS");
    } else if (t[0] != '/') {
        /* absolute-form: a server MUST accept it (RFC 9112 section 3.2.2). */
        size_t skip;
        if (n > 7 && strncasecmp(t, "http://", 7) == 0)
            skip = 7;
        else if (n > 8 && strncasecmp(t, "https://", 8) == 0)
            skip = 8;
        else
            return fail(err, 400, "invalid request target");
        const char *slash = memchr(t + skip, '/', n - skip);
        const char *q = memchr(t + skip, '?', n - skip);
        if (slash == NULL || (q != NULL && q < slash)) {
            /* No path: it is "/" (RFC 9112 section 3.2.2). */
            req->path = (slice_t){"/", 1};
            req->query =
                q != NULL ? (slice_t){q + 1, n - (size_t)(q - t) - 1} : (slice_t){t + n, 0};
            return HTTP_PARSE_DONE;
        }
        path = slash;
        path_len = n - (size_t)(slash - t);
    }
    const char *q = memchr(path, '?', path_len);
    if (q != NULL) {
        req->path = (slice_t){path, (size_t)(q - path)};
        req->query = (slice_t){q + 1, path_len - (size_t)(q - path) - 1};
    } else {
        req->path = (slice_t){path, path_len};
        req->query = (slice_t){path + path_len, 0};
    }
    return HTTP_PARSE_DONE;
}

static http_parse_rc_t parse_request_line(const char *p, const char *eol, http_request_t *req,
                                          http_error_t *err)
{
    const char *s = p;

    while (p < eol && is_tchar((unsigned char)*p))
        p++;
    if (p == s || p >= eol || *p != ' ')
        return fail(err, 400, "malformed request line");
    req->method_str = (slice_t){s, (size_t)(p - s)};
    req->method = method_lookup(s, (size_t)(p - s));
    s = ++p;
    while (p < eol && *p != ' ')
        p++;
    if (p == s || p >= eol)
        return fail(err, 400, "malformed request line");
    req->target = (slice_t){s, (size_t)(p - s)};
    p++;
    if (eol - p != 8 || memcmp(p, "HTTP/", 5) != 0)
        return fail(err, 400, "malformed HTTP version");
    if (p[5] < '0' || p[5] > '9' || p[6] != '.' || p[7] < '0' || p[7] > '9')
        return fail(err, 400, "malformed HTTP version");
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return fail(err, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    req->minor = p[7] - '0';
    return parse_target(req, err);
}

static http_parse_rc_t parse_content_length(slice_t v, http_request_t *req, http_error_t *err)
{
    uint64_t n = 0;

    if (req->has_content_length)
        return fail(err, 400, "more than one Content-Length");
    if (v.len == 0 || v.len > 18)
        return fail(err, 400, "malformed Content-Length");
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return fail(err, 400, "malformed Content-Length");
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    req->has_content_length = true;
    req->content_length = n;
    return HTTP_PARSE_DONE;
}

static bool token_list_has(slice_t v, const char *token)
{
    size_t tl = strlen(token);
    const char *p = v.ptr, *end = v.ptr + v.len;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if ((size_t)(p - s) == tl && strncasecmp(s, token, tl) == 0)
            return true;
    }
    return false;
}

static bool set_once(bool *has, slice_t *dst, slice_t v)
{
    if (*has)
        return false;
    *has = true;
    *dst = v;
    return true;
}

#define NAME_IS(lit)                                                                               \
    (name.len == sizeof(lit) - 1 && strncasecmp(name.ptr, lit, sizeof(lit) - 1) == 0)

static http_parse_rc_t apply_header(http_request_t *req, slice_t name, slice_t v, bool *saw_te,
                                    bool *conn_close, bool *conn_keep, http_error_t *err)
{
    switch (name.len) {
    case 4:
        if (NAME_IS("host")) {
            if (!set_once(&req->has_host, &req->host, v))
                return fail(err, 400, "more than one Host");
            if (!host_valid(v))
                return fail(err, 400, "invalid Host");
        }
        break;
    case 6:
        if (NAME_IS("expect")) {
            /* An HTTP/1.0 server would not understand it: RFC 9110 section
             * 10.1.1 says to ignore it on a 1.0 request. */
            if (req->minor == 0)
                break;
            if (v.len == 12 && strncasecmp(v.ptr, "100-continue", 12) == 0)
                req->expect_continue = true;
            else
                return fail(err, 417, "only the 100-continue expectation is supported");
        }
        break;
    case 8:
        if (NAME_IS("if-match") && !set_once(&req->has_if_match, &req->if_match, v))
            return fail(err, 400, "more than one If-Match");
        break;
    case 9:
        if (NAME_IS("x-api-key") && !set_once(&req->has_x_api_key, &req->x_api_key, v))
            return fail(err, 400, "more than one X-API-Key");
        break;
    case 10:
        if (NAME_IS("connection")) {
            *conn_close |= token_list_has(v, "close");
            *conn_keep |= token_list_has(v, "keep-alive");
        }
        break;
    case 12:
        if (NAME_IS("content-type") && !set_once(&req->has_content_type, &req->content_type, v))
            return fail(err, 400, "more than one Content-Type");
        /* Two ids: neither is the client's id, so the server makes its own
         * (an empty value is never a valid id) and the request is served. */
        if (NAME_IS("x-request-id") && !set_once(&req->has_request_id, &req->request_id, v))
            req->request_id = (slice_t){v.ptr, 0};
        break;
    case 13:
        if (NAME_IS("authorization") && !set_once(&req->has_authorization, &req->authorization, v))
            return fail(err, 400, "more than one Authorization");
        if (NAME_IS("if-none-match") && !set_once(&req->has_if_none_match, &req->if_none_match, v))
            return fail(err, 400, "more than one If-None-Match");
        break;
    case 14:
        if (NAME_IS("content-length"))
            return parse_content_length(v, req, err);
        break;
    case 15:
        if (NAME_IS("idempotency-key") &&
            !set_once(&req->has_idempotency_key, &req->idempotency_key, v))
            return fail(err, 400, "more than one Idempotency-Key");
        break;
    case 17:
        if (NAME_IS("transfer-encoding")) {
            if (*saw_te)
                return fail(err, 400, "more than one Transfer-Encoding");
            *saw_te = true;
            if (v.len == 7 && strncasecmp(v.ptr, "chunked", 7) == 0)
                req->chunked = true;
            else if (v.len == 0 || memchr(v.ptr, ',', v.len) != NULL)
                return fail(err, 400, "malformed Transfer-Encoding");
            else
                return fail(err, 501, "unsupported transfer coding");
        }
        break;
    default:
        break;
    }
    return HTTP_PARSE_DONE;
}

http_parse_rc_t http_parse_head(const char *buf, size_t len, http_request_t *req, http_error_t *err)
{
    const char *p = buf, *end = buf + len;
    const char *eol;
    bool saw_te = false, conn_close = false, conn_keep = false;
    http_parse_rc_t rc;

    memset(req, 0, offsetof(http_request_t, headers));
    req->head_len = len;

    eol = memchr(p, '\r', len);
    if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
        return fail(err, 400, "malformed request line");
    if (eol - p > HTTP_MAX_REQUEST_LINE)
        return fail(err, 414, "request line longer than 8 KiB");
    rc = parse_request_line(p, eol, req, err);
    if (rc != HTTP_PARSE_DONE)
        return rc;
    p = eol + 2;

    while (p < end) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
            return fail(err, 400, "malformed header line");
        if (eol == p)
            break; /* the empty line */
        if (*p == ' ' || *p == '\t')
            return fail(err, 400, "obsolete line folding");
        const char *s = p;
        while (p < eol && is_tchar((unsigned char)*p))
            p++;
        if (p == s)
            return fail(err, 400, "malformed header name");
        if (p >= eol || *p != ':') {
            if (p < eol && (*p == ' ' || *p == '\t'))
                return fail(err, 400, "whitespace before the colon in a header");
            return fail(err, 400, "malformed header name");
        }
        slice_t name = {s, (size_t)(p - s)};
        p++;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        const char *vs = p;
        for (; p < eol; p++) {
            if (!is_field_char((unsigned char)*p))
                return fail(err, 400, "control character in a header value");
        }
        const char *ve = eol;
        while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        slice_t value = {vs, (size_t)(ve - vs)};
        if (req->n_headers == HTTP_MAX_HEADERS)
            return fail(err, 431, "too many header fields");
        req->headers[req->n_headers++] = (http_header_t){name, value};
        rc = apply_header(req, name, value, &saw_te, &conn_close, &conn_keep, err);
        if (rc != HTTP_PARSE_DONE)
            return rc;
        p = eol + 2;
    }

    if (req->chunked && req->has_content_length)
        return fail(err, 400, "both Content-Length and Transfer-Encoding");
    if (saw_te && req->minor == 0)
        return fail(err, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (req->minor == 1 && !req->has_host)
        return fail(err, 400, "missing Host");
    req->keep_alive = req->minor == 1 ? !conn_close : (conn_keep && !conn_close);
    return HTTP_PARSE_DONE;
}

/* ---- chunked transfer coding (RFC 9112 section 7.1) ---- */

enum {
    CH_SIZE,       /* hex digits */
    CH_EXT,        /* chunk extension up to CR */
    CH_SIZE_LF,    /* LF after the size line */
    CH_DATA,       /* chunk data */
    CH_DATA_CR,    /* CR after data */
    CH_DATA_LF,    /* LF after data */
    CH_TRAILER,    /* start of a trailer line or the final empty line */
    CH_TRAILER_LN, /* inside a trailer line */
    CH_TRAILER_LF, /* LF ending a trailer line */
    CH_FINAL_LF,   /* LF of the final empty line */
    CH_DONE,
};

#define CHUNK_MAX_DIGITS  15 /* 2^60: far above any body limit, far below overflow */
#define CHUNK_MAX_EXT     1024
#define CHUNK_MAX_TRAILER 8192

void http_chunked_init(http_chunked_t *c, uint64_t max_body)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
    c->max_body = max_body;
}

http_parse_rc_t http_chunked_feed(http_chunked_t *c, const char *in, size_t len, size_t *used,
                                  buf_t *body, http_error_t *err)
{
    size_t i = 0;
    http_parse_rc_t rc = HTTP_PARSE_AGAIN;

    while (i < len && c->state != CH_DONE) {
        unsigned char ch = (unsigned char)in[i];
        switch (c->state) {
        case CH_SIZE: {
            int h = (ch >= '0' && ch <= '9')   ? ch - '0'
                    : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                    : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                               : -1;
            if (h >= 0) {
                if (++c->size_digits > CHUNK_MAX_DIGITS) {
                    rc = fail(err, 400, "chunk size too long");
                    goto cleanup;
                }
                c->chunk_left = c->chunk_left * 16 + (uint64_t)h;
                i++;
                break;
            }
            if (c->size_digits == 0) {
                rc = fail(err, 400, "malformed chunk size");
                goto cleanup;
            }
            if (ch == ';') {
                c->state = CH_EXT;
                c->line_len = 0;
                i++;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
                i++;
            } else {
                rc = fail(err, 400, "malformed chunk size");
                goto cleanup;
            }
            break;
        }
        case CH_EXT:
            /* Extensions are ignored, but must be printable and bounded. */
            if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else if (!is_field_char(ch) || ch >= 0x80 || ++c->line_len > CHUNK_MAX_EXT) {
                rc = fail(err, 400, "malformed chunk extension");
                goto cleanup;
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n') {
                rc = fail(err, 400, "malformed chunk size line");
                goto cleanup;
            }
            i++;
            if (c->chunk_left == 0) {
                c->state = CH_TRAILER;
            } else {
                if (body->len + c->chunk_left > c->max_body) {
                    rc = fail(err, 413, "request body too large");
                    goto cleanup;
                }
                c->state = CH_DATA;
            }
            break;
        case CH_DATA: {
            size_t take = len - i;
            if ((uint64_t)take > c->chunk_left)
                take = (size_t)c->chunk_left;
            buf_append(body, in + i, take);
            i += take;
            c->chunk_left -= take;
            if (c->chunk_left == 0) {
                c->state = CH_DATA_CR;
                c->size_digits = 0;
            }
            break;
        }
        case CH_DATA_CR:
            if (ch != '\r') {
                rc = fail(err, 400, "chunk data not followed by CRLF");
                goto cleanup;
            }
            c->state = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (ch != '\n') {
                rc = fail(err, 400, "chunk data not followed by CRLF");
                goto cleanup;
            }
            c->state = CH_SIZE;
            i++;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_FINAL_LF;
                i++;
                break;
            }
            if (!is_tchar(ch)) {
                rc = fail(err, 400, "malformed trailer field");
                goto cleanup;
            }
            c->state = CH_TRAILER_LN;
            c->line_len = 0;
            c->in_name = true;
            break;
        case CH_TRAILER_LN:
            /* name ":" value, with the header fields' rules: a token name,
             * no whitespace before the colon, no control characters. */
            if (c->in_name) {
                if (ch == ':') {
                    c->in_name = false;
                } else if (!is_tchar(ch)) {
                    rc = fail(err, 400, "malformed trailer field");
                    goto cleanup;
                }
            } else if (ch == '\r') {
                c->state = CH_TRAILER_LF;
            } else if (!is_field_char(ch)) {
                rc = fail(err, 400, "control character in a trailer field");
                goto cleanup;
            }
            if (++c->trailer_bytes > CHUNK_MAX_TRAILER) {
                rc = fail(err, 431, "trailer section too large");
                goto cleanup;
            }
            i++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n') {
                rc = fail(err, 400, "malformed trailer field");
                goto cleanup;
            }
            c->state = CH_TRAILER;
            i++;
            break;
        case CH_FINAL_LF:
            if (ch != '\n') {
                rc = fail(err, 400, "malformed end of chunked body");
                goto cleanup;
            }
            c->state = CH_DONE;
            i++;
            break;
        default:
            break;
        }
    }
    if (c->state == CH_DONE)
        rc = HTTP_PARSE_DONE;
cleanup:
    *used = i;
    return rc;
}

int http_query_param(slice_t query, const char *name, slice_t *value)
{
    size_t nl = strlen(name);
    const char *p = query.ptr, *end = query.ptr + query.len;
    int count = 0;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(seg_end - p));
        const char *key_end = eq ? eq : seg_end;
        if ((size_t)(key_end - p) == nl && memcmp(p, name, nl) == 0) {
            if (count++ == 0) {
                const char *vs = eq ? eq + 1 : seg_end;
                *value = (slice_t){vs, (size_t)(seg_end - vs)};
            }
        }
        p = amp ? amp + 1 : end;
    }
    return count;
}
