/*
 * auth.c: API-key checks on parsed requests (Bearer and X-API-Key), key
 * rotation (several keys valid at once) and the idempotency scope id.
 */
#include "unit.h"

#include "auth.h"
#include "config.h"
#include "http_parse.h"

#include <openssl/sha.h>

#define KEY0 "key-zero-0123456789abcdef"
#define KEY1 "key-one-0123456789abcdef"
#define KEY2 "key-two-0123456789abcdef"

typedef struct {
    config_t cfg;
    http_request_t req;
    char head[1024];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    err_t err;

    if (f == NULL)
        return -1;
    if (config_parse_api_keys(&f->cfg, KEY0 "," KEY1 "," KEY2, ',', &err) != IA_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* Parses "GET /v1/items HTTP/1.1" with the given extra header lines (each
 * ending in CRLF) and runs auth_check. */
static int check(fixture_t *f, const char *lines)
{
    http_error_t err;
    int n =
        snprintf(f->head, sizeof(f->head), "GET /v1/items HTTP/1.1\r\nHost: a\r\n%s\r\n", lines);

    assert_true(n > 0 && (size_t)n < sizeof(f->head));
    if (http_parse_head(f->head, (size_t)n, &f->req, &err) != HTTP_PARSE_DONE)
        fail_msg("test request refused by the parser (%d %s): %s", err.status, err.detail, lines);
    return auth_check(&f->cfg, &f->req);
}

static void test_missing(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(check(f, ""), AUTH_MISSING);
    assert_int_equal(check(f, "X-Other: " KEY0 "\r\n"), AUTH_MISSING);
    assert_int_equal(check(f, "Cookie: key=" KEY0 "\r\n"), AUTH_MISSING);
}

static void test_bearer(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(check(f, "Authorization: Bearer " KEY0 "\r\n"), 0);
    assert_int_equal(check(f, "Authorization: Bearer " KEY1 "\r\n"), 1);
    assert_int_equal(check(f, "Authorization: Bearer " KEY2 "\r\n"), 2);
}

static void test_bearer_scheme_case_insensitive(void **state)
{
    fixture_t *f = *state;

    /* RFC 9110 section 11.1: the scheme is case-insensitive. */
    assert_int_equal(check(f, "Authorization: bearer " KEY1 "\r\n"), 1);
    assert_int_equal(check(f, "Authorization: BEARER " KEY1 "\r\n"), 1);
    assert_int_equal(check(f, "Authorization: bEaReR " KEY1 "\r\n"), 1);
    assert_int_equal(check(f, "authorization: Bearer " KEY1 "\r\n"), 1);
}

static void test_bearer_extra_spaces(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(check(f, "Authorization: Bearer    " KEY0 "\r\n"), 0);
    assert_int_equal(check(f, "Authorization:    Bearer " KEY0 "   \r\n"), 0);
}

static void test_bearer_malformed(void **state)
{
    fixture_t *f = *state;
    static const char *const bad[] = {
        "Authorization: Bearer\r\n",
        "Authorization: Bearer \r\n",
        "Authorization: Bearer" KEY0 "\r\n",
        "Authorization: Basic " KEY0 "\r\n",
        "Authorization: Token " KEY0 "\r\n",
        "Authorization: " KEY0 "\r\n",
        "Authorization: Bearer " KEY0 " extra\r\n",
        "Authorization: Bearer \"" KEY0 "\"\r\n",
        "Authorization: Bearer " KEY0 "," KEY1 "\r\n",
        "Authorization:\r\n",
    };

    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        int rc = check(f, bad[i]);
        if (rc != AUTH_INVALID)
            fail_msg("%d for %s", rc, bad[i]);
    }
}

static void test_x_api_key(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(check(f, "X-API-Key: " KEY0 "\r\n"), 0);
    assert_int_equal(check(f, "x-api-key: " KEY2 "\r\n"), 2);
    assert_int_equal(check(f, "X-Api-Key:   " KEY1 "  \r\n"), 1);
    assert_int_equal(check(f, "X-API-Key:\r\n"), AUTH_INVALID);
    assert_int_equal(check(f, "X-API-Key: Bearer " KEY0 "\r\n"), AUTH_INVALID);
}

static void test_wrong_keys(void **state)
{
    fixture_t *f = *state;
    static const char *const wrong[] = {
        "key-zero-0123456789abcde",   /* a prefix */
        "key-zero-0123456789abcdefg", /* an extension */
        "KEY-ZERO-0123456789ABCDEF",  /* keys are case-sensitive */
        "key-zero-0123456789abcdeF",  "x", "key-three-0123456789abcdef",
    };
    char line[128];

    for (size_t i = 0; i < IA_ARRAY_LEN(wrong); i++) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s\r\n", wrong[i]);
        assert_int_equal(check(f, line), AUTH_INVALID);
        snprintf(line, sizeof(line), "X-API-Key: %s\r\n", wrong[i]);
        assert_int_equal(check(f, line), AUTH_INVALID);
    }
}

static void test_rotation_every_key_valid(void **state)
{
    fixture_t *f = *state;
    config_t cfg;
    err_t err;
    char keys[CONFIG_MAX_KEYS * 24 + 1];
    size_t n = 0;

    (void)f;
    memset(&cfg, 0, sizeof(cfg));
    for (int i = 0; i < CONFIG_MAX_KEYS; i++)
        n += (size_t)snprintf(keys + n, sizeof(keys) - n, "%srotation-key-%06d", i ? "," : "", i);
    assert_int_equal(config_parse_api_keys(&cfg, keys, ',', &err), IA_OK);
    assert_int_equal(cfg.n_keys, CONFIG_MAX_KEYS);
    fixture_t g;
    memset(&g, 0, sizeof(g));
    g.cfg = cfg;
    for (int i = 0; i < CONFIG_MAX_KEYS; i++) {
        char line[64];
        snprintf(line, sizeof(line), "X-API-Key: rotation-key-%06d\r\n", i);
        assert_int_equal(check(&g, line), i);
    }
}

static void test_authorization_wins_over_x_api_key(void **state)
{
    fixture_t *f = *state;

    /* Both present: the Authorization header decides, whatever it says. */
    assert_int_equal(check(f, "Authorization: Bearer " KEY1 "\r\nX-API-Key: " KEY2 "\r\n"), 1);
    assert_int_equal(check(f, "Authorization: Basic abc\r\nX-API-Key: " KEY2 "\r\n"), AUTH_INVALID);
}

static void test_no_keys_configured(void **state)
{
    fixture_t g;

    (void)state;
    memset(&g, 0, sizeof(g));
    assert_int_equal(check(&g, "X-API-Key: " KEY0 "\r\n"), AUTH_INVALID);
    assert_int_equal(check(&g, ""), AUTH_MISSING);
}

static void test_key_id(void **state)
{
    fixture_t *f = *state;
    char id0[AUTH_KEY_ID_LEN + 1], id0b[AUTH_KEY_ID_LEN + 1], id1[AUTH_KEY_ID_LEN + 1];

    auth_key_id(&f->cfg, 0, id0);
    auth_key_id(&f->cfg, 0, id0b);
    auth_key_id(&f->cfg, 1, id1);
    assert_int_equal(strlen(id0), AUTH_KEY_ID_LEN);
    assert_int_equal(strspn(id0, "0123456789abcdef"), AUTH_KEY_ID_LEN);
    assert_string_equal(id0, id0b);
    assert_string_not_equal(id0, id1);
    /* It does not reveal the key. */
    assert_no_substring(KEY0, id0);
    assert_no_substring(id0, "key-zero");
}

static void test_key_id_stable_across_loads(void **state)
{
    config_t a, b;
    err_t err;
    char ida[AUTH_KEY_ID_LEN + 1], idb[AUTH_KEY_ID_LEN + 1];

    (void)state;
    /* The same key at another position, loaded another way: same scope,
     * so idempotency keys survive a restart and a rotation. */
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(config_parse_api_keys(&a, KEY1, ',', &err), IA_OK);
    assert_int_equal(config_parse_api_keys(&b, "# rotated\n" KEY2 "\n" KEY1 "\n", '\n', &err),
                     IA_OK);
    auth_key_id(&a, 0, ida);
    auth_key_id(&b, 1, idb);
    assert_string_equal(ida, idb);
}

static void test_key_id_is_not_the_key_hash(void **state)
{
    fixture_t *f = *state;
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    char id[AUTH_KEY_ID_LEN + 1];

    /* The stored hash is SHA-256(key): the scope id must be something else,
     * so the database never holds a value usable against the key table. */
    SHA256((const unsigned char *)KEY0, strlen(KEY0), md);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    assert_memory_equal(f->cfg.keys[0].hash, md, sizeof(md));
    auth_key_id(&f->cfg, 0, id);
    assert_no_substring(hex, id);
    /* Nor a hash of the hash. */
    unsigned char md2[SHA256_DIGEST_LENGTH];
    char hex2[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256(md, sizeof(md), md2);
    for (size_t i = 0; i < sizeof(md2); i++)
        snprintf(hex2 + 2 * i, 3, "%02x", md2[i]);
    assert_no_substring(hex2, id);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_missing),
        T(test_bearer),
        T(test_bearer_scheme_case_insensitive),
        T(test_bearer_extra_spaces),
        T(test_bearer_malformed),
        T(test_x_api_key),
        T(test_wrong_keys),
        T(test_rotation_every_key_valid),
        T(test_authorization_wins_over_x_api_key),
        T(test_no_keys_configured),
        T(test_key_id),
        T(test_key_id_stable_across_loads),
        T(test_key_id_is_not_the_key_hash),
    };

    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
