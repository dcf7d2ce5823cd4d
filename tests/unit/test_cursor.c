/*
 * cursor.c: opaque pagination cursors. Every id round-trips; anything not
 * produced by cursor_encode (garbage, other spellings of the same id, other
 * versions, overflow) is refused.
 */
#include "unit.h"

#include "cursor.h"

/* An independent base64url (no padding) encoder, to forge cursors. */
static size_t b64url(const char *in, size_t n, char *out)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = al[v >> 18 & 63];
        out[o++] = al[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = al[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = al[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int decode_str(const char *s, int64_t *id)
{
    return cursor_decode(s, strlen(s), id);
}

static void expect_refused(const char *s, size_t n)
{
    int64_t id = 12345;

    if (cursor_decode(s, n, &id) != IA_ERR)
        fail_msg("accepted cursor \"%s\" (id %lld)", unit_escape(s, n), (long long)id);
    assert_int_equal(id, 12345);
}

/* A cursor forged from a raw payload must be refused. */
static void expect_payload_refused(const char *raw)
{
    char c[128];
    size_t n = b64url(raw, strlen(raw), c);

    expect_refused(c, n);
}

static void test_round_trip(void **state)
{
    static const int64_t ids[] = {0,        1,     2,         9,          10,         99,
                                  100,      12345, 999999999, 1000000000, 4294967296, INT64_MAX - 1,
                                  INT64_MAX};
    char c[CURSOR_MAX_LEN + 1];

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(ids); i++) {
        size_t n = cursor_encode(ids[i], c);
        int64_t back = -1;
        assert_int_equal(n, strlen(c));
        assert_true(n > 0 && n <= CURSOR_MAX_LEN);
        /* URL-safe as it is: no escaping needed in a query string. */
        assert_int_equal(
            strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), n);
        assert_int_equal(cursor_decode(c, n, &back), IA_OK);
        assert_true(back == ids[i]);
    }
}

static void test_matches_documented_format(void **state)
{
    char c[CURSOR_MAX_LEN + 1], forged[64];
    int64_t id;

    (void)state;
    /* The position is "v1:<id>"; a forged one in the same format decodes. */
    cursor_encode(42, c);
    b64url("v1:42", 5, forged);
    assert_string_equal(c, forged);
    assert_int_equal(decode_str(forged, &id), IA_OK);
    assert_int_equal(id, 42);
}

static void test_distinct_ids_distinct_cursors(void **state)
{
    char a[CURSOR_MAX_LEN + 1], b[CURSOR_MAX_LEN + 1];

    (void)state;
    for (int64_t i = 1; i < 300; i++) {
        cursor_encode(i, a);
        cursor_encode(i + 1, b);
        assert_string_not_equal(a, b);
    }
}

static void test_garbage_refused(void **state)
{
    static const char *const bad[] = {
        "",       "a",      "ab",      "abc",     "!!!!",    "djE6MQ==", /* padded */
        "djE6M+", "djE6M/", "djE6 MQ", " djE6MQ", "djE6MQ ", "djE6MQ%3D",
        "null",   "0",      "1",       "-1",      "42",
    };

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++)
        expect_refused(bad[i], strlen(bad[i]));
    /* An embedded NUL. */
    expect_refused("djE6\0MQ", 7);
    /* Longer than any cursor. */
    char big[CURSOR_MAX_LEN + 2];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_refused(big, CURSOR_MAX_LEN + 1);
}

static void test_wrong_prefix_refused(void **state)
{
    static const char *const raw[] = {"v1:",   "v1", "v2:5", "V1:5",  "v1;5", "x1:5",
                                      "v10:5", ":5", "5",    "v1:5:", "v1::5"};

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(raw); i++)
        expect_payload_refused(raw[i]);
}

static void test_non_canonical_refused(void **state)
{
    static const char *const raw[] = {"v1:05",  "v1:00",  "v1:+5",  "v1:-5",
                                      "v1: 5",  "v1:5 ",  "v1:5x",  "v1:0x5",
                                      "v1:5.0", "v1:1e3", "v1:5\n", "v1:\xd9\xa1"};
    char c[CURSOR_MAX_LEN + 1];
    int64_t id;

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(raw); i++)
        expect_payload_refused(raw[i]);
    /* The same bytes with different unused low bits: one spelling only.
     * "v1:5" is 4 bytes, so the last character carries 4 unused bits. */
    size_t n = cursor_encode(5, c);
    assert_int_equal(decode_str(c, &id), IA_OK);
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *pos = strchr(al, c[n - 1]);
    assert_non_null(pos);
    for (int low = 1; low < 16; low++) {
        char alt[CURSOR_MAX_LEN + 1];
        memcpy(alt, c, n + 1);
        alt[n - 1] = al[((pos - al) & ~15) | low];
        expect_refused(alt, n);
    }
}

static void test_overflow_refused(void **state)
{
    int64_t id;
    char c[64];

    (void)state;
    expect_payload_refused("v1:9223372036854775808");
    expect_payload_refused("v1:18446744073709551616");
    expect_payload_refused("v1:99999999999999999999");
    b64url("v1:9223372036854775807", 22, c);
    assert_int_equal(decode_str(c, &id), IA_OK);
    assert_true(id == INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_matches_documented_format),
        cmocka_unit_test(test_distinct_ids_distinct_cursors),
        cmocka_unit_test(test_garbage_refused),
        cmocka_unit_test(test_wrong_prefix_refused),
        cmocka_unit_test(test_non_canonical_refused),
        cmocka_unit_test(test_overflow_refused),
    };

    return cmocka_run_group_tests_name("cursor", tests, NULL, NULL);
}
