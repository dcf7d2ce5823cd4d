#include "exchange.h"

#include "timeutil.h"
#include "worker.h"

#include <stdlib.h>
#include <string.h>

#define RESP_HEADERS_CACHE_MAX (8 * 1024) /* larger header buffers are freed */

exchange_t *exchange_get(worker_t *w)
{
    exchange_t *ex;

    if (w->n_ex_cache > 0)
        return w->ex_cache[--w->n_ex_cache];
    ex = ia_calloc(1, sizeof(*ex));
    arena_init(&ex->arena, 4096);
    return ex;
}

static void exchange_destroy(exchange_t *ex)
{
    buf_release(&ex->resp_headers);
    arena_free(&ex->arena);
    free(ex);
}

void exchange_put(worker_t *w, exchange_t *ex)
{
    if (w->n_ex_cache < CONN_CACHE_MAX && ex->resp_headers.cap <= RESP_HEADERS_CACHE_MAX) {
        arena_reset(&ex->arena);
        w->ex_cache[w->n_ex_cache++] = ex;
        return;
    }
    exchange_destroy(ex);
}

void exchange_cache_drain(worker_t *w)
{
    while (w->n_ex_cache > 0)
        exchange_destroy(w->ex_cache[--w->n_ex_cache]);
}

static bool request_id_valid(slice_t v)
{
    if (v.len < 1 || v.len > 128)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static uint64_t rng_next(worker_t *w)
{
    /* xorshift64*: request ids need uniqueness, not secrecy. */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void exchange_begin(exchange_t *ex, worker_t *w, bool parsed)
{
    static const char hex[] = "0123456789abcdef";

    ex->worker = w;
    ex->start_ns = time_mono_ns();
    ex->status = 0;
    ex->resp_bytes = 0;
    ex->responded = false;
    ex->close_after = false;
    ex->key_index = -1;
    ex->body = (slice_t){"", 0};
    buf_clear(&ex->resp_headers);
    if (!parsed) {
        memset(&ex->req, 0, offsetof(http_request_t, headers));
        ex->req.method = HTTP_OTHER;
        ex->req.minor = 1;
    }
    if (parsed && ex->req.has_request_id && request_id_valid(ex->req.request_id)) {
        memcpy(ex->request_id, ex->req.request_id.ptr, ex->req.request_id.len);
        ex->request_id_len = ex->req.request_id.len;
    } else {
        uint64_t a = rng_next(w), b = ++w->req_seq ^ rng_next(w);
        for (int i = 0; i < 16; i++) {
            ex->request_id[i] = hex[(a >> (60 - 4 * i)) & 15];
            ex->request_id[16 + i] = hex[(b >> (60 - 4 * i)) & 15];
        }
        ex->request_id_len = 32;
    }
    ex->request_id[ex->request_id_len] = '\0';
}
