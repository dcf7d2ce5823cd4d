/*
 * Request metrics. Each worker thread writes only its own shard (plain
 * relaxed stores, no locked instructions on the hot path); a scrape sums the
 * shards.
 */
#ifndef IA_METRICS_H
#define IA_METRICS_H

#include "buf.h"
#include "http_parse.h"
#include "router.h"
#include "store.h"

#include <stdatomic.h>
#include <stdint.h>

#define METRICS_N_BUCKETS 14

typedef struct {
    atomic_uint_fast64_t requests[HTTP_METHOD_COUNT][ROUTE_COUNT][24];
    atomic_uint_fast64_t hist[ROUTE_COUNT][METRICS_N_BUCKETS + 1];
    atomic_uint_fast64_t hist_sum_ns[ROUTE_COUNT];
    atomic_uint_fast64_t conns_accepted;
    atomic_uint_fast64_t conns_rejected;
    atomic_uint_fast64_t rate_limited;
} metrics_shard_t;

typedef struct {
    const char *version;
    const char *revision;
    double start_time;
    int64_t conns_open;
    store_stats_t db;
    const char *db_kind;
    bool draining;
} metrics_info_t;

void metrics_observe(metrics_shard_t *m, http_method_t method, route_id_t route, int status,
                     int64_t duration_ns);
void metrics_render(buf_t *out, metrics_shard_t *const *shards, size_t n,
                    const metrics_info_t *info);

/* CloudWatch Embedded Metric Format: one line with the deltas since the
 * previous call (request count, 5xx, latency distribution, DB errors). */
typedef struct {
    uint64_t requests, errors_5xx, db_errors;
    uint64_t hist[METRICS_N_BUCKETS + 1];
} metrics_emf_state_t;

void metrics_emf_line(buf_t *out, metrics_shard_t *const *shards, size_t n, const store_stats_t *db,
                      metrics_emf_state_t *prev, int64_t now_ms);

#endif
