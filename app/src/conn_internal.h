/* Shared between http_conn.c and http_response.c only. */
#ifndef IA_CONN_INTERNAL_H
#define IA_CONN_INTERNAL_H

#include "server.h"

#include <strings.h>

void conn_request_done(exchange_t *ex);

#endif
