/*
 * The exchange: one request and its response. A connection handles one at a
 * time (pipelined requests wait in its input buffer); the exchange is taken
 * from the worker's cache when a request's first byte arrives and given back
 * once the connection is idle, so an idle keep-alive connection costs only
 * its conn_t.
 *
 * The exchange knows nothing of the connection above it: the response is
 * appended to `out` (the connection's output buffer) and the connection
 * learns that the request is answered through the `done` hook. Handler
 * state is not here: a handler allocates its own from `arena`.
 */
#ifndef IA_EXCHANGE_H
#define IA_EXCHANGE_H

#include "arena.h"
#include "buf.h"
#include "http_parse.h"

typedef struct exchange exchange_t;
typedef struct worker worker_t; /* worker.h */
typedef struct route route_t;   /* router.h */

/* Called once the response is queued in `out`. */
typedef void exchange_done_fn(exchange_t *ex);

struct exchange {
    worker_t *worker;
    http_request_t req;
    slice_t body;
    const route_t *route;
    slice_t route_param; /* the {id} (or {*}) part of the path */
    int key_index;       /* the API key that authenticated the request, or < 0 */
    char request_id[129];
    size_t request_id_len;
    int64_t start_ns;
    int status;
    size_t resp_bytes;
    buf_t resp_headers; /* extra header lines for the response being built */
    arena_t arena;      /* reset when the response is queued */
    bool responded;
    bool close_after; /* the connection closes after this response */

    buf_t *out;             /* the connection's output buffer (not owned) */
    exchange_done_fn *done; /* the connection's completion hook */
    void *owner;            /* the connection, for the hook */
};

/* An exchange from the worker's cache, or a new one. */
exchange_t *exchange_get(worker_t *w);
/* Gives the exchange back to the worker's cache (which keeps its arena's
 * first block and its header buffer), or frees it when the cache is full. */
void exchange_put(worker_t *w, exchange_t *ex);
/* Frees the exchanges a stopped worker still caches. */
void exchange_cache_drain(worker_t *w);

/* Starts a request: clears what the previous one left and sets the request
 * id (the client's X-Request-Id when valid, else a fresh one). With parsed
 * false the head did not parse: ex->req is an empty GET-like request. */
void exchange_begin(exchange_t *ex, worker_t *w, bool parsed);

#endif
