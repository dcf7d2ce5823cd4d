/* Operational endpoints: liveness, readiness, metrics (handler_ops.c). */
#ifndef IA_HANDLER_OPS_H
#define IA_HANDLER_OPS_H

#include "exchange.h"

void handle_healthz(exchange_t *ex);
void handle_readyz(exchange_t *ex);
void handle_metrics(exchange_t *ex);
#ifdef IA_TEST_HOOKS
void handle_test_hook(exchange_t *ex);
#endif

#endif
