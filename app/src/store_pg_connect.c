#include "store_pg_connect.h"

#include "log.h"
#include "migrate.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- statements ---- */

const pg_stmt_t pg_stmts[ST_COUNT] = {
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

/* ---- connecting (blocking; start-up and connector thread) ---- */

void pg_params_build(pg_store_t *s, const config_t *cfg)
{
    /* Our defaults come first; the URI (dbname, expanded) comes last, so
     * anything the operator wrote in DATABASE_URL wins. */
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "tcp_user_timeout",
                                       "application_name",
                                       "options",
                                       "target_session_attrs",
                                       "dbname",
                                       NULL};
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
    /* target_session_attrs=read-write: after a failover the name may still
     * (or again) lead to a server that answers as a standby or is read-only;
     * libpq then refuses the session ("session is read-only") and the
     * connector retries, so the pool only ever holds sessions that can
     * write. A target_session_attrs in DATABASE_URL wins (it comes later);
     * PGTARGETSESSIONATTRS in the environment does not (libpq reads the
     * environment only for parameters not given). */
    const char *vals[] = {
        s->connect_timeout, "1",          "5",    "2", "2", s->tcp_user_timeout, "items-api",
        s->statement_opt,   "read-write", s->url, NULL};
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

/*
 * Every call is a fresh PQconnectdbParams with the host *name* from
 * DATABASE_URL (we never pass hostaddr): libpq resolves it with
 * getaddrinfo on every new connection and keeps no address between
 * connections, and glibc reads /etc/hosts (and re-reads a changed
 * resolv.conf) on every lookup; the image runs no nscd. So a failover that
 * points the name at another server (RDS's endpoint, the stack's
 * /etc/netns hosts or dnsmasq) is followed by the next connection the
 * connector opens. Only the resolver's own TTL (RDS: 5 s) delays it.
 */
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
PGconn *pg_connect_startup(pg_store_t *s, const config_t *cfg, err_t *err)
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

int pg_migrate(PGconn *pg, err_t *err)
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
        PGresult *r = PQprepare(pg, pg_stmts[i].name, pg_stmts[i].sql, pg_stmts[i].nparams, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(why, why_len, "prepare %s: %s", pg_stmts[i].name, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok)
            return IA_ERR;
    }
    return IA_OK;
}

/* ---- is a session still fit for the pool? (the worker asks) ---- */

bool pg_session_needs_primary(PGconn *pg)
{
    PQconninfoOption *opts = PQconninfo(pg);
    bool needs = false;

    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "target_session_attrs") == 0 && o->val != NULL)
            needs = strcmp(o->val, "read-write") == 0 || strcmp(o->val, "primary") == 0;
    }
    PQconninfoFree(opts);
    return needs;
}

const char *pg_session_read_only(const PGconn *pg)
{
    /* ParameterStatus: PostgreSQL 14+ reports in_hot_standby and
     * default_transaction_read_only (at connect and whenever they change,
     * e.g. ALTER SYSTEM + pg_reload_conf(), or a promotion);
     * transaction_read_only is checked in case a server reports it. */
    static const char *const params[] = {"in_hot_standby", "default_transaction_read_only",
                                         "transaction_read_only"};

    for (size_t i = 0; i < IA_ARRAY_LEN(params); i++) {
        const char *v = PQparameterStatus(pg, params[i]);
        if (v != NULL && strcmp(v, "on") == 0)
            return params[i];
    }
    return NULL;
}

bool pg_sqlstate_ends_session(const char *state)
{
    if (state == NULL || strlen(state) != 5)
        return false;
    return strncmp(state, "08", 2) == 0 || /* connection exception */
           strcmp(state, "25006") == 0 ||  /* read_only_sql_transaction: a standby */
           strcmp(state, "57P01") == 0 ||  /* admin_shutdown */
           strcmp(state, "57P02") == 0 ||  /* crash_shutdown */
           strcmp(state, "57P03") == 0;    /* cannot_connect_now */
}

void pg_params_free(pg_store_t *s)
{
    if (s->url != NULL)
        explicit_bzero(s->url, strlen(s->url));
    free(s->url);
    free(s->kw);
    free(s->val);
    s->url = NULL;
    s->kw = s->val = NULL;
}

/* ---- connector thread ---- */

void pg_connect_request(pg_store_t *s, pg_conn_t *c)
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

void *pg_connector_main(void *arg)
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
            loop_post(c->w->base.loop, s->handover, c);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        atomic_store(&s->db_down, true);
        store_note_error(&s->base, "connect", why);
        /* Retry soon: recovery must follow the database within a second or
         * two, but a dead database must not be hammered. */
        delay = delay == 0 ? 50 : (delay * 2 > 500 ? 500 : delay * 2);
        time_sleep_ms(delay);
        pg_connect_request(s, c);
    }
}
