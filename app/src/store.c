#include "store.h"

#include "log.h"
#include "timeutil.h"

#include <stdatomic.h>
#include <string.h>

static const store_backend_t *backend_for(const config_t *cfg)
{
    return cfg->db_kind == DB_KIND_POSTGRES ? &store_backend_pg : &store_backend_sqlite;
}

int store_open(store_t **out, const config_t *cfg, err_t *err)
{
    return backend_for(cfg)->open(out, cfg, err);
}

int store_migrate_only(const config_t *cfg, err_t *err)
{
    return backend_for(cfg)->migrate_only(cfg, err);
}

void store_start(store_t *s)
{
    if (s->be->start != NULL)
        s->be->start(s);
}

void store_stop(store_t *s)
{
    if (s->be->stop != NULL)
        s->be->stop(s);
}

void store_close(store_t *s)
{
    s->be->close(s);
}

store_worker_t *store_worker_new(store_t *s, struct loop *loop, int index)
{
    return s->be->worker_new(s, loop, index);
}

void store_worker_free(store_worker_t *w)
{
    w->store->be->worker_free(w);
}

void store_submit(store_worker_t *w, store_op_t *op)
{
    w->store->be->submit(w, op);
}

int store_worker_tick(store_worker_t *w, int64_t now_ms)
{
    return w->store->be->tick != NULL ? w->store->be->tick(w, now_ms) : -1;
}

void store_worker_flush(store_worker_t *w)
{
    if (w->store->be->flush != NULL)
        w->store->be->flush(w);
}

void store_get_stats(store_t *s, store_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    s->be->stats(s, out);
    out->errors = s->errors;
    out->timeouts = s->timeouts;
}

const char *store_kind_name(const store_t *s)
{
    return s->be->name;
}

void store_note_error(store_t *s, const char *what, const char *detail)
{
    int64_t now = time_mono_ms();
    int64_t last = s->last_error_log_ms;

    s->errors++;
    /* At most one line per second: an outage must not flood the log. */
    if (now - last < 1000 && last != 0)
        return;
    if (!atomic_compare_exchange_strong_explicit(&s->last_error_log_ms, &last, now,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    log_line_t l;
    if (log_begin(&l, LOG_ERROR, "database error")) {
        log_str(&l, "what", what);
        if (detail != NULL) {
            size_t n = strlen(detail);
            while (n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == ' '))
                n--;
            log_strn(&l, "error", detail, n);
        }
        log_end(&l);
    }
}
