#include "router.h"

#include <string.h>

#define M(x) (1u << (x))

static const char *const labels[ROUTE_COUNT] = {
    [ROUTE_HEALTHZ] = "/healthz",  [ROUTE_READYZ] = "/readyz",      [ROUTE_METRICS] = "/metrics",
    [ROUTE_ITEMS] = "/v1/items",   [ROUTE_ITEM] = "/v1/items/{id}",
#ifdef IA_TEST_HOOKS
    [ROUTE_TEST_HOOK] = "/__test",
#endif
    [ROUTE_NOT_FOUND] = "other",
};

void router_match(slice_t path, route_match_t *m)
{
    memset(m, 0, sizeof(*m));
    m->id = ROUTE_NOT_FOUND;
    if (slice_eq(path, "/healthz")) {
        m->id = ROUTE_HEALTHZ;
        m->methods = M(HTTP_GET) | M(HTTP_HEAD);
        m->allow = "GET, HEAD";
    } else if (slice_eq(path, "/readyz")) {
        m->id = ROUTE_READYZ;
        m->methods = M(HTTP_GET) | M(HTTP_HEAD);
        m->allow = "GET, HEAD";
    } else if (slice_eq(path, "/metrics")) {
        m->id = ROUTE_METRICS;
        m->needs_key = true;
        m->methods = M(HTTP_GET) | M(HTTP_HEAD);
        m->allow = "GET, HEAD";
    } else if (path.len >= 3 && memcmp(path.ptr, "/v1", 3) == 0 &&
               (path.len == 3 || path.ptr[3] == '/')) {
        /* Everything under /v1 needs a key, even paths that do not exist:
         * anonymous clients learn nothing about the route table. */
        m->needs_key = true;
        if (slice_eq(path, "/v1/items")) {
            m->id = ROUTE_ITEMS;
            m->methods = M(HTTP_GET) | M(HTTP_HEAD) | M(HTTP_POST);
            m->allow = "GET, HEAD, POST";
        } else if (path.len > 10 && memcmp(path.ptr, "/v1/items/", 10) == 0 &&
                   memchr(path.ptr + 10, '/', path.len - 10) == NULL) {
            m->id = ROUTE_ITEM;
            m->param = (slice_t){path.ptr + 10, path.len - 10};
            m->methods = M(HTTP_GET) | M(HTTP_HEAD) | M(HTTP_PUT) | M(HTTP_PATCH) | M(HTTP_DELETE);
            m->allow = "GET, HEAD, PUT, PATCH, DELETE";
        }
    }
#ifdef IA_TEST_HOOKS
    else if (path.len > 8 && memcmp(path.ptr, "/__test/", 8) == 0) {
        m->id = ROUTE_TEST_HOOK;
        m->param = (slice_t){path.ptr + 8, path.len - 8};
        m->methods = M(HTTP_POST);
        m->allow = "POST";
    }
#endif
}

bool router_allows(const route_match_t *m, http_method_t method)
{
    return (m->methods & M(method)) != 0;
}

const char *router_label(route_id_t id)
{
    return labels[id];
}
