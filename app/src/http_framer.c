#include "http_framer.h"

#include <string.h>

void http_framer_init(http_framer_t *f)
{
    memset(f, 0, sizeof(*f));
    http_scan_init(&f->scan);
}

http_frame_t http_framer_head(http_framer_t *f, const buf_t *in, size_t max_header_bytes,
                              http_request_t *req, http_error_t *err)
{
    http_parse_rc_t rc = http_scan_head(&f->scan, in->data, in->len, max_header_bytes, err);

    if (rc == HTTP_PARSE_AGAIN)
        return FRAME_AGAIN;
    if (rc == HTTP_PARSE_FAIL)
        return FRAME_ERROR;
    rc = http_parse_head(in->data + f->scan.skip, f->scan.head_end - f->scan.skip, req, err);
    if (rc != HTTP_PARSE_DONE)
        return FRAME_ERROR;
    f->body_start = f->request_end = f->scan.head_end;
    return FRAME_HEAD;
}

bool http_framer_started(const http_framer_t *f, const buf_t *in)
{
    return in->len > f->scan.skip;
}

bool http_framer_has_body(const http_request_t *req)
{
    return req->chunked || (req->has_content_length && req->content_length > 0);
}

void http_framer_body_begin(http_framer_t *f, buf_t *in, http_request_t *req, buf_t *decoded,
                            uint64_t max_body, size_t slack)
{
    const char *before = in->data;
    http_error_t err;

    if (req->chunked) {
        buf_reserve(in, slack);
        http_chunked_init(&f->chunked, max_body);
        buf_clear(decoded);
    } else {
        buf_reserve(in, f->body_start + req->content_length + slack - in->len);
    }
    /* The request's slices pointed into the old buffer: parse the head again
     * where it now is (the result is identical). */
    if (in->data != before &&
        http_parse_head(in->data + f->scan.skip, f->scan.head_end - f->scan.skip, req, &err) !=
            HTTP_PARSE_DONE)
        ia_fatal("a parsed head no longer parses");
}

http_frame_t http_framer_body(http_framer_t *f, buf_t *in, const http_request_t *req,
                              buf_t *decoded, slice_t *body, http_error_t *err)
{
    size_t used = 0;
    http_parse_rc_t rc;

    if (!req->chunked) {
        if (in->len - f->body_start < req->content_length)
            return FRAME_AGAIN;
        *body = (slice_t){in->data + f->body_start, req->content_length};
        f->request_end = f->body_start + req->content_length;
        return FRAME_BODY;
    }
    rc = http_chunked_feed(&f->chunked, in->data + f->body_start, in->len - f->body_start, &used,
                           decoded, err);
    /* Drop the raw bytes just decoded; the head before them stays put. */
    memmove(in->data + f->body_start, in->data + f->body_start + used,
            in->len - f->body_start - used);
    in->len -= used;
    if (rc == HTTP_PARSE_FAIL)
        return FRAME_ERROR;
    if (rc == HTTP_PARSE_AGAIN)
        return FRAME_AGAIN;
    *body = (slice_t){decoded->data ? decoded->data : "", decoded->len};
    f->request_end = f->body_start;
    return FRAME_BODY;
}

void http_framer_next(http_framer_t *f, buf_t *in)
{
    buf_consume(in, f->request_end);
    http_framer_init(f);
}
