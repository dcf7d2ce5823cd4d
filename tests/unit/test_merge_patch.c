/*
 * merge_patch.c: JSON Merge Patch (RFC 7396). The examples of Appendix A
 * and section 3, plus what the service relies on: member order, absent
 * targets, inputs left untouched and the U+0000 flag recomputed.
 */
#include "unit.h"

#include "merge_patch.h"

/* target may be NULL (absent). want is compared with json_write output. */
static void expect_merge(void **state, const char *target, const char *patch, const char *want)
{
    arena_t *a = *state;
    json_value_t *t = target ? unit_json_ok(a, target) : NULL;
    json_value_t *p = unit_json_ok(a, patch);
    char *t_before = t ? unit_json_write(t, false) : NULL;
    char *p_before = unit_json_write(p, false);
    json_value_t *r = merge_patch_apply(a, t, p);
    char *got = unit_json_write(r, false);

    if (strcmp(got, want) != 0)
        fail_msg("merge %s + %s: got %s, want %s", target ? target : "(absent)", patch, got, want);
    /* The inputs are not modified. */
    if (t != NULL) {
        char *t_after = unit_json_write(t, false);
        assert_string_equal(t_before, t_after);
        test_free(t_after);
        test_free(t_before);
    }
    char *p_after = unit_json_write(p, false);
    assert_string_equal(p_before, p_after);
    test_free(p_after);
    test_free(p_before);
    test_free(got);
}

/* RFC 7396 Appendix A, every row, in order. */
static void test_rfc7396_appendix_a(void **state)
{
    static const struct {
        const char *target, *patch, *result;
    } rows[] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
        {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
        {"{\"a\":\"foo\"}", "null", "null"},
        {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
    };

    for (size_t i = 0; i < IA_ARRAY_LEN(rows); i++)
        expect_merge(state, rows[i].target, rows[i].patch, rows[i].result);
}

/* RFC 7396 section 3: the worked example. */
static void test_rfc7396_section3_example(void **state)
{
    expect_merge(state,
                 "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":"
                 "\"Doe\"},\"tags\":[\"example\",\"sample\"],\"content\":\"This will be "
                 "unchanged\"}",
                 "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":{"
                 "\"familyName\":null},\"tags\":[\"example\"]}",
                 "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
                 "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}");
}

static void test_absent_target(void **state)
{
    /* Nulls inside a new member are dropped too: the result holds no null
     * that came from the patch. */
    expect_merge(state, NULL, "{\"a\":null,\"b\":1,\"c\":{\"d\":null,\"e\":{\"f\":null}}}",
                 "{\"b\":1,\"c\":{\"e\":{}}}");
    expect_merge(state, NULL, "[1,null]", "[1,null]");
    expect_merge(state, NULL, "null", "null");
}

static void test_nested_nulls(void **state)
{
    expect_merge(state, "{\"a\":{\"b\":{\"c\":1,\"d\":2},\"e\":3}}",
                 "{\"a\":{\"b\":{\"c\":null},\"e\":null,\"f\":{\"g\":null,\"h\":[null]}}}",
                 "{\"a\":{\"b\":{\"d\":2},\"f\":{\"h\":[null]}}}");
    /* Deleting what is not there is a no-op. */
    expect_merge(state, "{\"a\":1}", "{\"zz\":null}", "{\"a\":1}");
    /* A null in the target stays unless the patch touches it. */
    expect_merge(state, "{\"a\":null,\"b\":1}", "{\"b\":2}", "{\"a\":null,\"b\":2}");
    /* A patch member over a scalar replaces it with the patch, nulls removed. */
    expect_merge(state, "{\"a\":5}", "{\"a\":{\"x\":null,\"y\":1}}", "{\"a\":{\"y\":1}}");
}

static void test_non_object_patches(void **state)
{
    static const char *const patches[] = {
        "[]", "[1,{\"a\":null}]", "1", "-0.50", "\"s\"", "true", "false", "null"};

    for (size_t i = 0; i < IA_ARRAY_LEN(patches); i++) {
        expect_merge(state, "{\"keep\":1}", patches[i], patches[i]);
        expect_merge(state, "[1]", patches[i], patches[i]);
    }
    /* An empty object patch changes nothing. */
    expect_merge(state, "{\"b\":1,\"a\":2}", "{}", "{\"b\":1,\"a\":2}");
    expect_merge(state, "[1]", "{}", "{}");
}

static void test_order_preserved(void **state)
{
    /* Existing members keep the target's order wherever the patch names
     * them; new ones follow in the patch's order. */
    expect_merge(state, "{\"c\":1,\"a\":2,\"b\":3}", "{\"z\":0,\"b\":30,\"y\":0,\"c\":null}",
                 "{\"a\":2,\"b\":30,\"z\":0,\"y\":0}");
    expect_merge(state, "{\"m\":{\"q\":1,\"p\":2}}", "{\"m\":{\"p\":20,\"o\":3}}",
                 "{\"m\":{\"q\":1,\"p\":20,\"o\":3}}");
}

static void test_many_members(void **state)
{
    char target[2048], patch[2048], want[2048];
    size_t t = 0, p = 0, w = 0;

    /* 40 members, every other one deleted, every third replaced. */
    target[t++] = '{';
    patch[p++] = '{';
    want[w++] = '{';
    for (int i = 0; i < 40; i++) {
        t += (size_t)snprintf(target + t, sizeof(target) - t, "%s\"k%d\":%d", i ? "," : "", i, i);
        if (i % 2 == 0) {
            p += (size_t)snprintf(patch + p, sizeof(patch) - p, "%s\"k%d\":null", p > 1 ? "," : "",
                                  i);
        } else if (i % 3 == 0) {
            p += (size_t)snprintf(patch + p, sizeof(patch) - p, "%s\"k%d\":\"x\"", p > 1 ? "," : "",
                                  i);
            w += (size_t)snprintf(want + w, sizeof(want) - w, "%s\"k%d\":\"x\"", w > 1 ? "," : "",
                                  i);
        } else {
            w += (size_t)snprintf(want + w, sizeof(want) - w, "%s\"k%d\":%d", w > 1 ? "," : "", i,
                                  i);
        }
    }
    memcpy(target + t, "}", 2);
    memcpy(patch + p, "}", 2);
    memcpy(want + w, "}", 2);
    expect_merge(state, target, patch, want);
}

static void test_nul_flag_recomputed(void **state)
{
    arena_t *a = *state;
    json_value_t *r;

    /* Removing the only U+0000 clears the flag... */
    r = merge_patch_apply(a, unit_json_ok(a, "{\"a\":\"x\\u0000\",\"b\":1}"),
                          unit_json_ok(a, "{\"a\":null}"));
    assert_false(r->has_nul);
    /* ... replacing it too... */
    r = merge_patch_apply(a, unit_json_ok(a, "{\"a\":{\"k\":\"\\u0000\"}}"),
                          unit_json_ok(a, "{\"a\":{\"k\":\"clean\"}}"));
    assert_false(r->has_nul);
    /* ... adding one sets it, in a value or in a key, at any depth. */
    r = merge_patch_apply(a, unit_json_ok(a, "{\"a\":1}"), unit_json_ok(a, "{\"b\":\"\\u0000\"}"));
    assert_true(r->has_nul);
    r = merge_patch_apply(a, unit_json_ok(a, "{\"a\":1}"), unit_json_ok(a, "{\"\\u0000\":1}"));
    assert_true(r->has_nul);
    r = merge_patch_apply(a, unit_json_ok(a, "{\"a\":{\"b\":{}}}"),
                          unit_json_ok(a, "{\"a\":{\"b\":{\"c\":[\"\\u0000\"]}}}"));
    assert_true(r->has_nul);
    /* An untouched one survives. */
    r = merge_patch_apply(a, unit_json_ok(a, "{\"a\":\"\\u0000\",\"b\":1}"),
                          unit_json_ok(a, "{\"b\":2}"));
    assert_true(r->has_nul);
}

#define T(f) cmocka_unit_test_setup_teardown(f, unit_arena_setup, unit_arena_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_rfc7396_appendix_a), T(test_rfc7396_section3_example), T(test_absent_target),
        T(test_nested_nulls),       T(test_non_object_patches),       T(test_order_preserved),
        T(test_many_members),       T(test_nul_flag_recomputed),
    };

    return cmocka_run_group_tests_name("merge_patch", tests, NULL, NULL);
}
