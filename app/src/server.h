/*
 * The server: WORKER_THREADS event loops sharing one listening socket
 * (EPOLLEXCLUSIVE wakes one loop per connection), each owning its
 * connections, its slice of the database pool and its metrics shard.
 * The main thread only handles signals and the drain/shutdown sequence.
 */
#ifndef IA_SERVER_H
#define IA_SERVER_H

#include "arena.h"
#include "buf.h"
#include "config.h"
#include "http_parse.h"
#include "item.h"
#include "loop.h"
#include "metrics.h"
#include "ratelimit.h"
#include "router.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct worker worker_t;
typedef struct conn conn_t;
typedef struct exchange exchange_t;

/* Idle connections give their buffers back; a worker keeps this many of
 * each kind for the next request, so keep-alive traffic skips malloc. */
#define CONN_CACHE_MAX 32

typedef enum { PHASE_RUNNING, PHASE_DRAINING, PHASE_STOPPING } server_phase_t;

typedef struct server {
    const config_t *cfg;
    store_t *store;
    ratelimit_t *ratelimit;
    int listen_fd;
    worker_t **workers;
    size_t n_workers;
    metrics_shard_t **shards;
    atomic_int phase;
    atomic_long conns_open;
    double start_time;
    int64_t next_purge_ms;
    const char *version;
    const char *revision;
    /* Workers wait here until the sandbox is on (or known to be off). */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    bool gate_open;
    /* "Out of file descriptors" warnings, at most one a second for all workers. */
    atomic_llong fd_warned_ms;
    atomic_long fd_refused; /* accept4 EMFILE/ENFILE since the last warning */
} server_t;

/* Intrusive doubly-linked list; each timer list holds conns in deadline
 * order because every member of a list has the same timeout. */
typedef struct tnode {
    struct tnode *prev, *next;
} tnode_t;

typedef enum {
    TL_NONE = -1,
    TL_HEADER,
    TL_BODY,
    TL_IDLE,
    TL_WRITE,
    TL_LINGER,
    TL_COUNT
} tlist_id_t;

struct worker {
    int index;
    server_t *srv;
    loop_t *loop;
    loop_handler_t listen_h;
    bool accepting;
    bool stopping;            /* listener closed: finish current requests, then close */
    int64_t accept_resume_ms; /* out of descriptors: watch the listener again then (0: no) */
    volatile bool exit;
    pthread_t thread;
    store_worker_t *store;
    metrics_shard_t *metrics;
    tnode_t timers[TL_COUNT];
    int64_t timer_ms[TL_COUNT];
    conn_t *graveyard; /* closed this iteration, freed after the poll */
    conn_t *idle_trim; /* went idle this iteration: buffers given back after the poll */
    exchange_t *ex_cache[CONN_CACHE_MAX];
    size_t n_ex_cache;
    buf_t in_cache[CONN_CACHE_MAX]; /* read buffers of READ_CHUNK bytes */
    size_t n_in_cache;
    buf_t out_cache[CONN_CACHE_MAX]; /* small response buffers */
    size_t n_out_cache;
    conn_t *all;         /* every live connection, for teardown */
    store_op_t purge_op; /* periodic idempotency-key cleanup */
    bool purge_busy;
    size_t n_conns;
    uint64_t rng;
    uint64_t req_seq;
    buf_t scratch; /* response bodies are built here */
};

/* The exchange: one request and its response. A connection handles one at a
 * time (pipelined requests wait in the input buffer); it is allocated when a
 * request's first byte arrives and freed once the connection is idle, so an
 * idle keep-alive connection costs only its conn_t. */
struct exchange {
    conn_t *conn;
    worker_t *worker;
    http_request_t req;
    slice_t body;
    route_match_t route;
    int key_index;
    char request_id[129];
    size_t request_id_len;
    int64_t start_ns;
    int status;
    size_t resp_bytes;
    buf_t resp_headers; /* extra header lines for the response being built */
    arena_t arena;
    bool responded;

    /* Handler state. */
    store_op_t op;
    item_input_t input;
    const void *patch;
    arena_mark_t patch_mark; /* each PATCH attempt starts from here */
    int attempts;
    int n_if_match;
    bool if_match_star;
    int64_t if_match[STORE_MAX_IF_MATCH];
    char idem_scope[33];
    char idem_hash[65];
    const char *idem_key;
};

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

    buf_t in;
    http_scan_t scan;
    size_t body_start;  /* offset of the body in `in` */
    size_t request_end; /* offset just past the current request in `in` */
    http_chunked_t chunked;
    size_t chunk_pos; /* raw chunked bytes consumed so far */
    buf_t body;       /* decoded chunked body */

    buf_t out;
    size_t out_off;

    bool readable, writable, peer_eof, in_dispatch, close_after, served_one, sent_continue;
    bool peer_rdhup; /* the peer's FIN is queued: read until EOF */
    bool dead;
    bool trim_queued; /* on the worker's idle_trim list */
    conn_t *next_trim;
    char remote[48];

    exchange_t *ex; /* owned; NULL while idle */
};

int server_run(const config_t *cfg, store_t *store, const char *version, const char *revision);

/* ---- used by handlers (http_response.c) ---- */

void http_add_header(exchange_t *ex, const char *name, const char *value, size_t len);
void http_respond(exchange_t *ex, int status, const char *content_type, const char *body,
                  size_t len);
/* RFC 9457 problem: type is a slug ("validation-error") or NULL for about:blank. */
void http_problem(exchange_t *ex, int status, const char *type, const char *detail);
void http_problem_fields(exchange_t *ex, const item_errors_t *errs);
void http_problem_unavailable(exchange_t *ex, const char *detail);

/* ---- handlers (handler_*.c) ---- */

void handle_healthz(exchange_t *ex);
void handle_readyz(exchange_t *ex);
void handle_metrics(exchange_t *ex);
void handle_items_collection(exchange_t *ex);
void handle_item(exchange_t *ex);
#ifdef IA_TEST_HOOKS
void handle_test_hook(exchange_t *ex);
#endif

/* ---- connection internals shared by server.c and http_conn.c ---- */

void conn_accept(worker_t *w, int fd);
void conn_expire(worker_t *w, int64_t now_ms);
int conn_next_deadline(worker_t *w, int64_t now_ms);
void conn_reap(worker_t *w);
void conn_close_idle(worker_t *w);
/* Frees every connection of a stopped worker. */
void conn_teardown(worker_t *w);
void timers_init(worker_t *w);

#endif
