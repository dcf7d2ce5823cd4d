/*
 * Strict HTTP/1.1 request parsing (RFC 9110/9112). Request smuggling lives
 * in the gaps between a proxy's parser and ours, so anything ambiguous is an
 * error and the connection is closed after answering it:
 * CL+TE, conflicting/malformed/duplicate Content-Length, transfer codings
 * other than a single "chunked", malformed chunk sizes, NUL/CR/LF or other
 * control characters in field values, whitespace before the colon, obsolete
 * line folding, bare CR or LF line endings, a missing or duplicated Host on
 * HTTP/1.1, request lines over 8 KiB (414) and header sections over the
 * configured maximum (431).
 */
#ifndef IA_HTTP_PARSE_H
#define IA_HTTP_PARSE_H

#include "buf.h"
#include "common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_REQUEST_LINE 8192
#define HTTP_MAX_HEADERS      100

typedef enum {
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_PATCH,
    HTTP_DELETE,
    HTTP_OPTIONS,
    HTTP_OTHER,
    HTTP_METHOD_COUNT
} http_method_t;

typedef struct {
    slice_t name;
    slice_t value;
} http_header_t;

typedef struct {
    http_method_t method;
    slice_t method_str;
    slice_t target; /* as sent */
    slice_t path;   /* path part of the target */
    slice_t query;  /* after '?', without it; empty if none */
    int minor;      /* HTTP/1.<minor>: 0 or 1 */

    /* Headers the server acts on, found while parsing. */
    slice_t host;
    slice_t content_type;
    slice_t authorization;
    slice_t x_api_key;
    slice_t request_id;
    slice_t if_match;
    slice_t if_none_match;
    slice_t idempotency_key;
    bool has_host, has_content_type, has_authorization, has_x_api_key, has_request_id;
    bool has_if_match, has_if_none_match, has_idempotency_key;
    bool has_content_length;
    uint64_t content_length;
    bool chunked;
    bool keep_alive; /* after Connection and version rules */
    bool expect_continue;

    size_t head_len; /* bytes from the request line through the empty line */

    size_t n_headers;
    http_header_t headers[HTTP_MAX_HEADERS]; /* last: http_parse_head clears what precedes */
} http_request_t;

typedef struct {
    int status;      /* 400, 414, 417, 431, 501 or 505 */
    char detail[96]; /* for the problem body; never echoes request bytes */
} http_error_t;

typedef enum {
    HTTP_PARSE_DONE = 0,
    HTTP_PARSE_AGAIN = 1, /* need more bytes */
    HTTP_PARSE_FAIL = -1, /* err filled; answer it and close */
} http_parse_rc_t;

/*
 * Incremental scan for the end of the request head. Call with the whole
 * buffered input each time more arrives; the scanner keeps its resume
 * position so total work stays linear however the bytes trickle in. A few
 * empty lines (CRLF) before a request line are skipped (sc->skip says how
 * many bytes). On DONE, sc->head_end is the offset just past the empty line.
 */
typedef struct {
    size_t scanned;
    size_t skip;
    size_t first_eol; /* offset of the request line's LF, 0 until seen */
    size_t head_end;
} http_scan_t;

void http_scan_init(http_scan_t *sc);
http_parse_rc_t http_scan_head(http_scan_t *sc, const char *buf, size_t len,
                               size_t max_header_bytes, http_error_t *err);

/* Parses a complete head (as delimited by http_scan_head). Slices point
 * into buf. */
http_parse_rc_t http_parse_head(const char *buf, size_t len, http_request_t *req,
                                http_error_t *err);

/* Incremental chunked-body decoder. */
typedef struct {
    int state;
    uint64_t chunk_left;
    size_t size_digits;
    size_t line_len; /* current chunk-size line or trailer line */
    size_t trailer_bytes;
    bool in_name; /* inside a trailer field's name */
    uint64_t max_body;
} http_chunked_t;

void http_chunked_init(http_chunked_t *c, uint64_t max_body);
/* Consumes raw bytes from in[0..len), appends decoded data to body. Sets
 * *used to the bytes consumed. DONE when the last chunk and trailers are in.
 * On error err->status is 400 (malformed), 413 (body over max_body) or 431
 * (trailer section too large). */
http_parse_rc_t http_chunked_feed(http_chunked_t *c, const char *in, size_t len, size_t *used,
                                  buf_t *body, http_error_t *err);

const char *http_method_name(http_method_t m);

/* Finds a query parameter (raw, not percent-decoded). Returns the number of
 * occurrences; *value is the first one. */
int http_query_param(slice_t query, const char *name, slice_t *value);

#endif
