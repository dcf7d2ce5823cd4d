/*
 * Optional per-API-key token buckets (RATE_LIMIT_RPS, RATE_LIMIT_BURST).
 * Shared by all workers; one small lock per key, held for a few instructions.
 */
#ifndef IA_RATELIMIT_H
#define IA_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

typedef struct {
    bool allowed;
    int64_t limit;       /* bucket size */
    int64_t remaining;   /* whole tokens left after this request */
    int64_t reset_s;     /* seconds until the bucket is full again */
    int64_t retry_after; /* seconds until one token is available (when refused) */
} ratelimit_decision_t;

/* NULL when rps == 0 (off). */
ratelimit_t *ratelimit_new(size_t n_keys, int64_t rps, int64_t burst);
void ratelimit_free(ratelimit_t *r);
void ratelimit_take(ratelimit_t *r, int key, int64_t now_ms, ratelimit_decision_t *d);

#endif
