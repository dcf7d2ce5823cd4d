/* Operational endpoints: liveness, readiness, metrics. */
#include "handler_ops.h"

#include "http_response.h"
#include "worker.h"

#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void handle_healthz(exchange_t *ex)
{
    static const char body[] = "{\"status\":\"ok\"}";

    /* No database access: this answers "is the process alive", so a database
     * outage never makes the load balancer kill healthy instances. */
    http_add_header(ex, "Cache-Control", "no-store", 8);
    http_respond(ex, 200, "application/json", body, sizeof(body) - 1);
}

static void on_ping(store_op_t *op, const store_result_t *res)
{
    exchange_t *ex = op->arg;
    static const char body[] = "{\"status\":\"ready\"}";

    if (res->status == STORE_OK) {
        http_add_header(ex, "Cache-Control", "no-store", 8);
        http_respond(ex, 200, "application/json", body, sizeof(body) - 1);
    } else {
        http_problem_unavailable(ex, "database unavailable");
    }
}

void handle_readyz(exchange_t *ex)
{
    if (atomic_load(&ex->worker->srv->phase) != PHASE_RUNNING) {
        http_problem_unavailable(ex, "draining: the process is shutting down");
        return;
    }
    /* The op lives as long as the request: in its arena. */
    store_op_t *op = arena_alloc(&ex->arena, sizeof(*op));

    memset(op, 0, sizeof(*op));
    op->kind = STORE_OP_PING;
    op->timeout_ms = 1000;
    op->done = on_ping;
    op->arg = ex;
    store_submit(ex->worker->store, op);
}

void handle_metrics(exchange_t *ex)
{
    server_t *srv = ex->worker->srv;
    buf_t *b = &ex->worker->scratch;
    metrics_info_t info;

    memset(&info, 0, sizeof(info));
    info.version = srv->version;
    info.revision = srv->revision;
    info.start_time = srv->start_time;
    info.conns_open = atomic_load_explicit(&srv->conns_open, memory_order_relaxed);
    info.db_kind = store_kind_name(srv->store);
    info.draining = atomic_load(&srv->phase) != PHASE_RUNNING;
    store_get_stats(srv->store, &info.db);
    buf_clear(b);
    metrics_render(b, srv->shards, srv->n_workers, &info);
    http_add_header(ex, "Cache-Control", "no-store", 8);
    http_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", b->data, b->len);
}

#ifdef IA_TEST_HOOKS
/* Test builds only: lets a test prove the seccomp filter kills the process
 * on a syscall outside the allowlist. */
void handle_test_hook(exchange_t *ex)
{
    if (slice_eq(ex->route_param, "forbidden-syscall")) {
        /* ptrace is never needed by the service, so it is not allowed.
         * Unsandboxed, this call fails harmlessly (no such process). */
        long rc = syscall(SYS_ptrace, 3 /* PTRACE_PEEKUSER */, -1, 0, 0);
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"survived\":true,\"rc\":%ld}", rc);
        http_respond(ex, 200, "application/json", body, (size_t)n);
        return;
    }
    http_problem(ex, 404, NULL, "no such test hook");
}
#endif
