/*
 * What a route is: its id (the label metrics and logs use: the route
 * template, never the raw path), the methods it allows, whether it needs an
 * API key, which request body each method takes, and its handler. The
 * service's table of routes and the path lookup are in routes.c.
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

/* The request body a method takes on a route; any other request that
 * announces a body is refused (413) before a byte of it is read. */
typedef enum {
    BODY_NONE = 0,
    BODY_JSON,        /* application/json, up to MAX_BODY_BYTES */
    BODY_MERGE_PATCH, /* application/merge-patch+json, up to MAX_BODY_BYTES */
} route_body_t;

typedef struct exchange exchange_t; /* exchange.h */
typedef void route_handler_fn(exchange_t *ex);

#define ROUTE_METHOD(m) (1u << (m))

typedef struct route {
    route_id_t id;
    /* "/exact", "/prefix/{id}" (one non-empty segment) or "/prefix/{*}"
     * (a non-empty rest); the {} part becomes ex->route_param. */
    const char *pattern;
    uint32_t methods;  /* ROUTE_METHOD bits; 0: the path is not found */
    const char *allow; /* value of the Allow header */
    bool needs_key;    /* checked before the method: 401 before 405 */
    route_body_t body[HTTP_METHOD_COUNT];
    route_handler_fn *handler;
} route_t;

static inline bool router_allows(const route_t *r, http_method_t method)
{
    return (r->methods & ROUTE_METHOD(method)) != 0;
}

/* Label for metrics and logs. */
const char *router_label(route_id_t id);

#endif
