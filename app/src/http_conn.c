/*
 * The connection state machine: read, frame a request head (http_framer.c),
 * admit it against its route before the body (policy.c), read the body,
 * dispatch to the route's handler, queue the response, repeat. Requests on
 * a connection are handled one at a time, so pipelined responses leave in
 * order. The response comes back through the exchange's completion hook.
 */
#include "http_conn.h"

#include "exchange.h"
#include "http_framer.h"
#include "http_response.h"
#include "log.h"
#include "policy.h"
#include "routes.h"
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

typedef enum {
    CONN_READ_HEAD,
    CONN_READ_BODY,
    CONN_WAIT_APP,
    CONN_CLOSING, /* response queued; close once written */
    CONN_LINGER,  /* write side shut; discarding input until EOF or timeout */
} conn_state_t;

struct conn {
    loop_handler_t h; /* first: the epoll cookie */
    int fd;
    worker_t *w;
    conn_state_t state;
    tnode_t tnode;
    tlist_id_t tlist;
    int64_t deadline_ms;
    conn_t *next_dead;
    conn_t *all_prev, *all_next;

    buf_t in;         /* raw requests; the current one's slices point here */
    http_framer_t fr; /* where the current request begins and ends in `in` */
    buf_t body;       /* decoded chunked body */

    buf_t out;
    size_t out_off;

    /* in_dispatch: a handler is running; the completion hook must not run
     * the connection again underneath it (conn_run resumes after). */
    bool readable, writable, peer_eof, in_dispatch, served_one, sent_continue;
    bool peer_rdhup; /* the peer's FIN is queued: read until EOF */
    bool dead;
    bool trim_queued; /* on the worker's idle_trim list */
    conn_t *next_trim;
    char remote[48];

    exchange_t *ex; /* owned; NULL while idle */
};

static void conn_run(conn_t *c);

/* ---- timer lists ---- */

void conn_timers_init(worker_t *w)
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
    http_framer_init(&c->fr);
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

static void conn_request_done(exchange_t *ex);

/* The exchange for the request now beginning; taken on first use. */
static exchange_t *conn_exchange(conn_t *c)
{
    if (c->ex == NULL) {
        c->ex = exchange_get(c->w);
        c->ex->out = &c->out;
        c->ex->done = conn_request_done;
        c->ex->owner = c;
    }
    return c->ex;
}

/* Gives the connection's exchange back to the worker. */
static void exchange_free(conn_t *c)
{
    if (c->ex == NULL)
        return;
    exchange_put(c->w, c->ex);
    c->ex = NULL;
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

/* Starts the exchange of the request now beginning; parsed false when its
 * head did not parse (the exchange then answers an error). */
static void conn_begin(conn_t *c, bool parsed)
{
    exchange_t *ex = conn_exchange(c);

    cache_get_buf(c->w->out_cache, &c->w->n_out_cache, &c->out);
    exchange_begin(ex, c->w, parsed);
    ex->route = routes_match(parsed ? ex->req.path : (slice_t){"", 0}, &ex->route_param);
}

/* Answers a protocol error and closes: after a framing error nothing that
 * follows on the connection can be trusted. */
static void conn_fail(conn_t *c, int status, const char *detail)
{
    if (c->state != CONN_READ_BODY)
        conn_begin(c, false);
    c->ex->close_after = true;
    http_problem(c->ex, status, NULL, detail);
}

/* Runs the route's handler (policy_admit has seen the route has one). */
static void dispatch(conn_t *c)
{
    exchange_t *ex = c->ex;

    c->state = CONN_WAIT_APP;
    tl_set(c, TL_NONE);
    c->in_dispatch = true;
    ex->route->handler(ex);
    c->in_dispatch = false;
}

static int process_head(conn_t *c)
{
    http_error_t err;
    const config_t *cfg = c->w->srv->cfg;
    http_frame_t fr = http_framer_head(&c->fr, &c->in, (size_t)cfg->max_header_bytes,
                                       &conn_exchange(c)->req, &err);

    if (fr == FRAME_AGAIN) {
        if (http_framer_started(&c->fr, &c->in))
            tl_set(c, TL_HEADER); /* a request has begun: its clock runs */
        return NEED_MORE;
    }
    if (fr == FRAME_ERROR) {
        conn_fail(c, err.status, err.detail);
        return PROGRESS;
    }
    conn_begin(c, true);
    if (policy_admit(c->ex) != IA_OK)
        return PROGRESS;
    http_request_t *req = &c->ex->req;
    if (!http_framer_has_body(req)) {
        dispatch(c);
        return PROGRESS;
    }
    http_framer_body_begin(&c->fr, &c->in, req, &c->body, (uint64_t)cfg->max_body_bytes,
                           READ_CHUNK);
    /* The head may have been parsed again at a new address. */
    c->ex->route = routes_match(req->path, &c->ex->route_param);
    c->state = CONN_READ_BODY;
    c->sent_continue = false;
    tl_set(c, TL_BODY);
    if (req->expect_continue && c->in.len == c->fr.body_start) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        buf_append(&c->out, cont, sizeof(cont) - 1);
        c->sent_continue = true;
    }
    return PROGRESS;
}

static int process_body(conn_t *c)
{
    http_error_t err;
    http_frame_t fr = http_framer_body(&c->fr, &c->in, &c->ex->req, &c->body, &c->ex->body, &err);

    if (fr == FRAME_AGAIN)
        return NEED_MORE;
    if (fr == FRAME_ERROR) {
        c->ex->close_after = true;
        http_problem(c->ex, err.status, NULL, err.detail);
        return PROGRESS;
    }
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

/* The exchange's completion hook: the response is queued in c->out. */
static void conn_request_done(exchange_t *ex)
{
    conn_t *c = ex->owner;
    worker_t *w = c->w;
    int64_t dur = time_mono_ns() - ex->start_ns;

    metrics_observe(w->metrics, ex->req.method, ex->route->id, ex->status, dur);
    if (w->srv->cfg->access_log) {
        log_level_t lvl =
            (ex->route->id == ROUTE_HEALTHZ || ex->route->id == ROUTE_READYZ) && ex->status < 500
                ? LOG_DEBUG
                : LOG_INFO;
        log_line_t l;
        if (log_begin(&l, lvl, "request")) {
            log_strn(&l, "request_id", ex->request_id, ex->request_id_len);
            log_strn(&l, "method", ex->req.method_str.ptr ? ex->req.method_str.ptr : "",
                     ex->req.method_str.len);
            log_str(&l, "route", router_label(ex->route->id));
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
    if (ex->close_after) {
        c->state = CONN_CLOSING;
    } else {
        http_framer_next(&c->fr, &c->in);
        c->state = CONN_READ_HEAD;
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
            if ((i == TL_HEADER && http_framer_started(&c->fr, &c->in)) || i == TL_BODY) {
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
    exchange_cache_drain(w);
    while (w->n_in_cache > 0)
        buf_release(&w->in_cache[--w->n_in_cache]);
    while (w->n_out_cache > 0)
        buf_release(&w->out_cache[--w->n_out_cache]);
}
