/*
 * The PostgreSQL back end's shared state, private to store_pg*.c: the store,
 * its per-worker slices and their pipelined connections. store_pg.c is the
 * back end's lifecycle, store_pg_connect.c connects and migrates (blocking:
 * start-up and the connector thread), store_pg_pipeline.c drives the
 * connections from each worker's loop.
 */
#ifndef IA_STORE_PG_TYPES_H
#define IA_STORE_PG_TYPES_H

#include "loop.h"
#include "store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#define MAX_INFLIGHT   128  /* ops per connection before new ones wait */
#define FIFO_CAP       512  /* ops + sync markers; > 2 * MAX_INFLIGHT */
#define MAX_WAITING    4096 /* per worker: past this, 503 at once */
#define CHECK_EVERY_MS 100

typedef enum { PC_CONNECTING, PC_READY } pc_state_t;
typedef enum { E_OP, E_SYNC, E_ABANDONED } entry_kind_t;

typedef struct {
    entry_kind_t kind;
    store_op_t *op;
    PGresult *held; /* the op's result, until its NULL arrives */
} entry_t;

typedef struct pg_worker pg_worker_t;

typedef struct pg_conn {
    loop_handler_t h; /* first: the epoll cookie */
    pg_worker_t *w;
    PGconn *pg;
    PGconn *handover; /* set by the connector thread, taken by the worker */
    int fd;
    pc_state_t state;
    entry_t fifo[FIFO_CAP];
    size_t head, count;
    int n_ops;                             /* ops in the fifo (not syncs, not abandoned) */
    bool batch_open;                       /* reads sent since the last Sync */
    bool want_write;                       /* EPOLLOUT registered */
    int64_t last_rx_ms;                    /* last time the server sent us something */
    store_op_t *commit_head, *commit_tail; /* writes answered, awaiting their Sync */
    struct pg_conn *next_req;              /* connector queue */
    unsigned generation;                   /* bumped when the connection is dropped */
    bool needs_primary;                    /* drop it when the server turns read-only */
} pg_conn_t;

typedef struct pg_store {
    store_t base;
    const char **kw, **val;
    char *url; /* owned copy of the URI in val[] (the connector may replace it) */
    int url_slot;
    char statement_opt[64];
    char connect_timeout[16];
    char tcp_user_timeout[16];
    int pool_size;
    pthread_t connector;
    bool connector_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pg_conn_t *req_head, *req_tail;
    bool stopping;
    atomic_bool db_down; /* the last connection attempt failed */
    pg_worker_t **workers;
    int n_workers;
    /* Posted to a worker's loop with a connection whose `handover` the
     * connector filled (store_pg_pipeline.c takes it from there). */
    loop_task_fn handover;
} pg_store_t;

struct pg_worker {
    store_worker_t base;
    pg_store_t *s;
    pg_conn_t *conns;
    int n_conns;
    store_op_t *wait_head, *wait_tail;
    int n_waiting;
    int64_t next_check_ms;
    atomic_long stat_ready, stat_inflight, stat_waiting;
};

enum {
    ST_GET,
    ST_LIST,
    ST_INSERT,
    ST_CREATE_IDEM,
    ST_REPLACE,
    ST_DELETE,
    ST_PING,
    ST_PURGE,
    ST_COUNT
};

typedef struct {
    const char *name;
    const char *sql;
    int nparams;
} pg_stmt_t;

/* The prepared statements every connection has (store_pg_connect.c). */
extern const pg_stmt_t pg_stmts[ST_COUNT];

#endif
