/*
 * The per-connection pipeline (store_pg_pipeline.c): submitting ops,
 * batching reads under one Sync, reading results, deadlines.
 */
#ifndef IA_STORE_PG_PIPELINE_H
#define IA_STORE_PG_PIPELINE_H

#include "store_pg_types.h"

void pg_submit(store_worker_t *base, store_op_t *op);
int pg_tick(store_worker_t *base, int64_t now);
void pg_flush(store_worker_t *base);
/* The s->handover task: the worker takes a connection the connector made. */
void pg_conn_handover(void *arg);

#endif
