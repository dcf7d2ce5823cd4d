/*
 * Responses: status line, the headers every response carries (Date,
 * Content-Length, X-Request-Id, Connection when needed), the handler's extra
 * headers and the body, appended to the exchange's output buffer in one go;
 * then the exchange's completion hook runs. RFC 9457 problem bodies.
 */
#ifndef IA_HTTP_RESPONSE_H
#define IA_HTTP_RESPONSE_H

#include "exchange.h"
#include "item.h"

/* "Not Found" for 404; "Unknown" for a status this service never sends. */
const char *http_status_reason(int status);
/* Adds a header line to the response being built. */
void http_add_header(exchange_t *ex, const char *name, const char *value, size_t len);
/* Queues the one response to the request and runs ex->done. */
void http_respond(exchange_t *ex, int status, const char *content_type, const char *body,
                  size_t len);
/* RFC 9457 problem: type is a slug ("validation-error") or NULL for about:blank. */
void http_problem(exchange_t *ex, int status, const char *type, const char *detail);
void http_problem_fields(exchange_t *ex, const item_errors_t *errs);
void http_problem_unavailable(exchange_t *ex, const char *detail);

#endif
