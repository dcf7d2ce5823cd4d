#include "http_response.h"

#include "timeutil.h"
#include "worker.h"

#include <string.h>

void http_add_header(exchange_t *ex, const char *name, const char *value, size_t len)
{
    buf_t *h = &ex->resp_headers;

    buf_puts(h, name);
    buf_append(h, ": ", 2);
    buf_append(h, value, len);
    buf_append(h, "\r\n", 2);
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static bool status_has_body(int status)
{
    return status != 204 && status != 304 && status >= 200;
}

void http_respond(exchange_t *ex, int status, const char *content_type, const char *body,
                  size_t len)
{
    buf_t *o = ex->out;
    const http_request_t *req = &ex->req;

    if (ex->responded)
        ia_fatal("second response to one request");
    ex->responded = true;
    if (ex->worker->stopping || !req->keep_alive)
        ex->close_after = true;
    buf_reserve(o, 256 + ex->resp_headers.len + len);
    buf_append(o, "HTTP/1.1 ", 9);
    buf_put_i64(o, status);
    buf_putc(o, ' ');
    buf_puts(o, http_status_reason(status));
    buf_append(o, "\r\nDate: ", 8);
    buf_append(o, time_http_date(), TIME_HTTP_DATE_LEN);
    if (status_has_body(status)) {
        if (content_type != NULL) {
            buf_append(o, "\r\nContent-Type: ", 16);
            buf_puts(o, content_type);
        }
        buf_append(o, "\r\nContent-Length: ", 18);
        buf_put_u64(o, len);
    }
    buf_append(o, "\r\nX-Request-Id: ", 16);
    buf_append(o, ex->request_id, ex->request_id_len);
    buf_append(o, "\r\n", 2);
    if (ex->resp_headers.len)
        buf_append(o, ex->resp_headers.data, ex->resp_headers.len);
    if (ex->close_after)
        buf_append(o, "Connection: close\r\n", 19);
    else if (req->minor == 0)
        buf_append(o, "Connection: keep-alive\r\n", 24);
    buf_append(o, "\r\n", 2);
    if (status_has_body(status) && req->method != HTTP_HEAD)
        buf_append(o, body, len);
    ex->status = status;
    ex->resp_bytes = len;
    ex->done(ex);
}

static const char *problem_type(int status, const char *type, buf_t *tmp)
{
    IA_UNUSED(status);
    if (type == NULL)
        return "about:blank";
    buf_clear(tmp);
    buf_puts(tmp, "urn:items-api:problem:");
    buf_puts(tmp, type);
    buf_putc(tmp, '\0');
    return tmp->data;
}

static void problem_begin(buf_t *b, exchange_t *ex, int status, const char *type,
                          const char *detail)
{
    buf_t tmp = {0};
    const char *t = problem_type(status, type, &tmp);

    buf_clear(b);
    buf_append(b, "{\"type\":", 8);
    buf_put_json_str(b, t, strlen(t));
    buf_append(b, ",\"title\":", 9);
    const char *title = http_status_reason(status);
    buf_put_json_str(b, title, strlen(title));
    buf_append(b, ",\"status\":", 10);
    buf_put_i64(b, status);
    buf_append(b, ",\"detail\":", 10);
    buf_put_json_str(b, detail, strlen(detail));
    buf_append(b, ",\"request_id\":", 14);
    buf_put_json_str(b, ex->request_id, ex->request_id_len);
    buf_release(&tmp);
}

void http_problem(exchange_t *ex, int status, const char *type, const char *detail)
{
    buf_t *b = &ex->worker->scratch;

    problem_begin(b, ex, status, type, detail);
    buf_putc(b, '}');
    http_add_header(ex, "Cache-Control", "no-store", 8);
    http_respond(ex, status, "application/problem+json", b->data, b->len);
}

void http_problem_fields(exchange_t *ex, const item_errors_t *errs)
{
    buf_t *b = &ex->worker->scratch;

    problem_begin(b, ex, 422, "validation-error", "the request body breaks the item rules");
    buf_append(b, ",\"errors\":[", 11);
    for (size_t i = 0; i < errs->n; i++) {
        if (i)
            buf_putc(b, ',');
        buf_append(b, "{\"field\":", 9);
        buf_put_json_str(b, errs->errors[i].field, errs->errors[i].field_len);
        buf_append(b, ",\"message\":", 11);
        buf_put_json_str(b, errs->errors[i].message, strlen(errs->errors[i].message));
        buf_putc(b, '}');
    }
    buf_append(b, "]}", 2);
    http_respond(ex, 422, "application/problem+json", b->data, b->len);
}

void http_problem_unavailable(exchange_t *ex, const char *detail)
{
    http_add_header(ex, "Retry-After", "1", 1);
    http_problem(ex, 503, "unavailable", detail);
}
