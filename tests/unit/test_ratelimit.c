/*
 * ratelimit.c: token buckets with synthetic time. A bucket starts full
 * (burst), refills at rps tokens per second up to burst, and says how many
 * whole tokens remain and when to retry.
 */
#include "unit.h"

#include "ratelimit.h"

#include <pthread.h>

static ratelimit_decision_t take(ratelimit_t *r, int key, int64_t now_ms)
{
    ratelimit_decision_t d;

    memset(&d, 0xA5, sizeof(d));
    ratelimit_take(r, key, now_ms, &d);
    return d;
}

static void test_off_when_rps_zero(void **state)
{
    (void)state;
    assert_null(ratelimit_new(4, 0, 10));
    ratelimit_free(NULL);
}

static void test_burst_then_refused(void **state)
{
    ratelimit_t *r = ratelimit_new(1, 10, 5);
    ratelimit_decision_t d;

    (void)state;
    assert_non_null(r);
    for (int i = 0; i < 5; i++) {
        d = take(r, 0, 1000);
        assert_true(d.allowed);
        assert_int_equal(d.limit, 5);
        assert_int_equal(d.remaining, 4 - i);
        assert_true(d.reset_s >= 0);
    }
    d = take(r, 0, 1000);
    assert_false(d.allowed);
    assert_int_equal(d.remaining, 0);
    assert_int_equal(d.limit, 5);
    assert_true(d.retry_after >= 1);
    ratelimit_free(r);
}

static void test_refill(void **state)
{
    ratelimit_t *r = ratelimit_new(1, 10, 5); /* one token per 100 ms */
    ratelimit_decision_t d;

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_true(take(r, 0, 0).allowed);
    assert_false(take(r, 0, 0).allowed);
    /* 90 ms: not yet a whole token. */
    assert_false(take(r, 0, 90).allowed);
    /* A little over 100 ms after the bucket emptied: exactly one. */
    d = take(r, 0, 105);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 0);
    assert_false(take(r, 0, 105).allowed);
    /* 250 ms later: two more (and half of a third). */
    assert_true(take(r, 0, 355).allowed);
    assert_true(take(r, 0, 355).allowed);
    assert_false(take(r, 0, 355).allowed);
    ratelimit_free(r);
}

static void test_refill_capped_at_burst(void **state)
{
    ratelimit_t *r = ratelimit_new(1, 100, 3);
    ratelimit_decision_t d;

    (void)state;
    assert_true(take(r, 0, 0).allowed);
    /* An hour idle refills to the burst, not beyond. */
    d = take(r, 0, 3600 * 1000);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 2);
    assert_true(take(r, 0, 3600 * 1000).allowed);
    assert_true(take(r, 0, 3600 * 1000).allowed);
    assert_false(take(r, 0, 3600 * 1000).allowed);
    ratelimit_free(r);
}

static void test_retry_after(void **state)
{
    ratelimit_t *r = ratelimit_new(1, 1, 2); /* one token per second */
    ratelimit_decision_t d;

    (void)state;
    assert_true(take(r, 0, 5000).allowed);
    assert_true(take(r, 0, 5000).allowed);
    d = take(r, 0, 5000);
    assert_false(d.allowed);
    assert_int_equal(d.retry_after, 1);
    /* Half a second later: still refused, still at least one second (the
     * header has whole seconds and 0 would invite an immediate retry). */
    d = take(r, 0, 5500);
    assert_false(d.allowed);
    assert_int_equal(d.retry_after, 1);
    /* Fast refill: retry_after never drops below 1. */
    ratelimit_t *fast = ratelimit_new(1, 1000, 1);
    assert_true(take(fast, 0, 0).allowed);
    d = take(fast, 0, 0);
    assert_false(d.allowed);
    assert_int_equal(d.retry_after, 1);
    ratelimit_free(fast);
    ratelimit_free(r);
}

static void test_reset_seconds(void **state)
{
    ratelimit_t *r = ratelimit_new(1, 1, 10);
    ratelimit_decision_t d;

    (void)state;
    for (int i = 0; i < 10; i++)
        d = take(r, 0, 0);
    /* Empty at 1 token/s: full again in 10 s. */
    assert_int_equal(d.remaining, 0);
    assert_int_equal(d.reset_s, 10);
    d = take(r, 0, 4000);
    assert_true(d.allowed);
    /* 4 refilled, 1 taken: 3 left, 7 s to full. */
    assert_int_equal(d.remaining, 3);
    assert_int_equal(d.reset_s, 7);
    ratelimit_free(r);
}

static void test_keys_independent(void **state)
{
    ratelimit_t *r = ratelimit_new(3, 1, 2);

    (void)state;
    assert_true(take(r, 0, 0).allowed);
    assert_true(take(r, 0, 0).allowed);
    assert_false(take(r, 0, 0).allowed);
    /* Key 0 being empty does not affect the others. */
    assert_true(take(r, 1, 0).allowed);
    assert_true(take(r, 2, 0).allowed);
    assert_int_equal(take(r, 2, 0).remaining, 0);
    ratelimit_free(r);
}

static void test_clock_going_backwards(void **state)
{
    ratelimit_t *r = ratelimit_new(1, 10, 2);

    (void)state;
    assert_true(take(r, 0, 10000).allowed);
    assert_true(take(r, 0, 10000).allowed);
    /* An earlier timestamp (another thread's older reading) adds nothing. */
    assert_false(take(r, 0, 9000).allowed);
    assert_false(take(r, 0, 10000).allowed);
    assert_true(take(r, 0, 10100).allowed);
    ratelimit_free(r);
}

typedef struct {
    ratelimit_t *r;
    int allowed;
} worker_arg_t;

static void *hammer(void *p)
{
    worker_arg_t *a = p;

    for (int i = 0; i < 1000; i++) {
        ratelimit_decision_t d;
        ratelimit_take(a->r, 0, 0, &d);
        a->allowed += d.allowed;
    }
    return NULL;
}

static void test_threads_share_a_bucket(void **state)
{
    ratelimit_t *r = ratelimit_new(1, 1, 500);
    worker_arg_t args[4];
    pthread_t t[4];
    int total = 0;

    (void)state;
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){r, 0};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        total += args[i].allowed;
    }
    /* At one instant, exactly the burst gets through. */
    assert_int_equal(total, 500);
    ratelimit_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_when_rps_zero),
        cmocka_unit_test(test_burst_then_refused),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_refill_capped_at_burst),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_reset_seconds),
        cmocka_unit_test(test_keys_independent),
        cmocka_unit_test(test_clock_going_backwards),
        cmocka_unit_test(test_threads_share_a_bucket),
    };

    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
