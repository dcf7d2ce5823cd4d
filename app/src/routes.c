#include "routes.h"

#include "handler_items.h"
#include "handler_ops.h"

#include <string.h>

#define M(x)     ROUTE_METHOD(HTTP_##x)
#define GET_HEAD (M(GET) | M(HEAD))

static const route_t table[] = {
    {ROUTE_HEALTHZ, "/healthz", GET_HEAD, "GET, HEAD", false, {0}, handle_healthz},
    {ROUTE_READYZ, "/readyz", GET_HEAD, "GET, HEAD", false, {0}, handle_readyz},
    {ROUTE_METRICS, "/metrics", GET_HEAD, "GET, HEAD", true, {0}, handle_metrics},
    {ROUTE_ITEMS,
     "/v1/items",
     GET_HEAD | M(POST),
     "GET, HEAD, POST",
     true,
     {[HTTP_POST] = BODY_JSON},
     handle_items_collection},
    {ROUTE_ITEM,
     "/v1/items/{id}",
     GET_HEAD | M(PUT) | M(PATCH) | M(DELETE),
     "GET, HEAD, PUT, PATCH, DELETE",
     true,
     {[HTTP_PUT] = BODY_JSON, [HTTP_PATCH] = BODY_MERGE_PATCH},
     handle_item},
    /* Everything under /v1 needs a key, even paths that do not exist:
     * anonymous clients learn nothing about the route table. */
    {ROUTE_NOT_FOUND, "/v1", 0, NULL, true, {0}, NULL},
    {ROUTE_NOT_FOUND, "/v1/", 0, NULL, true, {0}, NULL},
    {ROUTE_NOT_FOUND, "/v1/{*}", 0, NULL, true, {0}, NULL},
#ifdef IA_TEST_HOOKS
    {ROUTE_TEST_HOOK, "/__test/{*}", M(POST), "POST", false, {0}, handle_test_hook},
#endif
};

static const route_t not_found = {ROUTE_NOT_FOUND, "", 0, NULL, false, {0}, NULL};

/* Matches path against one pattern; sets *param for {id} and {*}. */
static bool pattern_match(const char *pattern, slice_t path, slice_t *param)
{
    const char *brace = strchr(pattern, '{');
    size_t prefix = brace != NULL ? (size_t)(brace - pattern) : strlen(pattern);

    if (brace == NULL)
        return slice_eq(path, pattern);
    if (path.len <= prefix || memcmp(path.ptr, pattern, prefix) != 0)
        return false;
    *param = (slice_t){path.ptr + prefix, path.len - prefix};
    /* {id} is one segment; {*} is the whole rest. */
    return brace[1] == '*' || memchr(param->ptr, '/', param->len) == NULL;
}

const route_t *routes_match(slice_t path, slice_t *param)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        *param = (slice_t){"", 0};
        if (pattern_match(table[i].pattern, path, param))
            return &table[i];
    }
    *param = (slice_t){"", 0};
    return &not_found;
}
