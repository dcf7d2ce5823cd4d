#include "metrics.h"

#include "timeutil.h"

#include <stdio.h>
#include <string.h>

/* Upper bounds in seconds. */
static const double buckets[METRICS_N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const int64_t bucket_ns[METRICS_N_BUCKETS] = {
    500000,    1000000,   2500000,   5000000,    10000000,   25000000,   50000000,
    100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};

static const int statuses[] = {200, 201, 204, 304, 400, 401, 404, 405, 408, 412, 413, 414,
                               415, 417, 422, 429, 431, 500, 501, 503, 505, 100, 0};
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0])) /* last slot: other */

static size_t status_index(int status)
{
    for (size_t i = 0; i + 1 < N_STATUSES; i++) {
        if (statuses[i] == status)
            return i;
    }
    return N_STATUSES - 1;
}

static inline void bump(atomic_uint_fast64_t *c, uint64_t by)
{
    /* Single writer per shard: load+store, no lock prefix. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static inline uint64_t get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void metrics_observe(metrics_shard_t *m, http_method_t method, route_id_t route, int status,
                     int64_t duration_ns)
{
    size_t b = 0;

    _Static_assert(N_STATUSES <= 24, "status slots");
    bump(&m->requests[method][route][status_index(status)], 1);
    while (b < METRICS_N_BUCKETS && duration_ns > bucket_ns[b])
        b++;
    bump(&m->hist[route][b], 1);
    bump(&m->hist_sum_ns[route], (uint64_t)duration_ns);
}

void metrics_render(buf_t *out, metrics_shard_t *const *shards, size_t n,
                    const metrics_info_t *info)
{
    buf_puts(out, "# HELP http_requests_total HTTP requests by method, route and status.\n"
                  "# TYPE http_requests_total counter\n");
    for (int m = 0; m < HTTP_METHOD_COUNT; m++) {
        for (int r = 0; r < ROUTE_COUNT; r++) {
            for (size_t s = 0; s < N_STATUSES; s++) {
                uint64_t total = 0;
                for (size_t i = 0; i < n; i++)
                    total += get(&shards[i]->requests[m][r][s]);
                if (total == 0)
                    continue;
                buf_printf(out, "http_requests_total{method=\"%s\",route=\"%s\",status=\"",
                           http_method_name((http_method_t)m), router_label((route_id_t)r));
                if (statuses[s] != 0)
                    buf_printf(out, "%d", statuses[s]);
                else
                    buf_puts(out, "other");
                buf_printf(out, "\"} %llu\n", (unsigned long long)total);
            }
        }
    }
    buf_puts(out, "# HELP http_request_duration_seconds Time from a complete request head to "
                  "the response being queued.\n"
                  "# TYPE http_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTE_COUNT; r++) {
        uint64_t cum = 0, sum_ns = 0, counts[METRICS_N_BUCKETS + 1] = {0};
        for (size_t i = 0; i < n; i++) {
            for (int b = 0; b <= METRICS_N_BUCKETS; b++)
                counts[b] += get(&shards[i]->hist[r][b]);
            sum_ns += get(&shards[i]->hist_sum_ns[r]);
        }
        const char *label = router_label((route_id_t)r);
        for (int b = 0; b < METRICS_N_BUCKETS; b++) {
            cum += counts[b];
            buf_printf(out, "http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                       label, buckets[b], (unsigned long long)cum);
        }
        cum += counts[METRICS_N_BUCKETS];
        buf_printf(out,
                   "http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                   "http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                   "http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                   label, (unsigned long long)cum, label, (double)sum_ns / 1e9, label,
                   (unsigned long long)cum);
    }
    uint64_t acc = 0, rej = 0, limited = 0;
    for (size_t i = 0; i < n; i++) {
        acc += get(&shards[i]->conns_accepted);
        rej += get(&shards[i]->conns_rejected);
        limited += get(&shards[i]->rate_limited);
    }
    const store_stats_t *db = &info->db;
    buf_printf(out,
               "# HELP http_connections_accepted_total Client connections accepted.\n"
               "# TYPE http_connections_accepted_total counter\n"
               "http_connections_accepted_total %llu\n"
               "# HELP http_connections_rejected_total Connections refused at MAX_CONNECTIONS.\n"
               "# TYPE http_connections_rejected_total counter\n"
               "http_connections_rejected_total %llu\n"
               "# HELP http_connections_open Client connections open now.\n"
               "# TYPE http_connections_open gauge\n"
               "http_connections_open %lld\n"
               "# HELP http_rate_limited_total Requests refused with 429.\n"
               "# TYPE http_rate_limited_total counter\n"
               "http_rate_limited_total %llu\n",
               (unsigned long long)acc, (unsigned long long)rej, (long long)info->conns_open,
               (unsigned long long)limited);
    buf_printf(out,
               "# HELP db_pool_size Database connections configured.\n"
               "# TYPE db_pool_size gauge\n"
               "db_pool_size{backend=\"%s\"} %lld\n"
               "# HELP db_pool_ready Database connections connected and usable.\n"
               "# TYPE db_pool_ready gauge\n"
               "db_pool_ready{backend=\"%s\"} %lld\n"
               "# HELP db_pool_in_flight Database queries sent and not yet answered.\n"
               "# TYPE db_pool_in_flight gauge\n"
               "db_pool_in_flight{backend=\"%s\"} %lld\n"
               "# HELP db_pool_waiting Requests waiting for a database connection.\n"
               "# TYPE db_pool_waiting gauge\n"
               "db_pool_waiting{backend=\"%s\"} %lld\n"
               "# HELP db_errors_total Database errors (connection losses, failed queries).\n"
               "# TYPE db_errors_total counter\n"
               "db_errors_total{backend=\"%s\"} %lld\n"
               "# HELP db_timeouts_total Pool waits and statement deadlines that expired.\n"
               "# TYPE db_timeouts_total counter\n"
               "db_timeouts_total{backend=\"%s\"} %lld\n",
               info->db_kind, (long long)db->size, info->db_kind, (long long)db->ready,
               info->db_kind, (long long)db->in_flight, info->db_kind, (long long)db->waiting,
               info->db_kind, (long long)db->errors, info->db_kind, (long long)db->timeouts);
    buf_printf(out,
               "# HELP process_start_time_seconds Start time of the process since the Unix "
               "epoch.\n"
               "# TYPE process_start_time_seconds gauge\n"
               "process_start_time_seconds %.3f\n"
               "# HELP items_api_draining 1 while the process drains before exit.\n"
               "# TYPE items_api_draining gauge\n"
               "items_api_draining %d\n"
               "# HELP items_api_build_info Build information.\n"
               "# TYPE items_api_build_info gauge\n"
               "items_api_build_info{version=\"%s\",revision=\"%s\"} 1\n",
               info->start_time, info->draining ? 1 : 0, info->version, info->revision);
}

void metrics_emf_line(buf_t *out, metrics_shard_t *const *shards, size_t n, const store_stats_t *db,
                      metrics_emf_state_t *prev, int64_t now_ms)
{
    metrics_emf_state_t cur;
    size_t s5xx_from = status_index(500);

    memset(&cur, 0, sizeof(cur));
    for (size_t i = 0; i < n; i++) {
        for (int m = 0; m < HTTP_METHOD_COUNT; m++) {
            for (int r = 0; r < ROUTE_COUNT; r++) {
                for (size_t s = 0; s < N_STATUSES; s++) {
                    uint64_t v = get(&shards[i]->requests[m][r][s]);
                    cur.requests += v;
                    if (s >= s5xx_from && statuses[s] >= 500)
                        cur.errors_5xx += v;
                }
                if (m == 0) {
                    for (int b = 0; b <= METRICS_N_BUCKETS; b++)
                        cur.hist[b] += get(&shards[i]->hist[r][b]);
                }
            }
        }
    }
    cur.db_errors = (uint64_t)db->errors;

    /* Each histogram bucket becomes one value (its midpoint) with its count;
     * an empty Values array is invalid EMF, so Latency is left out then. */
    buf_t vals = {0}, counts = {0};
    for (int b = 0; b <= METRICS_N_BUCKETS; b++) {
        uint64_t d = cur.hist[b] - prev->hist[b];
        if (d == 0)
            continue;
        double lo = b == 0 ? 0 : buckets[b - 1];
        double hi = b < METRICS_N_BUCKETS ? buckets[b] : buckets[METRICS_N_BUCKETS - 1] * 2;
        buf_printf(&vals, "%s%.3f", vals.len ? "," : "", (lo + hi) / 2 * 1000);
        buf_printf(&counts, "%s%llu", counts.len ? "," : "", (unsigned long long)d);
    }
    char ts[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(now_ms, ts);
    buf_printf(out,
               "{\"time\":\"%s\",\"level\":\"info\",\"message\":\"metrics\","
               "\"_aws\":{\"Timestamp\":%lld,\"CloudWatchMetrics\":[{\"Namespace\":\"ItemsApi\","
               "\"Dimensions\":[[\"Service\"]],\"Metrics\":["
               "{\"Name\":\"Requests\",\"Unit\":\"Count\"},"
               "{\"Name\":\"Errors5xx\",\"Unit\":\"Count\"},"
               "{\"Name\":\"DbErrors\",\"Unit\":\"Count\"},"
               "{\"Name\":\"DbPoolWaiting\",\"Unit\":\"Count\"}%s]}]},"
               "\"Service\":\"items-api\","
               "\"Requests\":%llu,\"Errors5xx\":%llu,\"DbErrors\":%llu,\"DbPoolWaiting\":%lld",
               ts, (long long)now_ms,
               vals.len ? ",{\"Name\":\"Latency\",\"Unit\":\"Milliseconds\"}" : "",
               (unsigned long long)(cur.requests - prev->requests),
               (unsigned long long)(cur.errors_5xx - prev->errors_5xx),
               (unsigned long long)(cur.db_errors - prev->db_errors), (long long)db->waiting);
    if (vals.len) {
        buf_puts(out, ",\"Latency\":{\"Values\":[");
        buf_append(out, vals.data, vals.len);
        buf_puts(out, "],\"Counts\":[");
        buf_append(out, counts.data, counts.len);
        buf_puts(out, "]}");
    }
    buf_puts(out, "}\n");
    buf_release(&vals);
    buf_release(&counts);
    *prev = cur;
}
