/*
 * item.c: the body rules shared by POST, PUT and PATCH results, the
 * idempotency request hash, the JSON representation and id parsing.
 */
#include "unit.h"

#include "item.h"

/* ---- helpers ---- */

/* Parses body and validates it; returns IA_OK or IA_ERR. */
static int validate(void **state, const char *body, size_t len, item_input_t *in,
                    item_errors_t *errs)
{
    json_value_t *v = unit_json(*state, body, len);

    if (v == NULL)
        fail_msg("body is not JSON: %s", unit_escape(body, len));
    return item_validate(*state, v, in, errs);
}

static void expect_valid(void **state, const char *body, item_input_t *in)
{
    item_errors_t errs;

    if (validate(state, body, strlen(body), in, &errs) != IA_OK)
        fail_msg("refused (%s: %s): %s", errs.n ? errs.errors[0].field : "?",
                 errs.n ? errs.errors[0].message : "?", unit_escape(body, strlen(body)));
    assert_int_equal(errs.n, 0);
}

static bool has_error_for(const item_errors_t *errs, const char *field)
{
    for (size_t i = 0; i < errs->n; i++) {
        if (errs->errors[i].field_len == strlen(field) &&
            memcmp(errs->errors[i].field, field, errs->errors[i].field_len) == 0) {
            assert_non_null(errs->errors[i].message);
            assert_true(errs->errors[i].message[0] != '\0');
            return true;
        }
    }
    return false;
}

/* The body is refused with an error naming field (and only one error). */
static void expect_invalid_n(void **state, const char *body, size_t len, const char *field)
{
    item_input_t in;
    item_errors_t errs;

    if (validate(state, body, len, &in, &errs) != IA_ERR)
        fail_msg("accepted: %s", unit_escape(body, len));
    if (!has_error_for(&errs, field))
        fail_msg("no error for \"%s\" (first: \"%.*s\"): %s", field,
                 errs.n ? (int)errs.errors[0].field_len : 0, errs.n ? errs.errors[0].field : "",
                 unit_escape(body, len));
    assert_int_equal(errs.n, 1);
}

static void expect_invalid(void **state, const char *body, const char *field)
{
    expect_invalid_n(state, body, strlen(body), field);
}

/* {"name":"<n copies of unit>"} */
static char *name_body(const char *unit, size_t copies)
{
    size_t ul = strlen(unit);
    char *s = test_malloc(copies * ul + 16);
    size_t n = 0;

    memcpy(s, "{\"name\":\"", 9);
    n = 9;
    for (size_t i = 0; i < copies; i++) {
        memcpy(s + n, unit, ul);
        n += ul;
    }
    memcpy(s + n, "\"}", 3);
    return s;
}

/* {"name":"n","data":{"k":"<pad bytes of 'x'>"}}: data serializes to
 * pad + 8 bytes. */
static char *data_body(size_t pad, const char *ws)
{
    char *s = test_malloc(pad + 128);
    int n = snprintf(s, 64, "{\"name\":\"n\",\"data\":%s{%s\"k\"%s:%s\"", ws, ws, ws, ws);

    memset(s + n, 'x', pad);
    snprintf(s + (size_t)n + pad, 64, "\"%s}%s}", ws, ws);
    return s;
}

static void hash_of(void **state, const char *body, char out[65])
{
    item_input_t in;

    expect_valid(state, body, &in);
    item_request_hash(&in, out);
}

/* ---- item_validate: accepted bodies ---- */

static void test_minimal_body(void **state)
{
    item_input_t in;

    expect_valid(state, "{\"name\":\"x\"}", &in);
    assert_int_equal(in.name_len, 1);
    assert_memory_equal(in.name, "x", 1);
    /* data absent: the empty object. */
    assert_int_equal(in.data_len, 2);
    assert_memory_equal(in.data, "{}", 2);
}

static void test_data_compacted_in_document_order(void **state)
{
    item_input_t in;
    static const char want[] = "{\"b\":1,\"a\":[1.50,{\"c\":null}],\"s\":\"caf\xc3\xa9\"}";

    expect_valid(state,
                 " { \"data\" : { \"b\" : 1 , \"a\" : [ 1.50 , { \"c\" : null } ] , \"s\" : "
                 "\"caf\\u00e9\" } , \"name\" : \"n\" } ",
                 &in);
    assert_int_equal(in.data_len, LIT_LEN(want));
    assert_memory_equal(in.data, want, LIT_LEN(want));
    assert_non_null(in.data_value);
    expect_valid(state, "{\"name\":\"n\",\"data\":{}}", &in);
    assert_int_equal(in.data_len, 2);
}

static void test_name_decoded(void **state)
{
    item_input_t in;

    expect_valid(state, "{\"name\":\"caf\\u00e9 \\\"q\\\" \\ud83d\\ude00\"}", &in);
    assert_int_equal(in.name_len, 14);
    assert_memory_equal(in.name, "caf\xc3\xa9 \"q\" \xf0\x9f\x98\x80", 14);
}

/* ---- name ---- */

static void test_name_length_in_code_points(void **state)
{
    static const char *const units[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                        "\\u00e9"};

    for (size_t i = 0; i < IA_ARRAY_LEN(units); i++) {
        char *ok = name_body(units[i], ITEM_NAME_MAX_CHARS);
        char *over = name_body(units[i], ITEM_NAME_MAX_CHARS + 1);
        item_input_t in;
        expect_valid(state, ok, &in);
        expect_invalid(state, over, "name");
        test_free(ok);
        test_free(over);
    }
    item_input_t in;
    expect_valid(state, "{\"name\":\"\xf0\x9f\x98\x80\"}", &in);
    expect_invalid(state, "{\"name\":\"\"}", "name");
}

static void test_name_required_and_a_string(void **state)
{
    static const char *const bodies[] = {
        "{}",
        "{\"data\":{}}",
        "{\"name\":null}",
        "{\"name\":1}",
        "{\"name\":true}",
        "{\"name\":[\"x\"]}",
        "{\"name\":{\"x\":1}}",
    };

    for (size_t i = 0; i < IA_ARRAY_LEN(bodies); i++)
        expect_invalid(state, bodies[i], "name");
}

static void test_name_control_characters(void **state)
{
    static const char *const bad[] = {
        "\\u0000", "\\u0001", "\\u001f", "\\t",      "\\n",      "\\r", "\\u007f", /* C0 and DEL */
        "\\u0080", "\\u0085", "\\u009f", "\xc2\x80", "\xc2\x9f",                   /* C1 */
        "\x7f",
    };
    char body[64];

    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        snprintf(body, sizeof(body), "{\"name\":\"a%sb\"}", bad[i]);
        expect_invalid(state, body, "name");
        snprintf(body, sizeof(body), "{\"name\":\"%s\"}", bad[i]);
        expect_invalid(state, body, "name");
    }
    /* Not controls: NBSP (U+00A0), U+00C2 itself, line separator, emoji. */
    static const char *const good[] = {"\\u00a0", "\xc2\xa0",       "\xc3\x82",
                                       "\\u2028", "\\ud83d\\ude00", " "};
    for (size_t i = 0; i < IA_ARRAY_LEN(good); i++) {
        item_input_t in;
        snprintf(body, sizeof(body), "{\"name\":\"a%sb\"}", good[i]);
        expect_valid(state, body, &in);
    }
}

/* ---- data ---- */

static void test_data_must_be_an_object(void **state)
{
    static const char *const bodies[] = {
        "{\"name\":\"n\",\"data\":null}",  "{\"name\":\"n\",\"data\":[]}",
        "{\"name\":\"n\",\"data\":[{}]}",  "{\"name\":\"n\",\"data\":\"{}\"}",
        "{\"name\":\"n\",\"data\":1}",     "{\"name\":\"n\",\"data\":true}",
        "{\"name\":\"n\",\"data\":false}",
    };

    for (size_t i = 0; i < IA_ARRAY_LEN(bodies); i++)
        expect_invalid(state, bodies[i], "data");
}

static void test_data_without_u0000(void **state)
{
    static const char *const bodies[] = {
        "{\"name\":\"n\",\"data\":{\"a\":\"\\u0000\"}}",
        "{\"name\":\"n\",\"data\":{\"a\":\"x\\u0000y\"}}",
        "{\"name\":\"n\",\"data\":{\"\\u0000\":1}}",
        "{\"name\":\"n\",\"data\":{\"k\\u0000\":1}}",
        "{\"name\":\"n\",\"data\":{\"a\":[1,{\"b\":[\"\\u0000\"]}]}}",
        "{\"name\":\"n\",\"data\":{\"a\":{\"b\":{\"\\u0000\":null}}}}",
    };

    for (size_t i = 0; i < IA_ARRAY_LEN(bodies); i++)
        expect_invalid(state, bodies[i], "data");
    /* Other escapes are fine, and so is the text "\u0000". */
    item_input_t in;
    expect_valid(state, "{\"name\":\"n\",\"data\":{\"a\":\"\\u0001\",\"b\":\"\\\\u0000\"}}", &in);
}

static void test_data_size_limit(void **state)
{
    item_input_t in;
    /* {"k":"..."} is pad + 8 bytes. */
    char *at = data_body(ITEM_DATA_MAX_BYTES - 8, "");
    char *over = data_body(ITEM_DATA_MAX_BYTES - 7, "");
    /* Insignificant whitespace in the request does not count. */
    char *at_ws = data_body(ITEM_DATA_MAX_BYTES - 8, "   \n\t  ");
    char *over_ws = data_body(ITEM_DATA_MAX_BYTES - 7, "   \n\t  ");

    expect_valid(state, at, &in);
    assert_int_equal(in.data_len, ITEM_DATA_MAX_BYTES);
    expect_invalid(state, over, "data");
    expect_valid(state, at_ws, &in);
    assert_int_equal(in.data_len, ITEM_DATA_MAX_BYTES);
    expect_invalid(state, over_ws, "data");
    test_free(at);
    test_free(over);
    test_free(at_ws);
    test_free(over_ws);
}

static void test_data_size_counts_raw_utf8(void **state)
{
    /* "\u00e9" is 6 bytes in the request and 2 in the compact form: a body
     * far above 64 KiB whose compact data is exactly 65536 bytes. */
    size_t pairs = (ITEM_DATA_MAX_BYTES - 8) / 2;
    char *s = test_malloc(pairs * 6 + 64);
    size_t n = (size_t)snprintf(s, 64, "{\"name\":\"n\",\"data\":{\"k\":\"");
    item_input_t in;

    for (size_t i = 0; i < pairs; i++) {
        memcpy(s + n, "\\u00e9", 6);
        n += 6;
    }
    memcpy(s + n, "\"}}", 4);
    expect_valid(state, s, &in);
    assert_int_equal(in.data_len, ITEM_DATA_MAX_BYTES);
    /* One more byte of it is over. */
    memcpy(s + n, "x\"}}", 5);
    expect_invalid(state, s, "data");
    test_free(s);
}

/* ---- body shape ---- */

static void test_unknown_fields(void **state)
{
    item_input_t in;
    item_errors_t errs;
    static const char body[] = "{\"name\":\"n\",\"id\":1,\"Name\":\"x\",\"version\":2}";

    assert_int_equal(validate(state, body, LIT_LEN(body), &in, &errs), IA_ERR);
    assert_int_equal(errs.n, 3);
    assert_true(has_error_for(&errs, "id"));
    assert_true(has_error_for(&errs, "Name"));
    assert_true(has_error_for(&errs, "version"));
    expect_invalid(state, "{\"name\":\"n\",\"data\":{},\"extra\":null}", "extra");
}

static void test_every_error_listed(void **state)
{
    item_input_t in;
    item_errors_t errs;
    static const char body[] = "{\"foo\":1,\"name\":5,\"data\":null}";

    assert_int_equal(validate(state, body, LIT_LEN(body), &in, &errs), IA_ERR);
    assert_int_equal(errs.n, 3);
    assert_true(has_error_for(&errs, "foo"));
    assert_true(has_error_for(&errs, "name"));
    assert_true(has_error_for(&errs, "data"));
}

static void test_error_list_is_bounded(void **state)
{
    char body[1024];
    size_t n = 0;
    item_input_t in;
    item_errors_t errs;

    n += (size_t)snprintf(body, sizeof(body), "{\"name\":\"n\"");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"u%d\":%d", i, i);
    memcpy(body + n, "}", 2);
    assert_int_equal(validate(state, body, n + 1, &in, &errs), IA_ERR);
    assert_int_equal(errs.n, ITEM_MAX_FIELD_ERRORS);
}

static void test_body_must_be_an_object(void **state)
{
    static const char *const bodies[] = {"[]", "[{\"name\":\"n\"}]", "\"n\"", "1", "null", "true"};

    for (size_t i = 0; i < IA_ARRAY_LEN(bodies); i++)
        expect_invalid(state, bodies[i], "");
}

/* ---- item_request_hash ---- */

static void test_hash_equal_for_equivalent_bodies(void **state)
{
    static const char *const same[] = {
        "{\"name\":\"x\",\"data\":{\"a\":1,\"b\":{\"c\":[1,2],\"d\":\"e\"}}}",
        "{\"data\":{\"b\":{\"d\":\"e\",\"c\":[1,2]},\"a\":1},\"name\":\"x\"}",
        " { \"name\" : \"\\u0078\" , \"data\" : { \"b\" : { \"d\" : \"\\u0065\" , \"c\" : [ 1 , 2 "
        "] } , \"a\" : 1 } } ",
    };
    char first[65], h[65];

    hash_of(state, same[0], first);
    assert_int_equal(strlen(first), 64);
    assert_int_equal(strspn(first, "0123456789abcdef"), 64);
    for (size_t i = 1; i < IA_ARRAY_LEN(same); i++) {
        hash_of(state, same[i], h);
        assert_string_equal(first, h);
    }
    /* data absent and data {} are the same request. */
    char absent[65], empty[65];
    hash_of(state, "{\"name\":\"x\"}", absent);
    hash_of(state, "{\"name\":\"x\",\"data\":{}}", empty);
    assert_string_equal(absent, empty);
}

static void test_hash_differs_otherwise(void **state)
{
    static const char *const bodies[] = {
        "{\"name\":\"x\",\"data\":{\"a\":1}}",
        "{\"name\":\"y\",\"data\":{\"a\":1}}",
        "{\"name\":\"x \",\"data\":{\"a\":1}}",
        "{\"name\":\"x\",\"data\":{\"a\":2}}",
        "{\"name\":\"x\",\"data\":{\"a\":\"1\"}}",
        "{\"name\":\"x\",\"data\":{\"a\":[1]}}",
        "{\"name\":\"x\",\"data\":{\"A\":1}}",
        "{\"name\":\"x\",\"data\":{\"a\":1,\"b\":null}}",
        "{\"name\":\"x\",\"data\":{}}",
        "{\"name\":\"x\",\"data\":{\"a\":[1,2]}}",
        "{\"name\":\"x\",\"data\":{\"a\":[2,1]}}",
        /* Field boundaries cannot be shifted between name and data. */
        "{\"name\":\"x\\\":{\\\"a\\\":1}\",\"data\":{}}",
    };
    char h[IA_ARRAY_LEN(bodies)][65];

    for (size_t i = 0; i < IA_ARRAY_LEN(bodies); i++) {
        hash_of(state, bodies[i], h[i]);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(h[i], h[j]) == 0)
                fail_msg("same hash for %s and %s", bodies[i], bodies[j]);
        }
    }
}

/* ---- item_write_json ---- */

static void test_write_json(void **state)
{
    item_t it = {
        .id = 42,
        .name = "a\"b\\c\xc3\xa9\n",
        .name_len = 8,
        .data = "{\"k\":[1,2.50]}",
        .data_len = 14,
        .version = 3,
        .created_ms = 0,
        .updated_ms = 1795608000123,
    };
    buf_t b = {0};

    item_write_json(&b, &it);
    buf_putc(&b, '\0');
    char *out = test_malloc(b.len);
    memcpy(out, b.data, b.len);
    buf_release(&b);
    assert_string_equal(out,
                        "{\"id\":42,\"name\":\"a\\\"b\\\\c\xc3\xa9\\n\",\"data\":{\"k\":[1,2.50]},"
                        "\"version\":3,\"created_at\":\"1970-01-01T00:00:00.000Z\","
                        "\"updated_at\":\"2026-11-25T12:00:00.123Z\"}");
    /* It is JSON, and the fields read back. */
    json_value_t *v = unit_json_ok(*state, out);
    assert_int_equal(v->u.obj.n, 6);
    assert_int_equal(json_object_get(v, "data")->type, JSON_OBJECT);
    test_free(out);
}

static void test_write_json_extremes(void **state)
{
    item_t it = {
        .id = INT64_MAX,
        .name = "n",
        .name_len = 1,
        .data = "{}",
        .data_len = 2,
        .version = 1,
        .created_ms = 951868799999, /* 2000-02-29T23:59:59.999Z */
        .updated_ms = 951868800000,
    };
    buf_t b = {0};

    (void)state;
    item_write_json(&b, &it);
    buf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\"id\":9223372036854775807,"));
    assert_non_null(strstr(b.data, "\"created_at\":\"2000-02-29T23:59:59.999Z\""));
    assert_non_null(strstr(b.data, "\"updated_at\":\"2000-03-01T00:00:00.000Z\""));
    buf_release(&b);
}

/* ---- item_parse_id ---- */

static void test_parse_id_valid(void **state)
{
    static const struct {
        const char *s;
        int64_t id;
    } ok[] = {
        {"1", 1},
        {"9", 9},
        {"10", 10},
        {"42", 42},
        {"1000000", 1000000},
        {"9223372036854775806", INT64_MAX - 1},
        {"9223372036854775807", INT64_MAX},
    };
    int64_t id;

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(ok); i++) {
        id = -1;
        assert_int_equal(item_parse_id(ok[i].s, strlen(ok[i].s), &id), IA_OK);
        assert_true(id == ok[i].id);
    }
    /* Only the n bytes given are read. */
    assert_int_equal(item_parse_id("12345", 2, &id), IA_OK);
    assert_int_equal(id, 12);
}

static void test_parse_id_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "0",
        "00",
        "01",
        "007",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1a",
        "a1",
        "0x10",
        "1.0",
        "1e3",
        "١",
        "1/2",
        "%31",
        "9223372036854775808", /* 2^63 */
        "9223372036854775810",
        "18446744073709551615", /* 2^64 - 1 */
        "18446744073709551616", /* 2^64 */
        "99999999999999999999",
        "100000000000000000000000",
    };
    int64_t id = 77;

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        if (item_parse_id(bad[i], strlen(bad[i]), &id) != IA_ERR)
            fail_msg("accepted id \"%s\"", bad[i]);
    }
    assert_int_equal(id, 77); /* untouched on error */
    assert_int_equal(item_parse_id("1\0", 2, &id), IA_ERR);
}

#define T(f) cmocka_unit_test_setup_teardown(f, unit_arena_setup, unit_arena_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_minimal_body),
        T(test_data_compacted_in_document_order),
        T(test_name_decoded),
        T(test_name_length_in_code_points),
        T(test_name_required_and_a_string),
        T(test_name_control_characters),
        T(test_data_must_be_an_object),
        T(test_data_without_u0000),
        T(test_data_size_limit),
        T(test_data_size_counts_raw_utf8),
        T(test_unknown_fields),
        T(test_every_error_listed),
        T(test_error_list_is_bounded),
        T(test_body_must_be_an_object),
        T(test_hash_equal_for_equivalent_bodies),
        T(test_hash_differs_otherwise),
        T(test_write_json),
        T(test_write_json_extremes),
        T(test_parse_id_valid),
        T(test_parse_id_invalid),
    };

    return cmocka_run_group_tests_name("item", tests, NULL, NULL);
}
