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
 *
 * This file is the back end's lifecycle; store_pg_connect.c connects and
 * migrates, store_pg_pipeline.c runs the pipeline (store_pg_types.h).
 */
#include "store.h"

#include "store_pg_connect.h"
#include "store_pg_pipeline.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- store lifecycle ---- */

static int pg_open(store_t **out, const config_t *cfg, err_t *err)
{
    pg_store_t *s = ia_calloc(1, sizeof(*s));
    PGconn *pg;
    int rc = IA_ERR;

    s->base.be = &store_backend_pg;
    s->base.cfg = cfg;
    s->handover = pg_conn_handover;
    pg_params_build(s, cfg);
    pg = pg_connect_startup(s, cfg, err);
    if (pg == NULL)
        goto cleanup;
    if (pg_migrate(pg, err) != IA_OK) {
        PQfinish(pg);
        goto cleanup;
    }
    PQfinish(pg);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->db_down, false);
    s->pool_size = (int)cfg->db_pool_size;
    s->n_workers = (int)cfg->worker_threads;
    s->workers = ia_calloc((size_t)s->n_workers, sizeof(*s->workers));
    *out = &s->base;
    s = NULL; /* the caller owns it now */
    rc = IA_OK;
cleanup:
    if (s != NULL) {
        pg_params_free(s);
        free(s);
    }
    return rc;
}

static int pg_migrate_only(const config_t *cfg, err_t *err)
{
    pg_store_t s;
    PGconn *pg;
    int rc;

    memset(&s, 0, sizeof(s));
    pg_params_build(&s, cfg);
    pg = pg_connect_startup(&s, cfg, err);
    rc = pg != NULL ? pg_migrate(pg, err) : IA_ERR;
    PQfinish(pg);
    pg_params_free(&s);
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

/* Called once every worker exists: the connector fills the pool, one
 * connection at a time, round-robin over the workers: each worker can serve
 * after n_workers connects, not after the whole slices before its own (16
 * connections on 2 workers: worker 1's first was the 9th, seconds on a busy
 * host, while worker 0 already answered /readyz). */
static void pg_start(store_t *base)
{
    pg_store_t *s = (pg_store_t *)base;
    int most = 0;

    for (int i = 0; i < s->n_workers; i++)
        most = s->workers[i]->n_conns > most ? s->workers[i]->n_conns : most;
    for (int k = 0; k < most; k++) {
        for (int i = 0; i < s->n_workers; i++) {
            if (k < s->workers[i]->n_conns)
                pg_connect_request(s, &s->workers[i]->conns[k]);
        }
    }
    if (pthread_create(&s->connector, NULL, pg_connector_main, s) != 0)
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
         * pg_conn_handover the worker's loop never ran: it is ours to close. */
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
    pg_params_free(s);
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
