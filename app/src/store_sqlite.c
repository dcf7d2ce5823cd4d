/*
 * The SQLite back end: the embedded default. One connection per process in
 * WAL mode with synchronous=FULL (an acknowledged write survives a power
 * cut), serialized by a mutex; calls complete synchronously on the calling
 * worker. Results are copied out before the callback runs so a callback may
 * submit the next operation (PATCH does).
 */
#include "store.h"

#include "arena.h"
#include "log.h"
#include "migrate.h"
#include "timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* How long a statement waits for another connection's lock while serving. */
#define SQLITE_BUSY_MS 5000

enum {
    Q_GET,
    Q_LIST,
    Q_INSERT,
    Q_IDEM_GET,
    Q_IDEM_PUT,
    Q_VERSION,
    Q_UPDATE,
    Q_DELETE,
    Q_PURGE,
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_GET] = "SELECT id, name, data, version, created_ms, updated_ms FROM items WHERE id = ?1",
    [Q_LIST] = "SELECT id, name, data, version, created_ms, updated_ms FROM items "
               "WHERE id > ?1 ORDER BY id LIMIT ?2",
    [Q_INSERT] = "INSERT INTO items (name, data, version, created_ms, updated_ms) "
                 "VALUES (?1, ?2, 1, ?3, ?3) RETURNING id",
    [Q_IDEM_GET] = "SELECT request_hash, item_id, created_ms FROM idempotency_keys "
                   "WHERE scope = ?1 AND key = ?2",
    [Q_IDEM_PUT] = "INSERT INTO idempotency_keys (scope, key, request_hash, item_id, created_ms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_VERSION] = "SELECT version FROM items WHERE id = ?1",
    [Q_UPDATE] = "UPDATE items SET name = ?2, data = ?3, version = version + 1, "
                 "updated_ms = max(?4, created_ms) WHERE id = ?1 "
                 "RETURNING id, name, data, version, created_ms, updated_ms",
    [Q_DELETE] = "DELETE FROM items WHERE id = ?1",
    [Q_PURGE] = "DELETE FROM idempotency_keys WHERE created_ms < ?1",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

typedef struct {
    store_t base;
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *q[Q_COUNT];
} sqlite_store_t;

typedef struct {
    store_worker_t base;
    arena_t results; /* copies handed to callbacks; reset per operation */
} sqlite_worker_t;

static sqlite_store_t *S(store_t *s)
{
    return (sqlite_store_t *)s;
}

/* Busy (another process holds the lock past busy_timeout), full disk or I/O
 * errors are outages (503); anything else is a bug (500). */
static store_status_t classify(sqlite_store_t *s, int rc, const char *what)
{
    store_note_error(&s->base, what, sqlite3_errstr(rc));
    switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
        return STORE_UNAVAILABLE;
    default:
        return STORE_ERROR;
    }
}

static int exec_sql(sqlite3 *db, const char *sql, err_t *err)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, "sqlite: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return IA_ERR;
    }
    return IA_OK;
}

static int make_parent_dirs(const char *path, err_t *err)
{
    char *copy = strdup(path);
    int rc = IA_OK;

    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            err_set(err, "DATABASE_URL: cannot create directory %s: %s", copy, strerror(errno));
            rc = IA_ERR;
            break;
        }
        *p = '/';
    }
    free(copy);
    return rc;
}

/* A lock held by another connection: worth waiting for at start-up. */
static bool is_busy(int rc)
{
    rc &= 0xFF;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Runs one statement; on failure says whether another connection's lock
 * was the cause. */
static int exec_step(sqlite3 *db, const char *sql, bool *busy, err_t *err)
{
    int rc = exec_sql(db, sql, err);

    if (rc != IA_OK && is_busy(sqlite3_errcode(db)))
        *busy = true;
    return rc;
}

/*
 * Everything, the bookkeeping table included, happens inside one
 * BEGIN IMMEDIATE: concurrent starters queue on the write lock, and the
 * first one to get it applies what is missing.
 */
static int migrate(sqlite3 *db, bool *busy, err_t *err)
{
    int rc = IA_ERR;

    if (exec_step(db, "BEGIN IMMEDIATE", busy, err) != IA_OK)
        return IA_ERR;
    if (exec_step(db,
                  "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                  "name TEXT NOT NULL, applied_ms INTEGER NOT NULL)",
                  busy, err) != IA_OK)
        goto cleanup;
    for (size_t i = 0; i < n_migrations_sqlite; i++) {
        const migration_t *m = &migrations_sqlite[i];
        sqlite3_stmt *st;
        bool applied;
        char sql[160];

        if (sqlite3_prepare_v2(db, "SELECT 1 FROM schema_migrations WHERE version = ?1", -1, &st,
                               NULL) != SQLITE_OK) {
            err_set(err, "sqlite: %s", sqlite3_errmsg(db));
            goto cleanup;
        }
        sqlite3_bind_int(st, 1, m->version);
        applied = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (applied)
            continue;
        if (exec_step(db, m->sql, busy, err) != IA_OK)
            goto cleanup;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (%d, '%s', "
                 "%lld)",
                 m->version, m->name, (long long)time_now_ms());
        if (exec_step(db, sql, busy, err) != IA_OK)
            goto cleanup;
        log_msg_str(LOG_INFO, "migration applied", "migration", m->name);
    }
    if (exec_step(db, "COMMIT", busy, err) != IA_OK)
        goto cleanup;
    rc = IA_OK;
cleanup:
    if (rc != IA_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/*
 * Switching a new file to WAL needs an exclusive lock. When another
 * connection holds one, SQLite keeps the old mode and says so only in the
 * pragma's result row, so the row is checked: a database left in rollback
 * mode would silently lose WAL's concurrency.
 */
static int enable_wal(sqlite3 *db, bool memory, bool *busy, err_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = IA_ERR;
    int step;

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) {
        err_set(err, "sqlite: %s", sqlite3_errmsg(db));
        goto cleanup;
    }
    step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        *busy = is_busy(step);
        err_set(err, "sqlite: %s", sqlite3_errmsg(db));
        goto cleanup;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!memory && (mode == NULL || strcmp(mode, "wal") != 0)) {
        *busy = true;
        err_set(err, "sqlite: database is locked (journal mode still %s)", mode ? mode : "unknown");
        goto cleanup;
    }
    rc = IA_OK;
cleanup:
    sqlite3_finalize(st);
    return rc;
}

/* One attempt at opening and migrating; *busy says a lock was in the way. */
static int open_once(const config_t *cfg, int64_t wait_ms, sqlite3 **out, bool *busy, err_t *err)
{
    sqlite3 *db = NULL;
    const char *path = cfg->sqlite_path;
    bool memory = strcmp(path, ":memory:") == 0;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = IA_ERR;

    *busy = false;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        err_set(err, "DATABASE_URL: cannot open SQLite database %s: %s", path,
                db ? sqlite3_errmsg(db) : "out of memory");
        goto cleanup;
    }
    /* At start-up a statement may wait for a lock until the start-up
     * deadline; serving waits at most SQLITE_BUSY_MS (then 503). */
    sqlite3_busy_timeout(db, (int)wait_ms);
    if (enable_wal(db, memory, busy, err) != IA_OK ||
        exec_step(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", busy, err) != IA_OK ||
        migrate(db, busy, err) != IA_OK)
        goto cleanup;
    sqlite3_busy_timeout(db, SQLITE_BUSY_MS);
    *out = db; /* the caller owns it now */
    db = NULL;
    rc = IA_OK;
cleanup:
    sqlite3_close(db);
    return rc;
}

/*
 * Like the PostgreSQL start-up: another process holding the lock (several
 * instances starting on one file, a long write) is waited for, with
 * backoff, until DB_STARTUP_TIMEOUT_SECONDS; other errors fail at once.
 */
static int open_db(const config_t *cfg, sqlite3 **out, err_t *err)
{
    int64_t deadline = time_mono_ms() + cfg->db_startup_timeout_s * 1000;
    int64_t delay = 50;
    bool busy;

    if (strcmp(cfg->sqlite_path, ":memory:") != 0 &&
        make_parent_dirs(cfg->sqlite_path, err) != IA_OK)
        return IA_ERR;
    for (int attempt = 1;; attempt++) {
        int64_t left = deadline - time_mono_ms();

        if (open_once(cfg, left > 0 ? left : 0, out, &busy, err) == IA_OK)
            return IA_OK;
        if (!busy)
            return IA_ERR;
        left = deadline - time_mono_ms();
        if (left <= 0) {
            err_set(err,
                    "DATABASE_URL: SQLite database %s still locked by another process after %llds "
                    "(DB_STARTUP_TIMEOUT_SECONDS)",
                    cfg->sqlite_path, (long long)cfg->db_startup_timeout_s);
            return IA_ERR;
        }
        log_line_t l;
        if (log_begin(&l, LOG_WARN, "database locked by another process; retrying")) {
            log_str(&l, "database", cfg->db_redacted);
            log_int(&l, "attempt", attempt);
            log_str(&l, "error", err->msg);
            log_end(&l);
        }
        time_sleep_ms(delay < left ? delay : left);
        delay = delay * 2 > 1000 ? 1000 : delay * 2;
    }
}

static int sqlite_open(store_t **out, const config_t *cfg, err_t *err)
{
    sqlite_store_t *s = ia_calloc(1, sizeof(*s));
    int rc = IA_ERR;

    s->base.be = &store_backend_sqlite;
    s->base.cfg = cfg;
    if (open_db(cfg, &s->db, err) != IA_OK)
        goto cleanup;
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) !=
            SQLITE_OK) {
            err_set(err, "sqlite: cannot prepare statement: %s", sqlite3_errmsg(s->db));
            goto cleanup;
        }
    }
    pthread_mutex_init(&s->mu, NULL);
    *out = &s->base;
    s = NULL; /* the caller owns it now */
    rc = IA_OK;
cleanup:
    if (s != NULL) {
        for (int i = 0; i < Q_COUNT; i++)
            sqlite3_finalize(s->q[i]);
        sqlite3_close(s->db);
        free(s);
    }
    return rc;
}

static int sqlite_migrate_only(const config_t *cfg, err_t *err)
{
    sqlite3 *db;

    if (open_db(cfg, &db, err) != IA_OK)
        return IA_ERR;
    sqlite3_close(db);
    return IA_OK;
}

static void sqlite_close(store_t *base)
{
    sqlite_store_t *s = S(base);

    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->q[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static store_worker_t *sqlite_worker_new(store_t *s, struct loop *loop, int index)
{
    sqlite_worker_t *w = ia_calloc(1, sizeof(*w));

    IA_UNUSED(index);
    w->base.store = s;
    w->base.loop = loop;
    arena_init(&w->results, 16384);
    return &w->base;
}

static void sqlite_worker_free(store_worker_t *base)
{
    sqlite_worker_t *w = (sqlite_worker_t *)base;

    arena_free(&w->results);
    free(w);
}

static void read_item(arena_t *a, sqlite3_stmt *st, item_t *it)
{
    it->id = sqlite3_column_int64(st, 0);
    it->name_len = (size_t)sqlite3_column_bytes(st, 1);
    it->name = arena_memdup(a, sqlite3_column_text(st, 1), it->name_len);
    it->data_len = (size_t)sqlite3_column_bytes(st, 2);
    it->data = arena_memdup(a, sqlite3_column_text(st, 2), it->data_len);
    it->version = sqlite3_column_int64(st, 3);
    it->created_ms = sqlite3_column_int64(st, 4);
    it->updated_ms = sqlite3_column_int64(st, 5);
}

/* Runs one statement to completion (no rows expected). */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static bool version_matches(const store_op_t *op, int64_t version)
{
    if (op->n_if_match == 0)
        return true;
    for (int i = 0; i < op->n_if_match; i++) {
        if (op->if_match[i] == version)
            return true;
    }
    return false;
}

/* Every operation below runs under s->mu and fills res from copies. */

static store_status_t op_get(sqlite_store_t *s, arena_t *a, store_op_t *op, store_result_t *res,
                             item_t *items)
{
    sqlite3_stmt *st = s->q[Q_GET];
    int rc;

    sqlite3_bind_int64(st, 1, op->id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_item(a, st, &items[0]);
        res->n_items = 1;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : classify(s, rc, "get");
}

static store_status_t op_list(sqlite_store_t *s, arena_t *a, store_op_t *op, store_result_t *res)
{
    sqlite3_stmt *st = s->q[Q_LIST];
    item_t *items = arena_alloc(a, sizeof(item_t) * (size_t)(op->limit + 1));
    size_t n = 0;
    int rc;

    sqlite3_bind_int64(st, 1, op->after_id);
    sqlite3_bind_int(st, 2, op->limit + 1); /* one extra row says whether more exist */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        read_item(a, st, &items[n++]);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return classify(s, rc, "list");
    res->has_more = n > (size_t)op->limit;
    res->n_items = res->has_more ? (size_t)op->limit : n;
    res->items = items;
    return STORE_OK;
}

static store_status_t op_create(sqlite_store_t *s, store_op_t *op, store_result_t *res, item_t *it)
{
    int64_t now = time_now_ms();
    bool txn = op->idem_key != NULL;
    store_status_t status = STORE_OK;
    int rc;

    if (txn && (rc = step_done(s->q[Q_BEGIN])) != SQLITE_OK)
        return classify(s, rc, "begin");
    if (txn) {
        sqlite3_stmt *st = s->q[Q_IDEM_GET];
        sqlite3_bind_text(st, 1, op->idem_scope, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, op->idem_key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            bool same = strcmp((const char *)sqlite3_column_text(st, 0), op->idem_hash) == 0;
            it->id = sqlite3_column_int64(st, 1);
            it->created_ms = it->updated_ms = sqlite3_column_int64(st, 2);
            it->version = 1;
            status = same ? STORE_REPLAYED : STORE_IDEMPOTENCY_MISMATCH;
        } else if (rc != SQLITE_DONE) {
            status = classify(s, rc, "idempotency lookup");
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            goto cleanup;
    }
    sqlite3_stmt *st = s->q[Q_INSERT];
    sqlite3_bind_text(st, 1, op->name, (int)op->name_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, op->data, (int)op->data_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        it->id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        status = classify(s, rc, "insert");
        goto cleanup;
    }
    it->name = op->name;
    it->name_len = op->name_len;
    it->data = op->data;
    it->data_len = op->data_len;
    it->version = 1;
    it->created_ms = it->updated_ms = now;
    if (txn) {
        st = s->q[Q_IDEM_PUT];
        sqlite3_bind_text(st, 1, op->idem_scope, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, op->idem_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, op->idem_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, it->id);
        sqlite3_bind_int64(st, 5, now);
        if ((rc = step_done(st)) != SQLITE_OK)
            status = classify(s, rc, "idempotency insert");
    }
cleanup:
    if (txn) {
        if (status == STORE_OK || status == STORE_REPLAYED ||
            status == STORE_IDEMPOTENCY_MISMATCH) {
            if ((rc = step_done(s->q[Q_COMMIT])) != SQLITE_OK) {
                status = classify(s, rc, "commit");
                step_done(s->q[Q_ROLLBACK]);
            }
        } else {
            step_done(s->q[Q_ROLLBACK]);
        }
    }
    res->n_items = 1;
    return status;
}

/* Looks up the version inside the transaction: NOT_FOUND, PRECONDITION or OK. */
static store_status_t check_version(sqlite_store_t *s, store_op_t *op)
{
    sqlite3_stmt *st = s->q[Q_VERSION];
    store_status_t status;
    int rc;

    sqlite3_bind_int64(st, 1, op->id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        status =
            version_matches(op, sqlite3_column_int64(st, 0)) ? STORE_OK : STORE_PRECONDITION_FAILED;
    else if (rc == SQLITE_DONE)
        status = STORE_NOT_FOUND;
    else
        status = classify(s, rc, "version lookup");
    sqlite3_reset(st);
    return status;
}

static store_status_t op_replace(sqlite_store_t *s, arena_t *a, store_op_t *op, store_result_t *res,
                                 item_t *it)
{
    store_status_t status;
    int rc;

    if ((rc = step_done(s->q[Q_BEGIN])) != SQLITE_OK)
        return classify(s, rc, "begin");
    status = check_version(s, op);
    if (status == STORE_OK) {
        sqlite3_stmt *st = s->q[Q_UPDATE];
        sqlite3_bind_int64(st, 1, op->id);
        sqlite3_bind_text(st, 2, op->name, (int)op->name_len, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, op->data, (int)op->data_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, time_now_ms());
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            read_item(a, st, it);
            res->n_items = 1;
        } else {
            status = classify(s, rc, "update");
        }
        sqlite3_reset(st);
    }
    if (status == STORE_OK && (rc = step_done(s->q[Q_COMMIT])) != SQLITE_OK)
        status = classify(s, rc, "commit");
    if (status != STORE_OK)
        step_done(s->q[Q_ROLLBACK]);
    return status;
}

static store_status_t op_delete(sqlite_store_t *s, store_op_t *op)
{
    store_status_t status;
    int rc;

    if ((rc = step_done(s->q[Q_BEGIN])) != SQLITE_OK)
        return classify(s, rc, "begin");
    status = check_version(s, op);
    if (status == STORE_OK) {
        sqlite3_bind_int64(s->q[Q_DELETE], 1, op->id);
        if ((rc = step_done(s->q[Q_DELETE])) != SQLITE_OK)
            status = classify(s, rc, "delete");
    }
    if (status == STORE_OK && (rc = step_done(s->q[Q_COMMIT])) != SQLITE_OK)
        status = classify(s, rc, "commit");
    if (status != STORE_OK)
        step_done(s->q[Q_ROLLBACK]);
    return status;
}

static void sqlite_submit(store_worker_t *base, store_op_t *op)
{
    sqlite_worker_t *w = (sqlite_worker_t *)base;
    sqlite_store_t *s = S(base->store);
    store_result_t res = {0};
    item_t one;
    int rc;

    memset(&one, 0, sizeof(one));
    res.items = &one;
    pthread_mutex_lock(&s->mu);
    switch (op->kind) {
    case STORE_OP_GET:
        res.status = op_get(s, &w->results, op, &res, &one);
        break;
    case STORE_OP_LIST:
        res.status = op_list(s, &w->results, op, &res);
        break;
    case STORE_OP_CREATE:
        res.status = op_create(s, op, &res, &one);
        break;
    case STORE_OP_REPLACE:
        res.status = op_replace(s, &w->results, op, &res, &one);
        break;
    case STORE_OP_DELETE:
        res.status = op_delete(s, op);
        break;
    case STORE_OP_PING:
        res.status = STORE_OK;
        break;
    case STORE_OP_PURGE_IDEMPOTENCY:
        sqlite3_bind_int64(s->q[Q_PURGE], 1,
                           time_now_ms() - (int64_t)STORE_IDEMPOTENCY_TTL_HOURS * 3600 * 1000);
        rc = step_done(s->q[Q_PURGE]);
        res.status = rc == SQLITE_OK ? STORE_OK : classify(s, rc, "purge");
        break;
    }
    /* Statements keep no pointers to our buffers once reset. */
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_clear_bindings(s->q[i]);
    pthread_mutex_unlock(&s->mu);
    if (res.status != STORE_OK && res.status != STORE_REPLAYED &&
        res.status != STORE_IDEMPOTENCY_MISMATCH)
        res.n_items = 0;
    op->done(op, &res);
    arena_reset(&w->results);
}

static void sqlite_stats(store_t *base, store_stats_t *out)
{
    IA_UNUSED(base);
    out->size = 1;
    out->ready = 1;
}

const store_backend_t store_backend_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .migrate_only = sqlite_migrate_only,
    .close = sqlite_close,
    .worker_new = sqlite_worker_new,
    .worker_free = sqlite_worker_free,
    .submit = sqlite_submit,
    .stats = sqlite_stats,
};
