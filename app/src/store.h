/*
 * The storage interface: one set of operations, two implementations
 * (store_pg.c on libpq, store_sqlite.c on SQLite), the same behaviour.
 *
 * Operations are asynchronous: store_submit() takes an op and calls
 * op->done exactly once, on the submitting worker's thread, possibly before
 * store_submit returns (SQLite answers synchronously). The op and the
 * strings it points to belong to the caller and must stay valid until done
 * runs; the result (items and their strings) belongs to the store and is
 * valid only during the done call, and only until done calls store_submit
 * again (a callback that chains an operation copies what it needs first).
 */
#ifndef IA_STORE_H
#define IA_STORE_H

#include "common.h"
#include "config.h"
#include "item.h"

#include <stdint.h>

typedef enum {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_PRECONDITION_FAILED,
    STORE_REPLAYED,             /* idempotent replay: item has the original id and times */
    STORE_IDEMPOTENCY_MISMATCH, /* key reused with a different body */
    STORE_UNAVAILABLE,          /* database down, timed out or saturated: 503 */
    STORE_ERROR,                /* anything else: a bug, 500 */
} store_status_t;

typedef enum {
    STORE_OP_GET,
    STORE_OP_LIST,
    STORE_OP_CREATE,
    STORE_OP_REPLACE,
    STORE_OP_DELETE,
    STORE_OP_PING,
    STORE_OP_PURGE_IDEMPOTENCY,
} store_op_kind_t;

#define STORE_MAX_IF_MATCH          8
#define STORE_IDEMPOTENCY_TTL_HOURS 24

typedef struct {
    store_status_t status;
    const item_t *items;
    size_t n_items;
    bool has_more; /* LIST: another page exists */
} store_result_t;

typedef struct store_op store_op_t;
typedef void (*store_done_fn)(store_op_t *op, const store_result_t *res);

struct store_op {
    store_op_kind_t kind;
    int64_t id;       /* GET REPLACE DELETE */
    const char *name; /* CREATE REPLACE */
    size_t name_len;
    const char *data; /* CREATE REPLACE: compact JSON object text */
    size_t data_len;
    int n_if_match; /* REPLACE DELETE: 0 = unconditional */
    int64_t if_match[STORE_MAX_IF_MATCH];
    int64_t after_id;       /* LIST */
    int limit;              /* LIST */
    const char *idem_scope; /* CREATE: all three set, or all NULL */
    const char *idem_key;
    const char *idem_hash;
    int64_t timeout_ms; /* 0: DB_STATEMENT_TIMEOUT_MS */
    store_done_fn done;
    void *arg;

    /* Owned by the store while submitted. */
    store_op_t *next;
    int64_t deadline_ms;
    int64_t queued_ms;
    int64_t scratch;
};

typedef struct store store_t;
typedef struct store_worker store_worker_t;
struct loop;

typedef struct {
    int64_t size;      /* configured connections */
    int64_t ready;     /* connected and usable */
    int64_t in_flight; /* queries sent, not answered */
    int64_t waiting;   /* requests queued for a connection */
    int64_t errors;    /* database errors since start */
    int64_t timeouts;  /* pool waits and statement deadlines that expired */
} store_stats_t;

/* Connects (retrying for DB_STARTUP_TIMEOUT_SECONDS) and applies
 * migrations. Blocking; called once at start-up. */
int store_open(store_t **out, const config_t *cfg, err_t *err);
/* Applies migrations only (the `migrate` command). */
int store_migrate_only(const config_t *cfg, err_t *err);
/* Starts background work (the PostgreSQL connector thread). */
void store_start(store_t *s);
/* Stops background work; after it returns no worker receives new tasks
 * from the store, so workers may be freed. */
void store_stop(store_t *s);
void store_close(store_t *s);

/* One per event-loop thread; index < WORKER_THREADS. */
store_worker_t *store_worker_new(store_t *s, struct loop *loop, int index);
void store_worker_free(store_worker_t *w);
void store_submit(store_worker_t *w, store_op_t *op);
/* Expires deadlines; returns ms until the next one (or -1). */
int store_worker_tick(store_worker_t *w, int64_t now_ms);
/* Sends what this loop iteration queued (one write per connection). */
void store_worker_flush(store_worker_t *w);

void store_get_stats(store_t *s, store_stats_t *out);
const char *store_kind_name(const store_t *s);
/* Counts a database error for metrics and logs it once (rate-limited). */
void store_note_error(store_t *s, const char *what, const char *detail);

/* ---- backend vtables (store.c dispatches) ---- */

typedef struct {
    const char *name;
    int (*open)(store_t **out, const config_t *cfg, err_t *err);
    int (*migrate_only)(const config_t *cfg, err_t *err);
    void (*start)(store_t *s);
    void (*stop)(store_t *s);
    void (*close)(store_t *s);
    store_worker_t *(*worker_new)(store_t *s, struct loop *loop, int index);
    void (*worker_free)(store_worker_t *w);
    void (*submit)(store_worker_t *w, store_op_t *op);
    int (*tick)(store_worker_t *w, int64_t now_ms);
    void (*flush)(store_worker_t *w);
    void (*stats)(store_t *s, store_stats_t *out);
} store_backend_t;

/* Common head of every backend's store; backends embed it first. */
struct store {
    const store_backend_t *be;
    const config_t *cfg;
    _Atomic int64_t errors;
    _Atomic int64_t timeouts;
    _Atomic int64_t last_error_log_ms;
};

/* Common head of every backend's per-thread worker. */
struct store_worker {
    store_t *store;
    struct loop *loop;
};

extern const store_backend_t store_backend_pg;
extern const store_backend_t store_backend_sqlite;

#endif
