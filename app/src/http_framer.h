/*
 * Request framing: where each request on a connection's byte stream begins
 * and ends. Bytes in (the connection's input buffer), events out: a parsed
 * head, a complete body, or a framing error. No I/O and no policy: the
 * connection (http_conn.c) reads the socket and decides what to do with a
 * head before its body is read; the HTTP fuzzer (tests/fuzz/fuzz_http.c)
 * drives this same code with its own byte streams.
 *
 * Buffers: the parsed request's slices point into `in`, so `in` is never
 * reallocated between the end of the head and the end of the request
 * (http_framer_body_begin reserves the body's room up front). Chunked bodies
 * are decoded into a separate buffer and their raw bytes dropped from `in`
 * as they are decoded, so `in` holds at most the head and one read's worth.
 */
#ifndef IA_HTTP_FRAMER_H
#define IA_HTTP_FRAMER_H

#include "http_parse.h"

typedef enum {
    FRAME_AGAIN, /* need more bytes */
    FRAME_HEAD,  /* a head is complete and parsed into req */
    FRAME_BODY,  /* the body is complete */
    FRAME_ERROR, /* err is filled: answer it and close */
} http_frame_t;

typedef struct {
    http_scan_t scan;
    http_chunked_t chunked;
    size_t body_start;  /* offset of the body in `in` */
    size_t request_end; /* offset just past the current request in `in` */
} http_framer_t;

void http_framer_init(http_framer_t *f);

/* Looks for a complete head in `in`: FRAME_HEAD (req parsed, its slices
 * in `in`), FRAME_AGAIN or FRAME_ERROR. Call again as bytes arrive; the
 * scan resumes where it stopped. */
http_frame_t http_framer_head(http_framer_t *f, const buf_t *in, size_t max_header_bytes,
                              http_request_t *req, http_error_t *err);

/* Whether some bytes of a next request have arrived (its header clock runs). */
bool http_framer_started(const http_framer_t *f, const buf_t *in);

/* Whether the parsed head announces a body. */
bool http_framer_has_body(const http_request_t *req);

/* Prepares to read req's announced body: reserves its room in `in` (slack
 * bytes more for reading), parsing the head again at its new address if the
 * reservation moved it; starts the chunked decoder (bounded by max_body). */
void http_framer_body_begin(http_framer_t *f, buf_t *in, http_request_t *req, buf_t *decoded,
                            uint64_t max_body, size_t slack);

/* Frames the body: FRAME_BODY with *body set (in `in` for Content-Length,
 * in `decoded` for chunked), FRAME_AGAIN, or FRAME_ERROR. */
http_frame_t http_framer_body(http_framer_t *f, buf_t *in, const http_request_t *req,
                              buf_t *decoded, slice_t *body, http_error_t *err);

/* Drops the finished request from `in`; the next one may already be there. */
void http_framer_next(http_framer_t *f, buf_t *in);

#endif
