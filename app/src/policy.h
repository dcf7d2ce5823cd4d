/*
 * Admission: everything decidable from a request head and its route, in the
 * documented order: key (401), rate limit (429), unknown path (404), method
 * (405), body (413 for a body the route and method take none of, 415 for the
 * wrong media type, 413 for a declared size over MAX_BODY_BYTES). The route
 * table (routes.c) says what each route wants; this is the one place that
 * reads it.
 */
#ifndef IA_POLICY_H
#define IA_POLICY_H

#include "exchange.h"

/* IA_OK: the request may proceed (its body, if any, is wanted). IA_ERR: it
 * was answered; ex->close_after is set when a body was announced, since
 * the connection cannot be reused without reading it. */
int policy_admit(exchange_t *ex);

#endif
