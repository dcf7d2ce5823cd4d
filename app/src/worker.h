/*
 * The worker: what one event-loop thread owns (its connections' timer lists,
 * its slice of the database pool, its metrics shard, the buffers and
 * exchanges idle connections gave back) and the server_t all workers share.
 * Data only: server.c runs the loops, http_conn.c the connections, and the
 * handlers read their context (configuration, store, scratch buffer) here.
 */
#ifndef IA_WORKER_H
#define IA_WORKER_H

#include "buf.h"
#include "config.h"
#include "loop.h"
#include "metrics.h"
#include "ratelimit.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct worker worker_t;
typedef struct conn conn_t;         /* private to http_conn.c */
typedef struct exchange exchange_t; /* exchange.h */

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

#endif
