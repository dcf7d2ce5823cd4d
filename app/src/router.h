/*
 * The route table: path -> route id, allowed methods, whether a key is
 * needed. Method checks happen after authentication (401 before 405).
 */
#ifndef IA_ROUTER_H
#define IA_ROUTER_H

#include "common.h"
#include "http_parse.h"

typedef enum {
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_ITEMS, /* /v1/items */
    ROUTE_ITEM,  /* /v1/items/{id} */
#ifdef IA_TEST_HOOKS
    ROUTE_TEST_HOOK, /* /__test/... : compiled into test builds only */
#endif
    ROUTE_NOT_FOUND,
    ROUTE_COUNT
} route_id_t;

typedef struct {
    route_id_t id;
    slice_t param;     /* {id} for ROUTE_ITEM */
    bool needs_key;    /* everything under /v1/ and /metrics */
    uint32_t methods;  /* bit per http_method_t */
    const char *allow; /* value of the Allow header */
} route_match_t;

void router_match(slice_t path, route_match_t *m);
bool router_allows(const route_match_t *m, http_method_t method);
/* Label for metrics and logs: the route template, never the raw path. */
const char *router_label(route_id_t id);

#endif
