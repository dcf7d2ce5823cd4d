#include "store_pg_pipeline.h"

#include "log.h"
#include "store_pg_connect.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool op_is_write(const store_op_t *op)
{
    return op->kind == STORE_OP_CREATE || op->kind == STORE_OP_REPLACE ||
           op->kind == STORE_OP_DELETE || op->kind == STORE_OP_PURGE_IDEMPOTENCY;
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
    pg_connect_request(w->s, c);
    while (fail_head != NULL) {
        store_op_t *next = fail_head->next;
        complete_status(w, fail_head, STORE_UNAVAILABLE);
        fail_head = next;
    }
}

void pg_conn_handover(void *arg)
{
    pg_conn_t *c = arg;
    pg_worker_t *w = c->w;

    c->pg = c->handover;
    c->handover = NULL;
    c->fd = PQsocket(c->pg);
    c->needs_primary = pg_session_needs_primary(c->pg);
    c->state = PC_READY;
    c->last_rx_ms = time_mono_ms();
    c->h.fn = conn_on_event;
    if (loop_add(w->base.loop, c->fd, EPOLLIN, &c->h) != IA_OK) {
        c->state = PC_CONNECTING;
        PQfinish(c->pg);
        c->pg = NULL;
        pg_connect_request(w->s, c);
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
    if (!PQsendQueryPrepared(c->pg, pg_stmts[st].name, n, values, lengths, formats, 0))
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

static bool pg_every_worker_connected(const pg_store_t *s)
{
    for (int i = 0; i < s->n_workers; i++) {
        if (atomic_load_explicit(&s->workers[i]->stat_ready, memory_order_relaxed) == 0)
            return false;
    }
    return true;
}

void pg_submit(store_worker_t *base, store_op_t *op)
{
    pg_worker_t *w = (pg_worker_t *)base;
    const config_t *cfg = w->s->base.cfg;
    int64_t now = time_mono_ms();
    int64_t timeout = op->timeout_ms > 0 ? op->timeout_ms : cfg->db_statement_timeout_ms;

    op->next = NULL;
    op->queued_ms = now;
    op->deadline_ms = now + timeout;
    /* Ready (/readyz's ping) means every worker can serve: the balancer sends
     * a request to whichever worker accepts it, and one without a connection
     * would make it wait DB_POOL_TIMEOUT_MS or answer 503. */
    if (op->kind == STORE_OP_PING && !pg_every_worker_connected(w->s)) {
        complete_status(w, op, STORE_UNAVAILABLE);
        return;
    }
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
        goto cleanup;
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
cleanup:
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

/*
 * A demoted or read-only server must not poison the pool: a session whose
 * server reports itself read-only (ParameterStatus, e.g. after ALTER SYSTEM
 * SET default_transaction_read_only + reload, or a server that came back
 * as a standby) or whose libpq connection broke is dropped and opened
 * again through the host name (see connect_once). Returns false when it
 * dropped c.
 */
static bool conn_still_fit(pg_conn_t *c)
{
    char why[160];
    const char *ro;

    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_drop(c, PQerrorMessage(c->pg));
        return false;
    }
    ro = c->needs_primary ? pg_session_read_only(c->pg) : NULL;
    if (ro == NULL)
        return true;
    snprintf(why, sizeof(why), "the server is read-only (%s=on); reconnecting", ro);
    conn_drop(c, why);
    return false;
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
        const char *state = held ? PQresultErrorField(held, PG_DIAG_SQLSTATE) : NULL;
        fifo_pop(c);
        if (!abandoned) {
            c->n_ops--;
            atomic_fetch_sub_explicit(&w->stat_inflight, 1, memory_order_relaxed);
        }
        if (pg_sqlstate_ends_session(state)) {
            /* Drop before answering: what is queued behind it fails with
             * 503, and nothing the answer triggers is sent on this session.
             * The op itself gets 503 (classify). */
            char why[64];
            snprintf(why, sizeof(why), "SQLSTATE %s; reconnecting", state);
            conn_drop(c, why);
        }
        if (abandoned) {
            PQclear(held);
        } else if (op_is_write(op) && held != NULL && PQresultStatus(held) == PGRES_TUPLES_OK) {
            commit_push(c, op, held);
        } else {
            deliver(w, op, held);
        }
    }
    if (c->generation == gen && c->pg != NULL && conn_still_fit(c))
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

int pg_tick(store_worker_t *base, int64_t now)
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
void pg_flush(store_worker_t *base)
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
