#include "router.h"

static const char *const labels[ROUTE_COUNT] = {
    [ROUTE_HEALTHZ] = "/healthz",  [ROUTE_READYZ] = "/readyz",      [ROUTE_METRICS] = "/metrics",
    [ROUTE_ITEMS] = "/v1/items",   [ROUTE_ITEM] = "/v1/items/{id}",
#ifdef IA_TEST_HOOKS
    [ROUTE_TEST_HOOK] = "/__test",
#endif
    [ROUTE_NOT_FOUND] = "other",
};

const char *router_label(route_id_t id)
{
    return labels[id];
}
