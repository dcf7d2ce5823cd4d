/*
 * The PostgreSQL back end.
 *
 * Each worker thread owns a slice of the pool: non-blocking libpq
 * connections in pipeline mode, driven by the worker's own epoll loop, so a
 * request costs no thread hand-off. Within one loop iteration:
 *
 *   - reads (get, list, ping) are queued on a connection without a Sync and
 *     the whole batch gets one Sync (one write, one server flush) when the
 *     iteration ends; a read is answered as soon as its rows arrive;
 *   - writes each end their own transaction with a Sync and are answered
 *     only when that Sync's result arrives, i.e. after COMMIT: an
 *     acknowledged write is durable.
 *
 * Deadlines: a request waits at most DB_POOL_TIMEOUT_MS for a connection
 * and DB_STATEMENT_TIMEOUT_MS for its answer (then 503; the late answer is
 * discarded). A connection that receives nothing for DB_STATEMENT_TIMEOUT_MS
 * while queries are pending is presumed silently dropped and replaced; TCP
 * keepalives and tcp_user_timeout catch the same at the socket level.
 *
 * Connecting blocks (DNS, TLS, authentication), so it happens on one
 * connector thread that hands finished connections to their worker.
 */
#include "store.h"

#include "log.h"
#include "loop.h"
#include "migrate.h"
#include "timeutil.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- statements ---- */

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

static const struct {
    const char *name;
    const char *sql;
    int nparams;
} stmts[ST_COUNT] = {
    [ST_GET] = {"get",
                "SELECT id, name, data, version, items_epoch_ms(created_at), "
                "items_epoch_ms(updated_at) FROM items WHERE id = $1::bigint",
                1},
    [ST_LIST] = {"list",
                 "SELECT id, name, data, version, items_epoch_ms(created_at), "
                 "items_epoch_ms(updated_at) FROM items WHERE id > $1::bigint ORDER BY id "
                 "LIMIT $2::int",
                 2},
    /* name and data are not sent back: the caller has them. */
    [ST_INSERT] = {"insert",
                   "INSERT INTO items (name, data) VALUES ($1::text, $2::json) RETURNING 0, id, "
                   "NULL, NULL, version, items_epoch_ms(created_at), items_epoch_ms(updated_at)",
                   2},
    [ST_CREATE_IDEM] = {"create_idem",
                        "SELECT status, id, NULL, NULL, version, created_ms, updated_ms FROM "
                        "items_create_idempotent($1::text, $2::text, $3::text, $4::text, "
                        "$5::json)",
                        5},
    [ST_REPLACE] = {"replace",
                    "SELECT status, id, name, data, version, created_ms, updated_ms FROM "
                    "items_replace($1::bigint, $2::text, $3::json, $4::bigint[])",
                    4},
    [ST_DELETE] = {"delete", "SELECT items_delete($1::bigint, $2::bigint[])", 2},
    [ST_PING] = {"ping", "SELECT 1", 0},
    [ST_PURGE] = {"purge",
                  "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'", 0},
};

static bool op_is_write(const store_op_t *op)
{
    return op->kind == STORE_OP_CREATE || op->kind == STORE_OP_REPLACE ||
           op->kind == STORE_OP_DELETE || op->kind == STORE_OP_PURGE_IDEMPOTENCY;
}

/* ---- connecting (blocking; start-up and connector thread) ---- */

static void build_params(pg_store_t *s, const config_t *cfg)
{
    /* Our defaults come first; the URI (dbname, expanded) comes last, so
     * anything the operator wrote in DATABASE_URL wins. */
    static const char *const keys[] = {"connect_timeout",  "keepalives",
                                       "keepalives_idle",  "keepalives_interval",
                                       "keepalives_count", "tcp_user_timeout",
                                       "application_name", "options",
                                       "dbname",           NULL};
    snprintf(s->connect_timeout, sizeof(s->connect_timeout), "%lld",
             (long long)cfg->db_connect_timeout_s);
    snprintf(s->tcp_user_timeout, sizeof(s->tcp_user_timeout), "%lld",
             (long long)cfg->db_statement_timeout_ms);
    /* The server cancels a statement a little before we give up on it, so
     * its error (57014) usually arrives before our own deadline. */
    snprintf(s->statement_opt, sizeof(s->statement_opt), "-c statement_timeout=%lld",
             (long long)(cfg->db_statement_timeout_ms * 9 / 10));
    s->kw = ia_calloc(IA_ARRAY_LEN(keys), sizeof(char *));
    s->val = ia_calloc(IA_ARRAY_LEN(keys), sizeof(char *));
    s->url = strdup(cfg->database_url);
    const char *vals[] = {
        s->connect_timeout, "1",    "5", "2", "2", s->tcp_user_timeout, "items-api",
        s->statement_opt,   s->url, NULL};
    for (size_t i = 0; i < IA_ARRAY_LEN(keys); i++) {
        s->kw[i] = keys[i];
        s->val[i] = vals[i];
    }
    s->url_slot = (int)IA_ARRAY_LEN(keys) - 2;
}

/* libpq prints notices (and errors that arrive outside a query, such as
 * an administrator's termination) to stderr; every line we write must be
 * JSON, so they go through the log instead. */
static void on_notice(void *arg, const PGresult *r)
{
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    bool serious = sev != NULL && (strcmp(sev, "WARNING") == 0 || strcmp(sev, "ERROR") == 0 ||
                                   strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
    log_line_t l;

    IA_UNUSED(arg);
    if (log_begin(&l, serious ? LOG_WARN : LOG_DEBUG, "database notice")) {
        log_str(&l, "severity", sev ? sev : "unknown");
        log_str(&l, "detail", msg ? msg : "");
        log_end(&l);
    }
}

/*
 * RDS rotates its managed password on a schedule; the instance rewrites
 * DATABASE_URL_FILE when it does. Open connections keep working (a password
 * change does not end sessions), so reading the file again before each new
 * connection is enough: no restart, no dropped request. Connector thread
 * only (start-up is single-threaded).
 */
static void reload_url(pg_store_t *s)
{
    const char *path = s->base.cfg->database_url_file;
    err_t err = {{0}};
    char *fresh;

    if (path == NULL)
        return;
    fresh = config_reread_database_url(path, &err);
    if (fresh == NULL) {
        log_msg_str(LOG_WARN, "keeping the current database URL", "error", err.msg);
        return;
    }
    if (strcmp(fresh, s->url) == 0) {
        explicit_bzero(fresh, strlen(fresh));
        free(fresh);
        return;
    }
    explicit_bzero(s->url, strlen(s->url));
    free(s->url);
    s->url = fresh;
    s->val[s->url_slot] = s->url;
    log_msg(LOG_INFO, "database URL reloaded from DATABASE_URL_FILE");
}

static PGconn *connect_once(pg_store_t *s, char *why, size_t why_len)
{
    PGconn *pg = PQconnectdbParams(s->kw, s->val, 1);

    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(why, why_len, "%s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeReceiver(pg, on_notice, NULL);
    return pg;
}

/* Start-up: retry with backoff for DB_STARTUP_TIMEOUT_SECONDS. */
static PGconn *connect_startup(pg_store_t *s, const config_t *cfg, err_t *err)
{
    int64_t deadline = time_mono_ms() + cfg->db_startup_timeout_s * 1000;
    int64_t delay = 100;
    char why[512] = "";

    for (int attempt = 1;; attempt++) {
        PGconn *pg = connect_once(s, why, sizeof(why));
        if (pg != NULL)
            return pg;
        size_t n = strlen(why);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = '\0';
        /* The last wait is cut to the deadline, so the last attempt is made
         * at the deadline rather than one backoff step before it. */
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) {
            err_set(err, "DATABASE_URL: cannot connect to %s within %llds: %s", cfg->db_redacted,
                    (long long)cfg->db_startup_timeout_s, why);
            return NULL;
        }
        log_line_t l;
        if (log_begin(&l, LOG_WARN, "database not reachable yet; retrying")) {
            log_str(&l, "database", cfg->db_redacted);
            log_int(&l, "attempt", attempt);
            log_str(&l, "error", why);
            log_end(&l);
        }
        time_sleep_ms(delay < left ? delay : left);
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
    }
}

static int exec_ok(PGconn *pg, const char *sql, err_t *err)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? IA_OK : IA_ERR;

    if (rc != IA_OK)
        err_set(err, "migration: %s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

#define MIGRATION_LOCK   "SELECT pg_advisory_lock(7400346211)"
#define MIGRATION_UNLOCK "SELECT pg_advisory_unlock(7400346211)"

static int migrate(PGconn *pg, err_t *err)
{
    int rc = IA_ERR;

    /* Several instances may start at once: one migrates, the others wait
     * here and then find nothing left to do. */
    if (exec_ok(pg, MIGRATION_LOCK, err) != IA_OK)
        return IA_ERR;
    if (exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                err) != IA_OK)
        goto cleanup;
    for (size_t i = 0; i < n_migrations_postgres; i++) {
        const migration_t *m = &migrations_postgres[i];
        char num[16];
        const char *params[2] = {num, m->name};
        snprintf(num, sizeof(num), "%d", m->version);
        PGresult *r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                   NULL, params, NULL, NULL, 0);
        bool applied = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        if (applied)
            continue;
        if (exec_ok(pg, "BEGIN", err) != IA_OK)
            goto cleanup;
        if (exec_ok(pg, m->sql, err) != IA_OK) {
            exec_ok(pg, "ROLLBACK", NULL);
            goto cleanup;
        }
        r = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                         NULL, params, NULL, NULL, 0);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            err_set(err, "migration: %s", PQresultErrorMessage(r));
        PQclear(r);
        if (!ok || exec_ok(pg, "COMMIT", err) != IA_OK) {
            exec_ok(pg, "ROLLBACK", NULL);
            goto cleanup;
        }
        log_msg_str(LOG_INFO, "migration applied", "migration", m->name);
    }
    rc = IA_OK;
cleanup:
    exec_ok(pg, MIGRATION_UNLOCK, NULL);
    return rc;
}

static int prepare_all(PGconn *pg, char *why, size_t why_len)
{
    for (int i = 0; i < ST_COUNT; i++) {
        PGresult *r = PQprepare(pg, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(why, why_len, "prepare %s: %s", stmts[i].name, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok)
            return IA_ERR;
    }
    return IA_OK;
}

/* ---- connector thread ---- */

static void task_handover(void *arg);

static void request_connect(pg_store_t *s, pg_conn_t *c)
{
    pthread_mutex_lock(&s->mu);
    c->next_req = NULL;
    if (s->req_tail != NULL)
        s->req_tail->next_req = c;
    else
        s->req_head = c;
    s->req_tail = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *connector_main(void *arg)
{
    pg_store_t *s = arg;
    int64_t delay = 0;
    char why[512];

    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->req_head == NULL && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            log_thread_done();
            return NULL;
        }
        pg_conn_t *c = s->req_head;
        s->req_head = c->next_req;
        if (s->req_head == NULL)
            s->req_tail = NULL;
        pthread_mutex_unlock(&s->mu);

        reload_url(s);
        PGconn *pg = connect_once(s, why, sizeof(why));
        if (pg != NULL && prepare_all(pg, why, sizeof(why)) != IA_OK) {
            PQfinish(pg);
            pg = NULL;
        }
        if (pg != NULL && (PQsetnonblocking(pg, 1) != 0 || PQenterPipelineMode(pg) != 1)) {
            snprintf(why, sizeof(why), "cannot enter pipeline mode");
            PQfinish(pg);
            pg = NULL;
        }
        if (pg != NULL) {
            if (atomic_exchange(&s->db_down, false))
                log_msg(LOG_INFO, "database reachable again");
            delay = 0;
            /* Posting under the lock: once pg_stop has set `stopping`, no
             * task reaches a worker that may be freed. */
            pthread_mutex_lock(&s->mu);
            if (s->stopping) {
                pthread_mutex_unlock(&s->mu);
                PQfinish(pg);
                log_thread_done();
                return NULL;
            }
            c->handover = pg;
            loop_post(c->w->base.loop, task_handover, c);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        atomic_store(&s->db_down, true);
        store_note_error(&s->base, "connect", why);
        /* Retry soon: recovery must follow the database within a second or
         * two, but a dead database must not be hammered. */
        delay = delay == 0 ? 50 : (delay * 2 > 500 ? 500 : delay * 2);
        time_sleep_ms(delay);
        request_connect(s, c);
    }
}

/* ---- per-connection pipeline ---- */

static void conn_on_event(loop_handler_t *h, uint32_t events);
static void drain_waiting(pg_worker_t *w);
static void deliver(pg_worker_t *w, store_op_t *op, PGresult *r);

static void complete_status(pg_worker_t *w, store_op_t *op, store_status_t st)
{
    store_result_t res = {.status = st};

    IA_UNUSED(w);
    op->done(op, &res);
}

static void fifo_push(pg_conn_t *c, entry_kind_t kind, store_op_t *op)
{
    entry_t *e = &c->fifo[(c->head + c->count) % FIFO_CAP];

    e->kind = kind;
    e->op = op;
    e->held = NULL;
    c->count++;
    if (kind == E_OP)
        c->n_ops++;
}

static entry_t *fifo_front(pg_conn_t *c)
{
    return &c->fifo[c->head];
}

static void fifo_pop(pg_conn_t *c)
{
    c->head = (c->head + 1) % FIFO_CAP;
    c->count--;
}

/* Drops the connection: everything pending on it fails with 503 (a write
 * without its Sync result is unacknowledged: it may or may not have
 * committed, and the client was not told it did). Then reconnects. */
static void conn_drop(pg_conn_t *c, const char *why)
{
    pg_worker_t *w = c->w;
    store_op_t *fail_head = NULL, **fail_tail = &fail_head;

    if (c->state == PC_READY)
        atomic_fetch_sub(&w->stat_ready, 1);
    store_note_error(&w->s->base, "connection lost", why);
    c->generation++;
    while (c->count > 0) {
        entry_t *e = fifo_front(c);
        if (e->held != NULL)
            PQclear(e->held);
        if (e->kind == E_OP) {
            e->op->next = NULL;
            *fail_tail = e->op;
            fail_tail = &e->op->next;
            c->n_ops--;
            atomic_fetch_sub(&w->stat_inflight, 1);
        }
        fifo_pop(c);
    }
    /* Writes that were answered by the server but whose Sync never came. */
    store_op_t *p = c->commit_head;
    while (p != NULL) {
        store_op_t *next = p->next;
        PQclear((PGresult *)(intptr_t)p->scratch);
        p->next = NULL;
        *fail_tail = p;
        fail_tail = &p->next;
        p = next;
    }
    c->commit_head = c->commit_tail = NULL;
    if (c->pg != NULL) {
        loop_del(w->base.loop, c->fd);
        PQfinish(c->pg);
        c->pg = NULL;
        c->fd = -1;
    }
    c->state = PC_CONNECTING;
    c->batch_open = false;
    c->want_write = false;
    request_connect(w->s, c);
    while (fail_head != NULL) {
        store_op_t *next = fail_head->next;
        complete_status(w, fail_head, STORE_UNAVAILABLE);
        fail_head = next;
    }
}

static void task_handover(void *arg)
{
    pg_conn_t *c = arg;
    pg_worker_t *w = c->w;

    c->pg = c->handover;
    c->handover = NULL;
    c->fd = PQsocket(c->pg);
    c->state = PC_READY;
    c->last_rx_ms = time_mono_ms();
    c->h.fn = conn_on_event;
    if (loop_add(w->base.loop, c->fd, EPOLLIN, &c->h) != IA_OK) {
        c->state = PC_CONNECTING;
        PQfinish(c->pg);
        c->pg = NULL;
        request_connect(w->s, c);
        return;
    }
    atomic_fetch_add(&w->stat_ready, 1);
    drain_waiting(w);
}

static void set_want_write(pg_conn_t *c, bool on)
{
    if (c->want_write == on)
        return;
    c->want_write = on;
    loop_mod(c->w->base.loop, c->fd, EPOLLIN | (on ? EPOLLOUT : 0), &c->h);
}

static void conn_flush(pg_conn_t *c)
{
    int rc = PQflush(c->pg);

    if (rc < 0) {
        conn_drop(c, PQerrorMessage(c->pg));
        return;
    }
    set_want_write(c, rc == 1);
}

static void i64s(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%lld", (long long)v);
}

/* "{1,2}" for an If-Match list, NULL for none. */
static const char *versions_array(const store_op_t *op, char *buf, size_t n)
{
    size_t off = 0;

    if (op->n_if_match == 0)
        return NULL;
    buf[off++] = '{';
    for (int i = 0; i < op->n_if_match && off + 24 < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? "," : "",
                                (long long)op->if_match[i]);
    snprintf(buf + off, n - off, "}");
    return buf;
}

/*
 * name and data are slices of the request, not NUL-terminated. libpq reads
 * text-format parameters up to a NUL and ignores their lengths, so these go
 * in binary format: for text and json that is the raw UTF-8 bytes.
 */
static void set_bytes(const char **values, int *lengths, int *formats, int *n, const char *p,
                      size_t len)
{
    values[*n] = p;
    lengths[*n] = (int)len;
    formats[*n] = 1;
    (*n)++;
}

/* Sends op on c. Returns false if the connection broke before the op was
 * queued (the caller may try another); once queued, a later failure drops
 * the connection, which answers the op. */
static bool conn_send(pg_conn_t *c, store_op_t *op)
{
    const char *values[5] = {0};
    int lengths[5] = {0};
    int formats[5] = {0};
    char a[24], b[24], arr[STORE_MAX_IF_MATCH * 21 + 4];
    int st, n = 0;

    switch (op->kind) {
    case STORE_OP_GET:
        st = ST_GET;
        i64s(a, sizeof(a), op->id);
        values[n++] = a;
        break;
    case STORE_OP_LIST:
        st = ST_LIST;
        i64s(a, sizeof(a), op->after_id);
        i64s(b, sizeof(b), op->limit + 1); /* one more row says whether more exist */
        values[n++] = a;
        values[n++] = b;
        break;
    case STORE_OP_CREATE:
        if (op->idem_key != NULL) {
            st = ST_CREATE_IDEM;
            values[n++] = op->idem_scope;
            values[n++] = op->idem_key;
            values[n++] = op->idem_hash;
        } else {
            st = ST_INSERT;
        }
        set_bytes(values, lengths, formats, &n, op->name, op->name_len);
        set_bytes(values, lengths, formats, &n, op->data, op->data_len);
        break;
    case STORE_OP_REPLACE:
        st = ST_REPLACE;
        i64s(a, sizeof(a), op->id);
        values[n++] = a;
        set_bytes(values, lengths, formats, &n, op->name, op->name_len);
        set_bytes(values, lengths, formats, &n, op->data, op->data_len);
        values[n++] = versions_array(op, arr, sizeof(arr));
        break;
    case STORE_OP_DELETE:
        st = ST_DELETE;
        i64s(a, sizeof(a), op->id);
        values[n++] = a;
        values[n++] = versions_array(op, arr, sizeof(arr));
        break;
    case STORE_OP_PING:
        st = ST_PING;
        break;
    default:
        st = ST_PURGE;
        break;
    }
    if (!PQsendQueryPrepared(c->pg, stmts[st].name, n, values, lengths, formats, 0))
        return false;
    if (c->count == 0)
        c->last_rx_ms = time_mono_ms(); /* the silence clock starts now */
    fifo_push(c, E_OP, op);
    atomic_fetch_add_explicit(&c->w->stat_inflight, 1, memory_order_relaxed);
    if (op_is_write(op)) {
        /* Its own Sync: the write commits (with any reads batched before it,
         * which change nothing) and is acknowledged only after that. */
        if (!PQpipelineSync(c->pg)) {
            conn_drop(c, PQerrorMessage(c->pg));
            return true;
        }
        fifo_push(c, E_SYNC, NULL);
        c->batch_open = false;
        conn_flush(c);
    } else {
        c->batch_open = true;
    }
    return true;
}

static pg_conn_t *pick_conn(pg_worker_t *w)
{
    pg_conn_t *best = NULL;

    for (int i = 0; i < w->n_conns; i++) {
        pg_conn_t *c = &w->conns[i];
        if (c->state != PC_READY || c->n_ops >= MAX_INFLIGHT || c->count + 2 > FIFO_CAP)
            continue;
        if (best == NULL || c->n_ops < best->n_ops)
            best = c;
    }
    return best;
}

static bool try_send(pg_worker_t *w, store_op_t *op)
{
    for (;;) {
        pg_conn_t *c = pick_conn(w);
        if (c == NULL)
            return false;
        if (conn_send(c, op))
            return true;
        conn_drop(c, PQerrorMessage(c->pg));
    }
}

static void wait_remove_head(pg_worker_t *w)
{
    w->wait_head = w->wait_head->next;
    if (w->wait_head == NULL)
        w->wait_tail = NULL;
    w->n_waiting--;
    atomic_fetch_sub_explicit(&w->stat_waiting, 1, memory_order_relaxed);
}

static void drain_waiting(pg_worker_t *w)
{
    while (w->wait_head != NULL) {
        store_op_t *op = w->wait_head;
        if (pick_conn(w) == NULL)
            return;
        wait_remove_head(w);
        op->next = NULL;
        if (!try_send(w, op)) {
            /* Every connection broke while sending: queue it again. */
            op->next = w->wait_head;
            w->wait_head = op;
            if (w->wait_tail == NULL)
                w->wait_tail = op;
            w->n_waiting++;
            atomic_fetch_add_explicit(&w->stat_waiting, 1, memory_order_relaxed);
            return;
        }
    }
}

static void pg_submit(store_worker_t *base, store_op_t *op)
{
    pg_worker_t *w = (pg_worker_t *)base;
    const config_t *cfg = w->s->base.cfg;
    int64_t now = time_mono_ms();
    int64_t timeout = op->timeout_ms > 0 ? op->timeout_ms : cfg->db_statement_timeout_ms;

    op->next = NULL;
    op->queued_ms = now;
    op->deadline_ms = now + timeout;
    if (w->wait_head == NULL && try_send(w, op))
        return;
    /* No connection free. A known-down database fails fast; otherwise wait
     * a bounded time in a bounded queue. */
    if (atomic_load(&w->s->db_down) && atomic_load(&w->stat_ready) == 0) {
        complete_status(w, op, STORE_UNAVAILABLE);
        return;
    }
    if (w->n_waiting >= MAX_WAITING) {
        w->s->base.timeouts++;
        complete_status(w, op, STORE_UNAVAILABLE);
        return;
    }
    int64_t pool_deadline = now + cfg->db_pool_timeout_ms;
    op->scratch = pool_deadline < op->deadline_ms ? pool_deadline : op->deadline_ms;
    if (w->wait_tail != NULL)
        w->wait_tail->next = op;
    else
        w->wait_head = op;
    w->wait_tail = op;
    w->n_waiting++;
    atomic_fetch_add_explicit(&w->stat_waiting, 1, memory_order_relaxed);
}

/* ---- results ---- */

static int64_t val_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void read_item(const PGresult *r, int row, item_t *it)
{
    it->id = val_i64(r, row, 0);
    it->name = PQgetvalue(r, row, 1);
    it->name_len = (size_t)PQgetlength(r, row, 1);
    it->data = PQgetvalue(r, row, 2);
    it->data_len = (size_t)PQgetlength(r, row, 2);
    it->version = val_i64(r, row, 3);
    it->created_ms = val_i64(r, row, 4);
    it->updated_ms = val_i64(r, row, 5);
}

/* Columns status, id, name, data, version, created_ms, updated_ms. */
static void read_status_item(const PGresult *r, item_t *it)
{
    it->id = val_i64(r, 0, 1);
    it->name = PQgetvalue(r, 0, 2);
    it->name_len = (size_t)PQgetlength(r, 0, 2);
    it->data = PQgetvalue(r, 0, 3);
    it->data_len = (size_t)PQgetlength(r, 0, 3);
    it->version = val_i64(r, 0, 4);
    it->created_ms = val_i64(r, 0, 5);
    it->updated_ms = val_i64(r, 0, 6);
}

/* Outages (connection, shutdown, timeouts, resources, read-only standby,
 * serialization) are 503; anything else is a bug and a 500. */
static store_status_t classify(pg_worker_t *w, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    store_status_t st = STORE_UNAVAILABLE;

    if (r != NULL && PQresultStatus(r) == PGRES_PIPELINE_ABORTED)
        return STORE_UNAVAILABLE;
    if (state != NULL && strlen(state) == 5) {
        static const char *const outage_classes[] = {"08", "53", "57", "58", "40", "25", "55"};
        st = STORE_ERROR;
        for (size_t i = 0; i < IA_ARRAY_LEN(outage_classes); i++) {
            if (strncmp(state, outage_classes[i], 2) == 0)
                st = STORE_UNAVAILABLE;
        }
    }
    store_note_error(&w->s->base, "query", r ? PQresultErrorMessage(r) : "no result");
    return st;
}

static void deliver(pg_worker_t *w, store_op_t *op, PGresult *r)
{
    store_result_t res = {.status = STORE_OK};
    item_t one, *many = NULL;
    ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    memset(&one, 0, sizeof(one));
    res.items = &one;
    if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK) {
        res.status = classify(w, r);
        res.items = NULL;
        goto done;
    }
    switch (op->kind) {
    case STORE_OP_GET:
        if (PQntuples(r) == 0) {
            res.status = STORE_NOT_FOUND;
        } else {
            read_item(r, 0, &one);
            res.n_items = 1;
        }
        break;
    case STORE_OP_LIST: {
        int n = PQntuples(r);
        many = ia_malloc(sizeof(item_t) * (size_t)(n > 0 ? n : 1));
        for (int i = 0; i < n; i++)
            read_item(r, i, &many[i]);
        res.items = many;
        res.has_more = n > op->limit;
        res.n_items = (size_t)(res.has_more ? op->limit : n);
        break;
    }
    case STORE_OP_CREATE:
    case STORE_OP_REPLACE: {
        int status = (int)val_i64(r, 0, 0);
        read_status_item(r, &one);
        res.n_items = 1;
        if (op->kind == STORE_OP_CREATE) {
            one.name = op->name;
            one.name_len = op->name_len;
            one.data = op->data;
            one.data_len = op->data_len;
            res.status = status == 3   ? STORE_REPLAYED
                         : status == 4 ? STORE_IDEMPOTENCY_MISMATCH
                                       : STORE_OK;
        } else {
            res.status = status == 1   ? STORE_NOT_FOUND
                         : status == 2 ? STORE_PRECONDITION_FAILED
                                       : STORE_OK;
            if (res.status != STORE_OK)
                res.n_items = 0;
        }
        break;
    }
    case STORE_OP_DELETE: {
        int status = (int)val_i64(r, 0, 0);
        res.status = status == 1   ? STORE_NOT_FOUND
                     : status == 2 ? STORE_PRECONDITION_FAILED
                                   : STORE_OK;
        break;
    }
    default:
        break;
    }
done:
    op->done(op, &res);
    free(many);
    PQclear(r);
}

static void commit_push(pg_conn_t *c, store_op_t *op, PGresult *r)
{
    op->scratch = (int64_t)(intptr_t)r;
    op->next = NULL;
    if (c->commit_tail != NULL)
        c->commit_tail->next = op;
    else
        c->commit_head = op;
    c->commit_tail = op;
}

/* The Sync arrived: every write before it is committed. */
static void commit_release(pg_conn_t *c)
{
    store_op_t *op = c->commit_head;

    c->commit_head = c->commit_tail = NULL;
    while (op != NULL) {
        store_op_t *next = op->next;
        deliver(c->w, op, (PGresult *)(intptr_t)op->scratch);
        op = next;
    }
}

static void conn_read_results(pg_conn_t *c)
{
    pg_worker_t *w = c->w;
    unsigned gen = c->generation;

    if (!PQconsumeInput(c->pg)) {
        conn_drop(c, PQerrorMessage(c->pg));
        return;
    }
    c->last_rx_ms = time_mono_ms();
    while (c->count > 0 && c->generation == gen && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        entry_t *e = fifo_front(c);

        if (e->kind == E_SYNC) {
            if (r == NULL)
                break; /* not there yet */
            ExecStatusType es = PQresultStatus(r);
            PQclear(r);
            fifo_pop(c);
            if (es != PGRES_PIPELINE_SYNC) {
                conn_drop(c, "pipeline out of step");
                return;
            }
            commit_release(c);
            continue;
        }
        if (r != NULL) {
            if (e->held == NULL)
                e->held = r;
            else
                PQclear(r); /* only one result per statement is expected */
            continue;
        }
        /* NULL: this statement is complete. */
        PGresult *held = e->held;
        store_op_t *op = e->op;
        bool abandoned = e->kind == E_ABANDONED;
        fifo_pop(c);
        if (!abandoned) {
            c->n_ops--;
            atomic_fetch_sub_explicit(&w->stat_inflight, 1, memory_order_relaxed);
        }
        if (abandoned) {
            PQclear(held);
        } else if (op_is_write(op) && held != NULL && PQresultStatus(held) == PGRES_TUPLES_OK) {
            commit_push(c, op, held);
        } else {
            deliver(w, op, held);
        }
    }
    if (c->generation == gen && c->pg != NULL)
        drain_waiting(w);
}

static void conn_on_event(loop_handler_t *h, uint32_t events)
{
    pg_conn_t *c = (pg_conn_t *)h;

    if (c->pg == NULL)
        return;
    if (events & EPOLLOUT) {
        conn_flush(c);
        if (c->pg == NULL)
            return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_read_results(c);
}

/* ---- deadlines ---- */

static int pg_tick(store_worker_t *base, int64_t now)
{
    pg_worker_t *w = (pg_worker_t *)base;
    const config_t *cfg = w->s->base.cfg;
    int next = -1;

    /* The wait queue is FIFO with one timeout: only the head can expire. */
    while (w->wait_head != NULL && w->wait_head->scratch <= now) {
        store_op_t *op = w->wait_head;
        wait_remove_head(w);
        w->s->base.timeouts++;
        complete_status(w, op, STORE_UNAVAILABLE);
    }
    if (w->wait_head != NULL)
        next = (int)(w->wait_head->scratch - now);
    if (now < w->next_check_ms) {
        int d = (int)(w->next_check_ms - now);
        return next < 0 || d < next ? d : next;
    }
    w->next_check_ms = now + CHECK_EVERY_MS;
    for (int i = 0; i < w->n_conns; i++) {
        pg_conn_t *c = &w->conns[i];
        if (c->state != PC_READY || c->count == 0)
            continue;
        if (now - c->last_rx_ms > cfg->db_statement_timeout_ms) {
            conn_drop(c, "no answer from the database within DB_STATEMENT_TIMEOUT_MS");
            continue;
        }
        /* A late answer is not worth waiting for: answer 503 now and drop
         * the result when (if) it comes. */
        size_t count = c->count;
        for (size_t k = 0; k < count && c->state == PC_READY; k++) {
            entry_t *e = &c->fifo[(c->head + k) % FIFO_CAP];
            if (e->kind != E_OP || e->op->deadline_ms > now)
                continue;
            store_op_t *op = e->op;
            e->kind = E_ABANDONED;
            e->op = NULL;
            c->n_ops--;
            atomic_fetch_sub_explicit(&w->stat_inflight, 1, memory_order_relaxed);
            w->s->base.timeouts++;
            complete_status(w, op, STORE_UNAVAILABLE);
        }
    }
    return next < 0 || CHECK_EVERY_MS < next ? CHECK_EVERY_MS : next;
}

/* End of a loop iteration: one Sync (and one write) per connection with
 * batched reads. */
static void pg_flush(store_worker_t *base)
{
    pg_worker_t *w = (pg_worker_t *)base;

    for (int i = 0; i < w->n_conns; i++) {
        pg_conn_t *c = &w->conns[i];
        if (c->state != PC_READY || !c->batch_open)
            continue;
        c->batch_open = false;
        if (!PQpipelineSync(c->pg)) {
            conn_drop(c, PQerrorMessage(c->pg));
            continue;
        }
        fifo_push(c, E_SYNC, NULL);
        conn_flush(c);
    }
}

/* ---- store lifecycle ---- */

static int pg_open(store_t **out, const config_t *cfg, err_t *err)
{
    pg_store_t *s = ia_calloc(1, sizeof(*s));
    PGconn *pg;

    s->base.be = &store_backend_pg;
    s->base.cfg = cfg;
    build_params(s, cfg);
    pg = connect_startup(s, cfg, err);
    if (pg == NULL)
        goto fail;
    if (migrate(pg, err) != IA_OK) {
        PQfinish(pg);
        goto fail;
    }
    PQfinish(pg);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->db_down, false);
    s->pool_size = (int)cfg->db_pool_size;
    s->n_workers = (int)cfg->worker_threads;
    s->workers = ia_calloc((size_t)s->n_workers, sizeof(*s->workers));
    *out = &s->base;
    return IA_OK;
fail:
    free(s->url);
    free(s->kw);
    free(s->val);
    free(s);
    return IA_ERR;
}

static int pg_migrate_only(const config_t *cfg, err_t *err)
{
    pg_store_t s;
    PGconn *pg;
    int rc;

    memset(&s, 0, sizeof(s));
    build_params(&s, cfg);
    pg = connect_startup(&s, cfg, err);
    rc = pg != NULL ? migrate(pg, err) : IA_ERR;
    PQfinish(pg);
    free(s.url);
    free(s.kw);
    free(s.val);
    return rc;
}

static store_worker_t *pg_worker_new(store_t *base, struct loop *loop, int index)
{
    pg_store_t *s = (pg_store_t *)base;
    pg_worker_t *w = ia_calloc(1, sizeof(*w));
    int share = s->pool_size / s->n_workers + (index < s->pool_size % s->n_workers ? 1 : 0);

    w->base.store = base;
    w->base.loop = loop;
    w->s = s;
    w->n_conns = share < 1 ? 1 : share;
    w->conns = ia_calloc((size_t)w->n_conns, sizeof(pg_conn_t));
    for (int i = 0; i < w->n_conns; i++) {
        w->conns[i].w = w;
        w->conns[i].fd = -1;
        w->conns[i].state = PC_CONNECTING;
    }
    s->workers[index] = w;
    return &w->base;
}

/* Called once every worker exists: the connector fills the pool. */
static void pg_start(store_t *base)
{
    pg_store_t *s = (pg_store_t *)base;

    for (int i = 0; i < s->n_workers; i++) {
        for (int k = 0; k < s->workers[i]->n_conns; k++)
            request_connect(s, &s->workers[i]->conns[k]);
    }
    if (pthread_create(&s->connector, NULL, connector_main, s) != 0)
        ia_fatal("cannot start the database connector thread");
    s->connector_started = true;
}

static void pg_worker_free(store_worker_t *base)
{
    pg_worker_t *w = (pg_worker_t *)base;

    for (int i = 0; i < w->n_conns; i++) {
        if (w->conns[i].pg != NULL)
            PQfinish(w->conns[i].pg);
        /* A connection the connector handed over just before pg_stop, whose
         * task_handover the worker's loop never ran: it is ours to close. */
        if (w->conns[i].handover != NULL)
            PQfinish(w->conns[i].handover);
    }
    free(w->conns);
    free(w);
}

static void pg_stop(store_t *base)
{
    pg_store_t *s = (pg_store_t *)base;
    struct timespec until;

    if (!s->connector_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* The connector may sit in a connect attempt (up to connect_timeout):
     * do not hold the exit hostage to it. */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    if (pthread_timedjoin_np(s->connector, NULL, &until) == 0)
        s->connector_started = false;
}

static void pg_close(store_t *base)
{
    pg_store_t *s = (pg_store_t *)base;

    pg_stop(base);
    if (s->connector_started)
        return; /* still connecting: it owns s; the process is exiting anyway */
    free(s->workers);
    if (s->url != NULL)
        explicit_bzero(s->url, strlen(s->url));
    free(s->url);
    free(s->kw);
    free(s->val);
    free(s);
}

static void pg_stats(store_t *base, store_stats_t *out)
{
    pg_store_t *s = (pg_store_t *)base;

    for (int i = 0; i < s->n_workers; i++) {
        pg_worker_t *w = s->workers[i];
        if (w == NULL)
            continue;
        out->size += w->n_conns;
        out->ready += atomic_load_explicit(&w->stat_ready, memory_order_relaxed);
        out->in_flight += atomic_load_explicit(&w->stat_inflight, memory_order_relaxed);
        out->waiting += atomic_load_explicit(&w->stat_waiting, memory_order_relaxed);
    }
}

const store_backend_t store_backend_pg = {
    .name = "postgres",
    .open = pg_open,
    .migrate_only = pg_migrate_only,
    .start = pg_start,
    .stop = pg_stop,
    .close = pg_close,
    .worker_new = pg_worker_new,
    .worker_free = pg_worker_free,
    .submit = pg_submit,
    .tick = pg_tick,
    .flush = pg_flush,
    .stats = pg_stats,
};
