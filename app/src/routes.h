/*
 * The service's route table (routes.c) and the lookup from a path to its
 * route. Dispatch is data: http_conn.c admits a request against its route
 * (policy.c) and calls the route's handler.
 */
#ifndef IA_ROUTES_H
#define IA_ROUTES_H

#include "router.h"

/* The route of a path; never NULL (unknown paths get a route without
 * methods). *param is the path's {id} or {*} part, empty when none. */
const route_t *routes_match(slice_t path, slice_t *param);

#endif
