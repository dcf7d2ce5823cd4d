#include "policy.h"

#include "auth.h"
#include "http_response.h"
#include "router.h"
#include "timeutil.h"
#include "worker.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool media_type_is(slice_t ct, const char *want)
{
    size_t n = strlen(want), i;

    if (ct.len < n || strncasecmp(ct.ptr, want, n) != 0)
        return false;
    /* Parameters may follow; only charset=utf-8 (any case, optional quotes). */
    for (i = n; i < ct.len && (ct.ptr[i] == ' ' || ct.ptr[i] == '\t'); i++)
        ;
    if (i == ct.len)
        return true;
    if (ct.ptr[i] != ';')
        return false;
    slice_t rest = {ct.ptr + i + 1, ct.len - i - 1};
    while (rest.len && (*rest.ptr == ' ' || *rest.ptr == '\t')) {
        rest.ptr++;
        rest.len--;
    }
    return slice_case_eq(rest, "charset=utf-8") || slice_case_eq(rest, "charset=\"utf-8\"");
}

static void add_header_i64(exchange_t *ex, const char *name, long long v)
{
    char s[64];
    int n = snprintf(s, sizeof(s), "%lld", v);

    http_add_header(ex, name, s, (size_t)n);
}

/* 401 without a valid key, 429 over its rate. */
static int admit_key(exchange_t *ex)
{
    worker_t *w = ex->worker;
    ratelimit_decision_t d;

    ex->key_index = auth_check(w->srv->cfg, &ex->req);
    if (ex->key_index < 0) {
        http_add_header(ex, "WWW-Authenticate", "Bearer realm=\"items-api\"", 24);
        http_problem(ex, 401, NULL,
                     ex->key_index == AUTH_MISSING
                         ? "an API key is required (Authorization: Bearer <key> or X-API-Key)"
                         : "the API key is not valid");
        return IA_ERR;
    }
    if (w->srv->ratelimit == NULL)
        return IA_OK;
    ratelimit_take(w->srv->ratelimit, ex->key_index, time_mono_ms(), &d);
    add_header_i64(ex, "RateLimit-Limit", (long long)d.limit);
    add_header_i64(ex, "RateLimit-Remaining", (long long)d.remaining);
    add_header_i64(ex, "RateLimit-Reset", (long long)d.reset_s);
    if (d.allowed)
        return IA_OK;
    add_header_i64(ex, "Retry-After", (long long)d.retry_after);
    metrics_shard_t *m = w->metrics;
    atomic_store_explicit(&m->rate_limited,
                          atomic_load_explicit(&m->rate_limited, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    http_problem(ex, 429, NULL, "rate limit exceeded for this API key");
    return IA_ERR;
}

int policy_admit(exchange_t *ex)
{
    const http_request_t *req = &ex->req;
    const route_t *route = ex->route;
    const config_t *cfg = ex->worker->srv->cfg;
    bool has_body = req->chunked || (req->has_content_length && req->content_length > 0);

    /* If we answer before reading a body, the connection cannot be reused. */
    ex->close_after = has_body;
    if (route->needs_key && admit_key(ex) != IA_OK)
        return IA_ERR;
    if (route->methods == 0) {
        http_problem(ex, 404, NULL, "no such resource");
        return IA_ERR;
    }
    if (!router_allows(route, req->method)) {
        http_add_header(ex, "Allow", route->allow, strlen(route->allow));
        http_problem(ex, 405, NULL, "method not allowed on this resource");
        return IA_ERR;
    }
    /* A request that announces a body its route and method do not take is
     * refused before a byte of it is read, so nobody can make the service
     * buffer content it never asked for (see docs/decisions.md); the
     * connection then closes, its rest discarded by the linger. */
    route_body_t body = route->body[req->method];
    if (body == BODY_NONE) {
        if (has_body) {
            http_problem(ex, 413, NULL, "this method and resource take no request body");
            return IA_ERR;
        }
    } else {
        if (req->has_content_length && req->content_length > (uint64_t)cfg->max_body_bytes) {
            http_problem(ex, 413, NULL, "request body larger than MAX_BODY_BYTES");
            return IA_ERR;
        }
        const char *want = body == BODY_JSON ? "application/json" : "application/merge-patch+json";
        if (!req->has_content_type || !media_type_is(req->content_type, want)) {
            char detail[96];
            snprintf(detail, sizeof(detail), "Content-Type must be %s", want);
            http_problem(ex, 415, NULL, detail);
            return IA_ERR;
        }
    }
    ex->close_after = false;
    return IA_OK;
}
