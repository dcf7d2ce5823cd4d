/*
 * store_pg_connect.c: which errors end a session (issue 12: a read-only or
 * demoted server must not poison the pool), and target_session_attrs:
 * read-write by default, DATABASE_URL's own value wins.
 */
#include "unit.h"

#include "store_pg_connect.h"

static void test_session_ending_sqlstates(void **state)
{
    static const char *const ends[] = {"25006", "57P01", "57P02", "57P03",
                                       "08000", "08003", "08006", "08P01"};
    /* Outages that leave the session usable, and ordinary errors. */
    static const char *const keeps[] = {"40001", "40P01", "57014", "53300", "55P03",
                                        "25P02", "23505", "22P02", "XX000"};
    (void)state;

    for (size_t i = 0; i < IA_ARRAY_LEN(ends); i++)
        assert_true(pg_sqlstate_ends_session(ends[i]));
    for (size_t i = 0; i < IA_ARRAY_LEN(keeps); i++)
        assert_false(pg_sqlstate_ends_session(keeps[i]));
    assert_false(pg_sqlstate_ends_session(NULL));
    assert_false(pg_sqlstate_ends_session(""));
    assert_false(pg_sqlstate_ends_session("08"));
    assert_false(pg_sqlstate_ends_session("250060"));
}

/* The effective target_session_attrs of a connection built from url (not
 * connected: port 1 on loopback refuses, and nothing waits for it). */
static bool needs_primary(const char *url)
{
    config_t cfg;
    pg_store_t s;
    bool needs;

    memset(&cfg, 0, sizeof(cfg));
    memset(&s, 0, sizeof(s));
    cfg.database_url = (char *)url;
    cfg.db_connect_timeout_s = 2;
    cfg.db_statement_timeout_ms = 1000;
    pg_params_build(&s, &cfg);
    PGconn *pg = PQconnectStartParams(s.kw, s.val, 1);
    assert_non_null(pg);
    needs = pg_session_needs_primary(pg);
    PQfinish(pg);
    pg_params_free(&s);
    return needs;
}

static void test_target_session_attrs_default_and_override(void **state)
{
    (void)state;

    assert_true(needs_primary("postgres://u:p@127.0.0.1:1/db?sslmode=disable"));
    assert_true(needs_primary(
        "postgres://u:p@127.0.0.1:1/db?sslmode=disable&target_session_attrs=primary"));
    assert_false(
        needs_primary("postgres://u:p@127.0.0.1:1/db?sslmode=disable&target_session_attrs=any"));
    assert_false(needs_primary(
        "postgres://u:p@127.0.0.1:1/db?sslmode=disable&target_session_attrs=prefer-standby"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_ending_sqlstates),
        cmocka_unit_test(test_target_session_attrs_default_and_override),
    };

    return cmocka_run_group_tests_name("store_pg_connect", tests, NULL, NULL);
}
