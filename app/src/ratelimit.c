#include "ratelimit.h"

#include "common.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    pthread_mutex_t mu;
    double tokens;
    int64_t last_ms;
} bucket_t;

struct ratelimit {
    double rate_per_ms;
    double burst;
    size_t n;
    bucket_t buckets[];
};

ratelimit_t *ratelimit_new(size_t n_keys, int64_t rps, int64_t burst)
{
    ratelimit_t *r;

    if (rps <= 0)
        return NULL;
    r = ia_calloc(1, sizeof(*r) + n_keys * sizeof(bucket_t));
    r->rate_per_ms = (double)rps / 1000.0;
    r->burst = (double)burst;
    r->n = n_keys;
    for (size_t i = 0; i < n_keys; i++) {
        pthread_mutex_init(&r->buckets[i].mu, NULL);
        r->buckets[i].tokens = (double)burst;
        r->buckets[i].last_ms = -1;
    }
    return r;
}

void ratelimit_free(ratelimit_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        pthread_mutex_destroy(&r->buckets[i].mu);
    free(r);
}

void ratelimit_take(ratelimit_t *r, int key, int64_t now_ms, ratelimit_decision_t *d)
{
    bucket_t *b = &r->buckets[key];
    double tokens;

    pthread_mutex_lock(&b->mu);
    if (b->last_ms >= 0 && now_ms > b->last_ms)
        b->tokens += (double)(now_ms - b->last_ms) * r->rate_per_ms;
    if (b->tokens > r->burst)
        b->tokens = r->burst;
    if (b->last_ms < 0 || now_ms > b->last_ms)
        b->last_ms = now_ms;
    d->allowed = b->tokens >= 1.0;
    if (d->allowed)
        b->tokens -= 1.0;
    tokens = b->tokens;
    pthread_mutex_unlock(&b->mu);

    d->limit = (int64_t)r->burst;
    d->remaining = (int64_t)tokens;
    double rate_per_s = r->rate_per_ms * 1000.0;
    int64_t reset = (int64_t)((r->burst - tokens) / rate_per_s + 0.999);
    d->reset_s = reset < 0 ? 0 : reset;
    int64_t retry = (int64_t)((1.0 - tokens) / rate_per_s + 0.999);
    d->retry_after = retry < 1 ? 1 : retry;
}
