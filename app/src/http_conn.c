/*
 * The connection state machine: read, scan and parse a request head, check
 * what can be checked before the body (key, method, media type, size), read
 * the body, dispatch, queue the response, repeat. Requests on a connection
 * are handled one at a time, so pipelined responses leave in order.
 *
 * Buffers: `in` holds the raw request; the parsed request's slices point
 * into it, so `in` is never reallocated between the end of the head and the
 * response (capacity for the body is reserved up front; chunked bodies are
 * decoded into `body` and their raw bytes dropped as they are decoded).
 */
#include "conn_internal.h"

#include "auth.h"
#include "log.h"
#include "timeutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK       16384
#define OUT_CACHE_MAX    (8 * 1024) /* larger response buffers are freed */
#define OUT_HIGH_WATER   (256 * 1024)
#define LINGER_MS        2000
#define LINGER_MAX_BYTES (1024 * 1024)

enum { NEED_MORE, PROGRESS };

static void conn_run(conn_t *c);

/* ---- timer lists ---- */

void timers_init(worker_t *w)
{
    const config_t *cfg = w->srv->cfg;

    for (int i = 0; i < TL_COUNT; i++)
        w->timers[i].prev = w->timers[i].next = &w->timers[i];
    w->timer_ms[TL_HEADER] = cfg->header_timeout_s * 1000;
    w->timer_ms[TL_BODY] = cfg->body_timeout_s * 1000;
    w->timer_ms[TL_IDLE] = cfg->keepalive_timeout_s * 1000;
    w->timer_ms[TL_WRITE] = cfg->body_timeout_s * 1000;
    w->timer_ms[TL_LINGER] = LINGER_MS;
}

static void tl_unlink(conn_t *c)
{
    if (c->tlist == TL_NONE)
        return;
    c->tnode.prev->next = c->tnode.next;
    c->tnode.next->prev = c->tnode.prev;
    c->tnode.prev = c->tnode.next = NULL;
    c->tlist = TL_NONE;
}

/* Joining a list starts its clock; staying in the same list does not reset
 * it (more header bytes must not extend the header deadline). */
static void tl_set(conn_t *c, tlist_id_t id)
{
    if (c->tlist == id)
        return;
    tl_unlink(c);
    if (id == TL_NONE)
        return;
    tnode_t *head = &c->w->timers[id];
    c->tnode.prev = head->prev;
    c->tnode.next = head;
    head->prev->next = &c->tnode;
    head->prev = &c->tnode;
    c->tlist = id;
    c->deadline_ms = time_mono_ms() + c->w->timer_ms[id];
}

static conn_t *conn_of(tnode_t *n)
{
    return (conn_t *)((char *)n - offsetof(conn_t, tnode));
}

int conn_next_deadline(worker_t *w, int64_t now_ms)
{
    int64_t next = -1;

    for (int i = 0; i < TL_COUNT; i++) {
        tnode_t *head = &w->timers[i];
        if (head->next == head)
            continue;
        int64_t d = conn_of(head->next)->deadline_ms - now_ms;
        if (next < 0 || d < next)
            next = d < 0 ? 0 : d;
    }
    return next > INT32_MAX ? INT32_MAX : (int)next;
}

/* ---- lifecycle ---- */

static void conn_on_event(loop_handler_t *h, uint32_t events);

void conn_accept(worker_t *w, int fd)
{
    conn_t *c = ia_calloc(1, sizeof(*c));
    int one = 1;

    c->h.fn = conn_on_event;
    c->fd = fd;
    c->w = w;
    c->state = CONN_READ_HEAD;
    c->tlist = TL_NONE;
    c->readable = true; /* try at once: the request often came with the handshake */
    c->writable = true;
    http_scan_init(&c->scan);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (loop_add(w->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->h) != IA_OK) {
        /* on_listen counted it open; conn_close never runs for it */
        close(fd);
        free(c);
        atomic_fetch_sub_explicit(&w->srv->conns_open, 1, memory_order_relaxed);
        return;
    }
    w->n_conns++;
    c->all_next = w->all;
    if (w->all != NULL)
        w->all->all_prev = c;
    w->all = c;
    tl_set(c, TL_HEADER);
    conn_run(c);
}

/* ---- per-worker caches of what idle connections gave back ---- */

static void cache_put_buf(buf_t *cache, size_t *n, buf_t *b, size_t max_cap)
{
    if (b->data != NULL && b->cap <= max_cap && *n < CONN_CACHE_MAX) {
        cache[(*n)++] = *b;
        *b = (buf_t){0};
        return;
    }
    buf_release(b);
}

static void cache_get_buf(buf_t *cache, size_t *n, buf_t *b)
{
    if (b->data == NULL && *n > 0) {
        *b = cache[--*n];
        b->len = 0;
    }
}

/* The exchange for the request now beginning; taken on first use. */
static exchange_t *conn_exchange(conn_t *c)
{
    worker_t *w = c->w;

    if (c->ex != NULL)
        return c->ex;
    if (w->n_ex_cache > 0) {
        c->ex = w->ex_cache[--w->n_ex_cache];
    } else {
        c->ex = ia_calloc(1, sizeof(*c->ex));
        arena_init(&c->ex->arena, 4096);
    }
    return c->ex;
}

static void exchange_destroy(exchange_t *ex)
{
    buf_release(&ex->resp_headers);
    arena_free(&ex->arena);
    free(ex);
}

/* Gives the connection's exchange back to the worker (the cache keeps its
 * arena's first block and its header buffer). */
static void exchange_free(conn_t *c)
{
    worker_t *w = c->w;
    exchange_t *ex = c->ex;

    if (ex == NULL)
        return;
    c->ex = NULL;
    if (w->n_ex_cache < CONN_CACHE_MAX && ex->resp_headers.cap <= OUT_CACHE_MAX) {
        arena_reset(&ex->arena);
        w->ex_cache[w->n_ex_cache++] = ex;
        return;
    }
    exchange_destroy(ex);
}

static void conn_free(conn_t *c)
{
    worker_t *w = c->w;

    if (c->all_prev != NULL)
        c->all_prev->all_next = c->all_next;
    else if (w->all == c)
        w->all = c->all_next;
    if (c->all_next != NULL)
        c->all_next->all_prev = c->all_prev;
    buf_release(&c->in);
    buf_release(&c->out);
    buf_release(&c->body);
    exchange_free(c);
    free(c);
}

/* Closes the socket now; the memory goes when nothing can reach it (after
 * this loop iteration, or when an in-flight database call returns). */
static void conn_close(conn_t *c)
{
    worker_t *w = c->w;

    if (c->dead)
        return;
    c->dead = true;
    tl_unlink(c);
    loop_del(w->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    w->n_conns--;
    atomic_fetch_sub_explicit(&w->srv->conns_open, 1, memory_order_relaxed);
    if (c->state != CONN_WAIT_APP) {
        c->next_dead = w->graveyard;
        w->graveyard = c;
    }
}

/* Returns the buffers and exchange of a connection that is idle or only
 * lingering. Runs after the poll, when no handler or database callback can
 * still refer to them; the connection may have taken a new request since it
 * was queued. */
static void conn_trim(conn_t *c)
{
    bool idle = c->state == CONN_READ_HEAD && c->in.len == 0 && c->out_off == c->out.len;

    c->trim_queued = false;
    if (c->dead || !(idle || c->state == CONN_LINGER))
        return;
    cache_put_buf(c->w->in_cache, &c->w->n_in_cache, &c->in, READ_CHUNK);
    cache_put_buf(c->w->out_cache, &c->w->n_out_cache, &c->out, OUT_CACHE_MAX);
    c->out_off = 0;
    buf_release(&c->body);
    exchange_free(c);
}

static void conn_queue_trim(conn_t *c)
{
    if (c->trim_queued)
        return;
    c->trim_queued = true;
    c->next_trim = c->w->idle_trim;
    c->w->idle_trim = c;
}

void conn_reap(worker_t *w)
{
    conn_t *c = w->idle_trim;

    /* Before the graveyard: a queued connection may be in it. */
    w->idle_trim = NULL;
    while (c != NULL) {
        conn_t *next = c->next_trim;
        conn_trim(c);
        c = next;
    }
    c = w->graveyard;
    w->graveyard = NULL;
    while (c != NULL) {
        conn_t *next = c->next_dead;
        conn_free(c);
        c = next;
    }
}

static void conn_start_linger(conn_t *c)
{
    if (c->peer_eof) {
        conn_close(c);
        return;
    }
    /* Half-close and drain what the client still sends, so the kernel does
     * not answer unread data with a RST that destroys our response. */
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    c->in.len = 0;
    tl_set(c, TL_LINGER);
    conn_queue_trim(c);
}

static void linger_read(conn_t *c)
{
    char sink[4096];

    for (size_t total = 0; total < LINGER_MAX_BYTES;) {
        ssize_t n = read(c->fd, sink, sizeof(sink));
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        break; /* EOF or error */
    }
    conn_close(c);
}

/* ---- I/O ---- */

static void conn_flush(conn_t *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            c->writable = false;
            return;
        }
        conn_close(c); /* EPIPE, ECONNRESET: the client is gone */
        return;
    }
    c->out.len = c->out_off = 0;
    if (c->out.cap > 64 * 1024)
        buf_release(&c->out);
}

/* Returns bytes read (> 0), 0 when nothing was read. */
static ssize_t conn_read(conn_t *c)
{
    size_t room;

    if (c->state == CONN_READ_HEAD) {
        cache_get_buf(c->w->in_cache, &c->w->n_in_cache, &c->in);
        buf_reserve(&c->in, READ_CHUNK - 1); /* a capacity of exactly READ_CHUNK */
    }
    room = c->in.cap > c->in.len + 1 ? c->in.cap - c->in.len - 1 : 0;
    if (room == 0)
        return 0;
    for (;;) {
        ssize_t n = read(c->fd, c->in.data + c->in.len, room);
        if (n > 0) {
            c->in.len += (size_t)n;
            /* A short read means the socket is drained (edge-triggered),
             * unless the peer's FIN came with the data: its edge is already
             * spent, so read again to see the EOF. */
            if ((size_t)n < room && !c->peer_rdhup)
                c->readable = false;
            return n;
        }
        if (n == 0) {
            c->peer_eof = true;
            c->readable = false;
            return 0;
        }
        if (errno == EINTR)
            continue;
        c->readable = false;
        if (errno != EAGAIN)
            conn_close(c);
        return 0;
    }
}

static void conn_on_event(loop_handler_t *h, uint32_t events)
{
    conn_t *c = (conn_t *)h;

    if (c->dead)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP))
        c->peer_rdhup = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        c->writable = true;
    conn_run(c);
}

/* ---- requests ---- */

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

static void exchange_begin(conn_t *c, bool parsed)
{
    exchange_t *ex = conn_exchange(c);
    static const char hex[] = "0123456789abcdef";

    cache_get_buf(c->w->out_cache, &c->w->n_out_cache, &c->out);

    ex->conn = c;
    ex->worker = c->w;
    ex->start_ns = time_mono_ns();
    ex->status = 0;
    ex->resp_bytes = 0;
    ex->responded = false;
    ex->key_index = -1;
    ex->body = (slice_t){"", 0};
    ex->attempts = 0;
    ex->n_if_match = 0;
    ex->if_match_star = false;
    ex->idem_key = NULL;
    ex->patch = NULL;
    buf_clear(&ex->resp_headers);
    if (!parsed) {
        memset(&ex->req, 0, offsetof(http_request_t, headers));
        ex->req.method = HTTP_OTHER;
        ex->req.minor = 1;
        router_match((slice_t){"", 0}, &ex->route);
    }
    if (parsed && ex->req.has_request_id && request_id_valid(ex->req.request_id)) {
        memcpy(ex->request_id, ex->req.request_id.ptr, ex->req.request_id.len);
        ex->request_id_len = ex->req.request_id.len;
    } else {
        uint64_t a = rng_next(c->w), b = ++c->w->req_seq ^ rng_next(c->w);
        for (int i = 0; i < 16; i++) {
            ex->request_id[i] = hex[(a >> (60 - 4 * i)) & 15];
            ex->request_id[16 + i] = hex[(b >> (60 - 4 * i)) & 15];
        }
        ex->request_id_len = 32;
    }
    ex->request_id[ex->request_id_len] = '\0';
}

/* Answers a protocol error and closes: after a framing error nothing that
 * follows on the connection can be trusted. */
static void conn_fail(conn_t *c, int status, const char *detail)
{
    if (c->state != CONN_READ_BODY)
        exchange_begin(c, false);
    c->close_after = true;
    http_problem(c->ex, status, NULL, detail);
}

static void dispatch(conn_t *c)
{
    exchange_t *ex = c->ex;

    c->state = CONN_WAIT_APP;
    tl_set(c, TL_NONE);
    c->in_dispatch = true;
    switch (ex->route.id) {
    case ROUTE_HEALTHZ:
        handle_healthz(ex);
        break;
    case ROUTE_READYZ:
        handle_readyz(ex);
        break;
    case ROUTE_METRICS:
        handle_metrics(ex);
        break;
    case ROUTE_ITEMS:
        handle_items_collection(ex);
        break;
    case ROUTE_ITEM:
        handle_item(ex);
        break;
#ifdef IA_TEST_HOOKS
    case ROUTE_TEST_HOOK:
        handle_test_hook(ex);
        break;
#endif
    default:
        http_problem(ex, 404, NULL, "no such resource");
        break;
    }
    c->in_dispatch = false;
}

static bool media_type_is(slice_t ct, const char *want)
{
    size_t n = strlen(want), i;

    if (ct.len < n || strncasecmp(ct.ptr, want, n) != 0)
        return false;
    /* Parameters may follow; only charset=utf-8 (any case, optional quotes). */
    for (i = n; i < ct.len && (ct.ptr[i] == ' ' || ct.ptr[i] == '\t'); i++)
        ;
    if (i == ct.len)
        return true;
    if (ct.ptr[i] != ';')
        return false;
    slice_t rest = {ct.ptr + i + 1, ct.len - i - 1};
    while (rest.len && (*rest.ptr == ' ' || *rest.ptr == '\t')) {
        rest.ptr++;
        rest.len--;
    }
    return slice_case_eq(rest, "charset=utf-8") || slice_case_eq(rest, "charset=\"utf-8\"");
}

/*
 * Everything decidable from the head, in the documented order: key (401),
 * rate limit (429), method (405), unknown path (404), media type (415),
 * declared size (413). Returns false after answering.
 */
static bool precheck(conn_t *c)
{
    exchange_t *ex = c->ex;
    const http_request_t *req = &ex->req;
    const config_t *cfg = c->w->srv->cfg;
    bool has_body = req->chunked || (req->has_content_length && req->content_length > 0);

    /* If we answer before reading a body, the connection cannot be reused. */
    c->close_after = has_body;
    if (ex->route.needs_key) {
        ex->key_index = auth_check(cfg, req);
        if (ex->key_index < 0) {
            http_add_header(ex, "WWW-Authenticate", "Bearer realm=\"items-api\"", 24);
            http_problem(ex, 401, NULL,
                         ex->key_index == AUTH_MISSING
                             ? "an API key is required (Authorization: Bearer <key> or X-API-Key)"
                             : "the API key is not valid");
            return false;
        }
        if (c->w->srv->ratelimit != NULL) {
            ratelimit_decision_t d;
            char v[64];
            int n;
            ratelimit_take(c->w->srv->ratelimit, ex->key_index, time_mono_ms(), &d);
            n = snprintf(v, sizeof(v), "%lld", (long long)d.limit);
            http_add_header(ex, "RateLimit-Limit", v, (size_t)n);
            n = snprintf(v, sizeof(v), "%lld", (long long)d.remaining);
            http_add_header(ex, "RateLimit-Remaining", v, (size_t)n);
            n = snprintf(v, sizeof(v), "%lld", (long long)d.reset_s);
            http_add_header(ex, "RateLimit-Reset", v, (size_t)n);
            if (!d.allowed) {
                n = snprintf(v, sizeof(v), "%lld", (long long)d.retry_after);
                http_add_header(ex, "Retry-After", v, (size_t)n);
                metrics_shard_t *m = c->w->metrics;
                atomic_store_explicit(&m->rate_limited,
                                      atomic_load_explicit(&m->rate_limited, memory_order_relaxed) +
                                          1,
                                      memory_order_relaxed);
                http_problem(ex, 429, NULL, "rate limit exceeded for this API key");
                return false;
            }
        }
    }
    if (ex->route.id == ROUTE_NOT_FOUND) {
        http_problem(ex, 404, NULL, "no such resource");
        return false;
    }
    if (!router_allows(&ex->route, req->method)) {
        http_add_header(ex, "Allow", ex->route.allow, strlen(ex->route.allow));
        http_problem(ex, 405, NULL, "method not allowed on this resource");
        return false;
    }
    /* Only POST /v1/items and PUT/PATCH /v1/items/{id} take a body. Any
     * other request that announces one is refused before a byte of it is
     * read, so nobody can make the service buffer content it never asked
     * for (see docs/decisions.md); the connection then closes, its rest
     * discarded by the linger. */
    bool wants_json = req->method == HTTP_POST || req->method == HTTP_PUT;
    bool takes_body = (wants_json || req->method == HTTP_PATCH) &&
                      (ex->route.id == ROUTE_ITEMS || ex->route.id == ROUTE_ITEM);
    if (!takes_body) {
        if (has_body) {
            http_problem(ex, 413, NULL, "this method and resource take no request body");
            return false;
        }
    } else {
        if (req->has_content_length && req->content_length > (uint64_t)cfg->max_body_bytes) {
            http_problem(ex, 413, NULL, "request body larger than MAX_BODY_BYTES");
            return false;
        }
        const char *want = wants_json ? "application/json" : "application/merge-patch+json";
        if (!req->has_content_type || !media_type_is(req->content_type, want)) {
            char detail[96];
            snprintf(detail, sizeof(detail), "Content-Type must be %s", want);
            http_problem(ex, 415, NULL, detail);
            return false;
        }
    }
    c->close_after = false;
    return true;
}

static int process_head(conn_t *c)
{
    http_error_t err;
    http_parse_rc_t rc;
    const config_t *cfg = c->w->srv->cfg;

    rc = http_scan_head(&c->scan, c->in.data, c->in.len, (size_t)cfg->max_header_bytes, &err);
    if (rc == HTTP_PARSE_AGAIN) {
        if (c->in.len > c->scan.skip)
            tl_set(c, TL_HEADER); /* a request has begun: its clock runs */
        return NEED_MORE;
    }
    if (rc == HTTP_PARSE_FAIL) {
        conn_fail(c, err.status, err.detail);
        return PROGRESS;
    }
    rc = http_parse_head(c->in.data + c->scan.skip, c->scan.head_end - c->scan.skip,
                         &conn_exchange(c)->req, &err);
    if (rc != HTTP_PARSE_DONE) {
        conn_fail(c, err.status, err.detail);
        return PROGRESS;
    }
    exchange_begin(c, true);
    router_match(c->ex->req.path, &c->ex->route);
    c->body_start = c->scan.head_end;
    c->request_end = c->scan.head_end;
    if (!precheck(c))
        return PROGRESS;
    const http_request_t *req = &c->ex->req;
    if (req->chunked || (req->has_content_length && req->content_length > 0)) {
        /* Reserve the body's room now, so `in` does not move again while
         * the request's slices live; if this reservation moved it, parse
         * the head again at its new address (the result is identical). */
        const char *before = c->in.data;
        if (req->chunked) {
            buf_reserve(&c->in, READ_CHUNK);
            http_chunked_init(&c->chunked, (uint64_t)cfg->max_body_bytes);
            buf_clear(&c->body);
        } else {
            buf_reserve(&c->in, c->body_start + req->content_length + READ_CHUNK - c->in.len);
        }
        if (c->in.data != before) {
            if (http_parse_head(c->in.data + c->scan.skip, c->scan.head_end - c->scan.skip,
                                &c->ex->req, &err) != HTTP_PARSE_DONE)
                ia_fatal("a parsed head no longer parses");
            router_match(c->ex->req.path, &c->ex->route);
        }
        c->state = CONN_READ_BODY;
        c->sent_continue = false;
        tl_set(c, TL_BODY);
        if (req->expect_continue && c->in.len == c->body_start) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            buf_append(&c->out, cont, sizeof(cont) - 1);
            c->sent_continue = true;
        }
        return PROGRESS;
    }
    dispatch(c);
    return PROGRESS;
}

static int process_body(conn_t *c)
{
    const http_request_t *req = &c->ex->req;

    if (!req->chunked) {
        if (c->in.len - c->body_start < req->content_length)
            return NEED_MORE;
        c->ex->body = (slice_t){c->in.data + c->body_start, req->content_length};
        c->request_end = c->body_start + req->content_length;
        dispatch(c);
        return PROGRESS;
    }
    http_error_t err;
    size_t used = 0;
    http_parse_rc_t rc = http_chunked_feed(&c->chunked, c->in.data + c->body_start,
                                           c->in.len - c->body_start, &used, &c->body, &err);
    /* Drop the raw bytes just decoded; the head before them stays put. */
    memmove(c->in.data + c->body_start, c->in.data + c->body_start + used,
            c->in.len - c->body_start - used);
    c->in.len -= used;
    if (rc == HTTP_PARSE_FAIL) {
        c->close_after = true;
        http_problem(c->ex, err.status, NULL, err.detail);
        return PROGRESS;
    }
    if (rc == HTTP_PARSE_AGAIN)
        return NEED_MORE;
    c->ex->body = (slice_t){c->body.data ? c->body.data : "", c->body.len};
    c->request_end = c->body_start;
    dispatch(c);
    return PROGRESS;
}

static int conn_process(conn_t *c)
{
    if (c->state == CONN_READ_HEAD) {
        if (c->in.len == 0)
            return NEED_MORE;
        return process_head(c);
    }
    if (c->state == CONN_READ_BODY)
        return process_body(c);
    return NEED_MORE;
}

static void conn_run(conn_t *c)
{
    for (;;) {
        if (c->dead || c->state == CONN_WAIT_APP)
            return;
        if (c->state == CONN_LINGER) {
            linger_read(c);
            return;
        }
        if (c->state == CONN_CLOSING) {
            if (c->writable)
                conn_flush(c);
            if (c->dead)
                return;
            if (c->out_off == c->out.len)
                conn_start_linger(c);
            else
                tl_set(c, TL_WRITE);
            return;
        }
        if (c->out.len - c->out_off > OUT_HIGH_WATER) {
            if (c->writable)
                conn_flush(c);
            if (c->dead)
                return;
            if (c->out.len - c->out_off > OUT_HIGH_WATER) {
                tl_set(c, TL_WRITE);
                return;
            }
        }
        if (conn_process(c) == PROGRESS)
            continue;
        if (c->readable && !c->peer_eof) {
            ssize_t n = conn_read(c);
            if (c->dead)
                return;
            if (n > 0)
                continue;
        }
        break;
    }
    if (c->out_off < c->out.len) {
        if (c->writable)
            conn_flush(c);
        if (c->dead)
            return;
    }
    if (c->peer_eof) {
        /* The client finished sending; a partial request can never complete. */
        if (c->out_off == c->out.len)
            conn_close(c);
        else
            tl_set(c, TL_WRITE);
        return;
    }
    if (c->out_off < c->out.len) {
        tl_set(c, TL_WRITE);
    } else if (c->state == CONN_READ_HEAD && c->in.len == 0) {
        if (c->w->stopping) {
            conn_close(c);
            return;
        }
        if (c->served_one)
            tl_set(c, TL_IDLE);
        conn_queue_trim(c);
    }
}

/* Called by http_respond once the response is queued. */
void conn_request_done(exchange_t *ex)
{
    conn_t *c = ex->conn;
    worker_t *w = c->w;
    int64_t dur = time_mono_ns() - ex->start_ns;

    metrics_observe(w->metrics, ex->req.method, ex->route.id, ex->status, dur);
    if (w->srv->cfg->access_log) {
        log_level_t lvl =
            (ex->route.id == ROUTE_HEALTHZ || ex->route.id == ROUTE_READYZ) && ex->status < 500
                ? LOG_DEBUG
                : LOG_INFO;
        log_line_t l;
        if (log_begin(&l, lvl, "request")) {
            log_strn(&l, "request_id", ex->request_id, ex->request_id_len);
            log_strn(&l, "method", ex->req.method_str.ptr ? ex->req.method_str.ptr : "",
                     ex->req.method_str.len);
            log_str(&l, "route", router_label(ex->route.id));
            log_int(&l, "status", ex->status);
            log_double(&l, "duration_ms", (double)dur / 1e6);
            log_int(&l, "bytes", (int64_t)ex->resp_bytes);
            if (ex->key_index >= 0)
                log_str(&l, "key", w->srv->cfg->keys[ex->key_index].label);
            log_end(&l);
        }
    }
    if (c->dead) {
        /* Closed while the database answered: nothing else refers to it. */
        c->state = CONN_CLOSING;
        c->next_dead = w->graveyard;
        w->graveyard = c;
        return;
    }
    arena_reset(&ex->arena);
    c->served_one = true;
    if (c->close_after) {
        c->state = CONN_CLOSING;
    } else {
        buf_consume(&c->in, c->request_end);
        http_scan_init(&c->scan);
        c->state = CONN_READ_HEAD;
        c->body_start = c->request_end = 0;
        buf_clear(&c->body);
        if (c->body.cap > READ_CHUNK * 4)
            buf_release(&c->body);
        if (c->in.len > 0)
            tl_set(c, TL_HEADER);
    }
    if (!c->in_dispatch)
        conn_run(c);
}

/* Timeouts: 408 for a request that stalled, silence for an idle client. */
void conn_expire(worker_t *w, int64_t now_ms)
{
    for (int i = 0; i < TL_COUNT; i++) {
        tnode_t *head = &w->timers[i];
        while (head->next != head) {
            conn_t *c = conn_of(head->next);
            if (c->deadline_ms > now_ms)
                break;
            if ((i == TL_HEADER && c->in.len > c->scan.skip) || i == TL_BODY) {
                /* Queue a 408 without running the connection, send it once
                 * without waiting (a slow client gets no more time), close. */
                c->in_dispatch = true;
                conn_fail(c, 408, "the request was not received in time");
                c->in_dispatch = false;
                if (c->out.len > c->out_off)
                    (void)send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            conn_close(c);
        }
    }
}

/* At shutdown: idle keep-alive connections go now, busy ones after their
 * current response (w->stopping makes every response Connection: close). */
void conn_close_idle(worker_t *w)
{
    tnode_t *head = &w->timers[TL_IDLE];

    while (head->next != head)
        conn_close(conn_of(head->next));
    head = &w->timers[TL_HEADER];
    for (tnode_t *n = head->next; n != head;) {
        conn_t *c = conn_of(n);
        n = n->next;
        if (c->in.len == 0)
            conn_close(c);
    }
}

void conn_teardown(worker_t *w)
{
    conn_t *c;

    conn_reap(w); /* also empties the idle_trim list */
    c = w->all;
    w->all = NULL;
    while (c != NULL) {
        conn_t *next = c->all_next;
        c->all_prev = c->all_next = NULL;
        if (c->fd >= 0)
            close(c->fd);
        conn_free(c);
        c = next;
    }
    while (w->n_ex_cache > 0)
        exchange_destroy(w->ex_cache[--w->n_ex_cache]);
    while (w->n_in_cache > 0)
        buf_release(&w->in_cache[--w->n_in_cache]);
    while (w->n_out_cache > 0)
        buf_release(&w->out_cache[--w->n_out_cache]);
}
