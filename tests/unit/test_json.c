/*
 * json.c: every acceptance and rejection rule of the strict parser
 * (RFC 8259 plus the service's own: no duplicate keys, no overflow, depth
 * 64), the U+0000 flag, and both serializers.
 */
#include "unit.h"

#include "json.h"

/* ---- helpers ---- */

static void accept_n(void **state, const char *text, size_t len)
{
    json_error_t err;

    memset(&err, 0, sizeof(err));
    if (json_parse(*state, text, len, &err) == NULL)
        fail_msg("rejected (%s at %zu): %s", err.msg, err.offset, unit_escape(text, len));
}

static void reject_n(void **state, const char *text, size_t len)
{
    json_error_t err;

    memset(&err, 0, sizeof(err));
    if (json_parse(*state, text, len, &err) != NULL)
        fail_msg("accepted: %s", unit_escape(text, len));
    assert_true(err.msg[0] != '\0');
    assert_true(err.offset <= len);
}

#define ACCEPT(lit) accept_n(state, (lit), LIT_LEN(lit))
#define REJECT(lit) reject_n(state, (lit), LIT_LEN(lit))

static void accept_all(void **state, const char *const *docs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        accept_n(state, docs[i], strlen(docs[i]));
}

static void reject_all(void **state, const char *const *docs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        reject_n(state, docs[i], strlen(docs[i]));
}

/* Parses a one-string document and returns the decoded string. */
static const json_value_t *string_of(void **state, const char *text, size_t len)
{
    json_value_t *v = unit_json(*state, text, len);

    if (v == NULL)
        fail_msg("rejected: %s", unit_escape(text, len));
    assert_int_equal(v->type, JSON_STRING);
    return v;
}

static void expect_write(void **state, const char *in, const char *want, bool canonical)
{
    json_value_t *v = unit_json_ok(*state, in);
    char *out = unit_json_write(v, canonical);

    if (strcmp(out, want) != 0)
        fail_msg("%s of %s: got %s, want %s", canonical ? "canonical" : "write", in, out, want);
    test_free(out);
}

/* A document of depth nested containers: [[[...]]] or {"a":{"a":...}}. */
static char *nested(int depth, bool objects)
{
    size_t cap = (size_t)depth * 6 + 8;
    char *s = test_malloc(cap);
    size_t n = 0;

    for (int i = 0; i < depth; i++) {
        if (objects) {
            memcpy(s + n, "{\"a\":", 5);
            n += 5;
        } else {
            s[n++] = '[';
        }
    }
    memcpy(s + n, "1", 1);
    n++;
    for (int i = 0; i < depth; i++)
        s[n++] = objects ? '}' : ']';
    s[n] = '\0';
    return s;
}

/* ---- structure ---- */

static void test_accepts_every_type(void **state)
{
    static const char *const docs[] = {
        "null",
        "true",
        "false",
        "0",
        "\"\"",
        "[]",
        "{}",
        " \t\r\n{ \"a\" : [ 1 , \"x\" , null , true , false , { } , [ ] ] } \t\r\n",
        "{\"a\":{\"b\":{\"c\":[[],[{}]]}}}",
    };

    accept_all(state, docs, IA_ARRAY_LEN(docs));
}

static void test_tree_shape(void **state)
{
    json_value_t *v = unit_json_ok(*state, "{\"b\":[1,\"x\",null],\"a\":true,\"c\":{}}");

    assert_int_equal(v->type, JSON_OBJECT);
    assert_int_equal(v->u.obj.n, 3);
    /* Members in document order. */
    assert_int_equal(v->u.obj.members[0].key_len, 1);
    assert_memory_equal(v->u.obj.members[0].key, "b", 1);
    assert_memory_equal(v->u.obj.members[1].key, "a", 1);
    assert_memory_equal(v->u.obj.members[2].key, "c", 1);
    json_value_t *b = json_object_get(v, "b");
    assert_non_null(b);
    assert_int_equal(b->type, JSON_ARRAY);
    assert_int_equal(b->u.arr.n, 3);
    assert_int_equal(b->u.arr.items[0]->type, JSON_NUMBER);
    assert_int_equal(b->u.arr.items[1]->type, JSON_STRING);
    assert_int_equal(b->u.arr.items[2]->type, JSON_NULL);
    assert_int_equal(json_object_get(v, "a")->type, JSON_TRUE);
    assert_int_equal(json_object_get(v, "c")->u.obj.n, 0);
    assert_null(json_object_get(v, "d"));
    assert_null(json_object_get(v, ""));
    assert_null(json_object_get(b, "b")); /* not an object */
    assert_null(json_object_get(NULL, "b"));
}

static void test_rejects_structural_errors(void **state)
{
    static const char *const docs[] = {
        "[1,]",   "[,1]",    "[1 2]",      "[",         "]",
        "{",      "}",       "{\"a\"}",    "{\"a\":}",  "{\"a\" 1}",
        "{a:1}",  "{'a':1}", "{\"a\":1,}", "{,}",       "{\"a\":1 \"b\":2}",
        "[1,,2]", "\"abc",   "'abc'",      "tru",       "nul",
        "fals",   "True",    "NULL",       "undefined", "[1]]",
        "{}}",    "x",       "@",          "/* */ 1",   "1 // c",
    };

    reject_all(state, docs, IA_ARRAY_LEN(docs));
}

static void test_rejects_empty_and_whitespace(void **state)
{
    REJECT("");
    REJECT(" ");
    REJECT("\t\r\n ");
    /* Only the four JSON whitespace characters. */
    REJECT("\f{}");
    REJECT("{}\v");
    REJECT("\xc2\xa0{}");
}

static void test_rejects_trailing_garbage(void **state)
{
    static const char *const docs[] = {"{} x",        "{}{}",  "[1][2]", "1 2",
                                       "\"a\" \"b\"", "null,", "{}}",    "true false"};

    reject_all(state, docs, IA_ARRAY_LEN(docs));
    REJECT("{}\0");
    ACCEPT("{} \t\r\n");
}

static void test_rejects_bom(void **state)
{
    /* RFC 8259 section 8.1: implementations MUST NOT add a byte order mark
     * and the text is not JSON with one. */
    REJECT("\xef\xbb\xbf{}");
    REJECT("\xef\xbb\xbf\"x\"");
}

static void test_input_need_not_be_terminated(void **state)
{
    static const char text[] = "[123]456";
    json_value_t *v = unit_json(*state, text, 5);

    assert_non_null(v);
    assert_int_equal(v->u.arr.items[0]->u.num.len, 3);
    /* A prefix that cuts a token. */
    assert_null(unit_json(*state, text, 4));
    assert_null(unit_json(*state, "truex", 3));
    assert_non_null(unit_json(*state, "truex", 4));
    assert_non_null(unit_json(*state, "\"ab\"cd", 4));
}

static void test_error_offsets(void **state)
{
    json_error_t err;

    memset(&err, 0, sizeof(err));
    assert_null(json_parse(*state, "[1,x]", 5, &err));
    assert_int_equal(err.offset, 3);
    assert_null(json_parse(*state, "{} x", 4, &err));
    assert_int_equal(err.offset, 3);
    /* NULL err is allowed. */
    assert_null(json_parse(*state, "[", 1, NULL));
}

/* ---- depth ---- */

static void test_depth_64_accepted_65_rejected(void **state)
{
    for (int objects = 0; objects <= 1; objects++) {
        char *ok = nested(JSON_MAX_DEPTH, objects);
        char *deep = nested(JSON_MAX_DEPTH + 1, objects);
        accept_n(state, ok, strlen(ok));
        reject_n(state, deep, strlen(deep));
        test_free(ok);
        test_free(deep);
    }
    /* Depth counts containers, not siblings. */
    char *wide = test_malloc(64 * 1024);
    size_t n = 0;
    wide[n++] = '[';
    for (int i = 0; i < 5000; i++) {
        memcpy(wide + n, i ? ",[[]]" : "[[]]", i ? 5 : 4);
        n += i ? 5 : 4;
    }
    wide[n++] = ']';
    accept_n(state, wide, n);
    test_free(wide);
}

static void test_depth_mixed_containers(void **state)
{
    char buf[512];
    size_t n = 0;

    for (int i = 0; i < 65; i++) {
        if (i % 2) {
            memcpy(buf + n, "{\"k\":", 5);
            n += 5;
        } else {
            buf[n++] = '[';
        }
    }
    buf[n++] = '0';
    for (int i = 64; i >= 0; i--)
        buf[n++] = i % 2 ? '}' : ']';
    reject_n(state, buf, n);
    /* The same minus the innermost container: 64. */
    accept_n(state, buf + 1, n - 2);
}

/* ---- numbers ---- */

static void test_numbers_valid(void **state)
{
    static const char *const docs[] = {
        "0",
        "-0",
        "1",
        "-1",
        "123",
        "1.5",
        "-1.5",
        "0.0",
        "1e5",
        "1E5",
        "1e+5",
        "1e-5",
        "1.5e3",
        "-0.0e-0",
        "1e308",
        "1e-400",
        "4.9e-324",
        "1.7976931348623157e308",
        "123456789012345678901234567890",
        "[0,-0,1]",
        "{\"n\":-12.5e-3}",
    };

    accept_all(state, docs, IA_ARRAY_LEN(docs));
}

static void test_numbers_invalid(void **state)
{
    static const char *const docs[] = {
        "01",        "-01",   "00",   "1.",   ".5",        "-",   "+1",    "1e",  "1e+",
        "1E-",       "1.e5",  "-.5",  "0x1",  "1.5.5",     "--1", "1e5.5", "NaN", "Infinity",
        "-Infinity", "1_000", "[01]", "[1.]", "{\"a\":-}", "١",   "0 1",
    };

    reject_all(state, docs, IA_ARRAY_LEN(docs));
}

static void test_numbers_overflowing_a_double(void **state)
{
    REJECT("1e400");
    REJECT("-1e400");
    REJECT("1.8e308");
    REJECT("[1e309]");
    /* A long mantissa (past the parser's stack buffer) that overflows. */
    char *big = test_malloc(512);
    big[0] = '1';
    memset(big + 1, '0', 400);
    reject_n(state, big, 401);
    /* ... and one that does not. */
    accept_n(state, big, 300);
    test_free(big);
    /* Underflow is fine: it rounds to zero. */
    ACCEPT("1e-400");
    ACCEPT("-1e-400");
}

static void test_number_lexeme_kept(void **state)
{
    json_value_t *v = unit_json_ok(*state, "[1.50, -0, 1E+2, 1e-400, 10000000000000000000001]");

    static const char *const want[] = {"1.50", "-0", "1E+2", "1e-400", "10000000000000000000001"};
    for (size_t i = 0; i < IA_ARRAY_LEN(want); i++) {
        const json_value_t *n = v->u.arr.items[i];
        assert_int_equal(n->type, JSON_NUMBER);
        assert_int_equal(n->u.num.len, strlen(want[i]));
        assert_memory_equal(n->u.num.lexeme, want[i], strlen(want[i]));
    }
}

/* ---- strings: escapes and surrogates ---- */

static void test_string_escapes_decoded(void **state)
{
    static const char in[] = "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\"";
    static const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac";
    const json_value_t *v = string_of(state, in, LIT_LEN(in));

    assert_int_equal(v->u.str.len, LIT_LEN(want));
    assert_memory_equal(v->u.str.ptr, want, LIT_LEN(want));
    assert_false(v->has_nul);
}

static void test_string_invalid_escapes(void **state)
{
    static const char *const docs[] = {
        "\"\\x41\"", "\"\\a\"", "\"\\U0041\"", "\"\\u12G4\"", "\"\\u123\"",   "\"\\u\"",
        "\"\\'\"",   "\"\\0\"", "\"\\\"",      "\"\\u00e\"",  "\"\\ u0041\"",
    };

    reject_all(state, docs, IA_ARRAY_LEN(docs));
    REJECT("\"\\\x01\"");
    REJECT("\"\\\xc3\xa9\"");
}

static void test_surrogate_pairs(void **state)
{
    static const char pair[] = "\"\\ud83d\\ude00\"";
    static const char upper[] = "\"\\uD83D\\uDE00\"";
    static const char max[] = "\"\\udbff\\udfff\"";
    static const char min[] = "\"\\ud800\\udc00\"";

    const json_value_t *v = string_of(state, pair, LIT_LEN(pair));
    assert_int_equal(v->u.str.len, 4);
    assert_memory_equal(v->u.str.ptr, "\xf0\x9f\x98\x80", 4);
    v = string_of(state, upper, LIT_LEN(upper));
    assert_memory_equal(v->u.str.ptr, "\xf0\x9f\x98\x80", 4);
    v = string_of(state, max, LIT_LEN(max));
    assert_memory_equal(v->u.str.ptr, "\xf4\x8f\xbf\xbf", 4);
    v = string_of(state, min, LIT_LEN(min));
    assert_memory_equal(v->u.str.ptr, "\xf0\x90\x80\x80", 4);
}

static void test_lone_surrogates_rejected(void **state)
{
    static const char *const docs[] = {
        "\"\\ud800\"",        /* lone high */
        "\"\\udbff\"",        /* lone high, last */
        "\"\\ud800x\"",       /* high then a character */
        "\"\\ud800\\n\"",     /* high then another escape */
        "\"\\ud800\\u0041\"", /* high then a non-surrogate */
        "\"\\ud800\\ud800\"", /* high then high */
        "\"\\udc00\"",        /* lone low */
        "\"\\udfff\"",        /* lone low, last */
        "\"\\udc00\\ud800\"", /* reversed pair */
        "\"a\\ude00b\"",      /* low in the middle */
        "\"\\ud83d\\ude0\"",  /* truncated low */
        "{\"\\ud800\":1}",    /* in a key */
    };

    reject_all(state, docs, IA_ARRAY_LEN(docs));
}

static void test_error_offset_within_input_for_trailing_backslash(void **state)
{
    json_error_t err;

    /* A string cut right after a backslash: the scan must not step past the
     * end of the input, and the offset it reports (which the 400 answer
     * quotes) must lie within it. */
    memset(&err, 0, sizeof(err));
    assert_null(json_parse(*state, "\"\\", 2, &err));
    assert_true(err.offset <= 2);
    assert_null(json_parse(*state, "[\"abc\\", 6, &err));
    assert_true(err.offset <= 6);
}

static void test_unescaped_control_chars_rejected(void **state)
{
    char doc[4] = {'"', 0, '"', 0};

    for (int c = 0; c < 0x20; c++) {
        doc[1] = (char)c;
        reject_n(state, doc, 3);
    }
    /* DEL and C1 controls are allowed by RFC 8259. */
    ACCEPT("\"\x7f\"");
    ACCEPT("\"\xc2\x80\xc2\x9f\"");
    /* Escaped, controls are fine. */
    ACCEPT("\"\\u0001\\u001f\\t\"");
}

/* ---- strings: UTF-8 ---- */

static void test_utf8_valid(void **state)
{
    static const char *const docs[] = {
        "\"\xc2\x80\"",         /* U+0080 */
        "\"\xc3\xa9\"",         /* U+00E9 */
        "\"\xdf\xbf\"",         /* U+07FF */
        "\"\xe0\xa0\x80\"",     /* U+0800 */
        "\"\xe2\x82\xac\"",     /* U+20AC */
        "\"\xed\x9f\xbf\"",     /* U+D7FF, last before the surrogates */
        "\"\xee\x80\x80\"",     /* U+E000, first after */
        "\"\xef\xbf\xbf\"",     /* U+FFFF */
        "\"\xf0\x90\x80\x80\"", /* U+10000 */
        "\"\xf0\x9f\x98\x80\"", /* U+1F600 */
        "\"\xf4\x8f\xbf\xbf\"", /* U+10FFFF */
        "{\"\xc3\xa9\":\"\xe2\x82\xac\"}",
    };

    accept_all(state, docs, IA_ARRAY_LEN(docs));
}

static void test_utf8_invalid(void **state)
{
    static const char *const docs[] = {
        "\"\x80\"",                     /* lone continuation */
        "\"\xbf\"",                     /* lone continuation */
        "\"\xc0\x80\"",                 /* overlong NUL */
        "\"\xc0\xaf\"",                 /* overlong '/' */
        "\"\xc1\xbf\"",                 /* overlong */
        "\"\xe0\x80\xaf\"",             /* overlong 3-byte */
        "\"\xe0\x9f\xbf\"",             /* overlong 3-byte, highest */
        "\"\xf0\x80\x80\xaf\"",         /* overlong 4-byte */
        "\"\xf0\x8f\xbf\xbf\"",         /* overlong 4-byte, highest */
        "\"\xed\xa0\x80\"",             /* encoded U+D800 */
        "\"\xed\xaf\xbf\"",             /* encoded U+DBFF */
        "\"\xed\xb0\x80\"",             /* encoded U+DC00 */
        "\"\xed\xbf\xbf\"",             /* encoded U+DFFF */
        "\"\xed\xa0\xbd\xed\xb8\x80\"", /* CESU-8 pair */
        "\"\xf4\x90\x80\x80\"",         /* U+110000 */
        "\"\xf5\x80\x80\x80\"",         /* above U+10FFFF */
        "\"\xf7\xbf\xbf\xbf\"",         /* above U+10FFFF */
        "\"\xf8\x88\x80\x80\x80\"",     /* 5-byte form */
        "\"\xfc\x84\x80\x80\x80\x80\"", /* 6-byte form */
        "\"\xfe\"",                     /* never valid */
        "\"\xff\"",                     /* never valid */
        "\"\xc3\"",                     /* truncated before the quote */
        "\"\xe2\x82\"",                 /* truncated */
        "\"\xf0\x9f\x98\"",             /* truncated */
        "\"\xc3\x28\"",                 /* bad continuation */
        "\"\xe2\x28\xa1\"",             /* bad continuation */
        "\"\xf0\x28\x8c\xbc\"",         /* bad continuation */
        "{\"\xff\":1}",                 /* in a key */
        "[\"ok\",\"\xc0\x80\"]",
    };

    reject_all(state, docs, IA_ARRAY_LEN(docs));
    /* Truncated at the very end of the input. */
    REJECT("\"\xe2\x82");
    REJECT("\"\xc3");
}

static void test_invalid_utf8_outside_strings(void **state)
{
    REJECT("\xc3\xa9");
    REJECT("[\xc3\xa9]");
    REJECT("{} \xff");
}

/* ---- U+0000 ---- */

static void test_nul_escape_flagged(void **state)
{
    static const char s[] = "\"a\\u0000b\"";
    const json_value_t *v = string_of(state, s, LIT_LEN(s));

    assert_true(v->has_nul);
    assert_int_equal(v->u.str.len, 3);
    assert_memory_equal(v->u.str.ptr, "a\0b", 3);

    json_value_t *doc = unit_json_ok(*state, "{\"a\":[1,{\"b\":\"x\\u0000\"}],\"c\":\"y\"}");
    assert_true(doc->has_nul);
    json_value_t *a = json_object_get(doc, "a");
    assert_true(a->has_nul);
    assert_false(a->u.arr.items[0]->has_nul);
    assert_true(a->u.arr.items[1]->has_nul);
    assert_false(json_object_get(doc, "c")->has_nul);

    /* In a key. */
    doc = unit_json_ok(*state, "{\"k\\u0000\":1}");
    assert_true(doc->has_nul);
    assert_int_equal(doc->u.obj.members[0].key_len, 2);
    doc = unit_json_ok(*state, "[{\"o\":{\"\\u0000\":true}}]");
    assert_true(doc->has_nul);

    /* Not flagged: escapes of other code points, "\\u0000" as text. */
    assert_false(unit_json_ok(*state, "{\"a\":\"\\u0001\",\"b\":\"\\\\u0000\"}")->has_nul);
}

/* ---- duplicate keys ---- */

static void test_duplicate_keys_rejected(void **state)
{
    static const char *const docs[] = {
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"a\":1}",
        "{\"a\":1,\"b\":2,\"a\":3}",
        "{\"a\":1,\"\\u0061\":2}",        /* equal after decoding */
        "{\"\\u00e9\":1,\"\xc3\xa9\":2}", /* é escaped and raw */
        "{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
        "{\"/\":1,\"\\/\":2}",
        "{\"\":1,\"\":2}",
        "{\"x\":{\"a\":1,\"a\":2}}", /* nested */
        "[{\"a\":1},{\"b\":1,\"b\":1}]",
    };

    reject_all(state, docs, IA_ARRAY_LEN(docs));
}

/* The error points at the key that repeats an earlier one (issue 10: it
 * pointed at the object's opening brace, byte 0 for a top-level object). */
static void test_duplicate_key_offset_is_the_repeat(void **state)
{
    static const struct {
        const char *doc;
        size_t offset;
    } cases[] = {
        {"{\"name\":\"a\",\"name\":\"b\"}", 12},
        {"{\"a\":1, \"b\":2, \"a\":3}", 15},
        {"{\"b\":1,\"a\":2,\"a\":3,\"b\":4}", 13}, /* the earliest repeat, not the first key */
        {"{\"x\":{\"k\":1,\"k\":2}}", 12},         /* nested: offset in the whole document */
        {"{\"a\":1,\"\\u0061\":2}", 7},            /* equal after decoding */
    };

    for (size_t i = 0; i < IA_ARRAY_LEN(cases); i++) {
        json_error_t err;

        memset(&err, 0, sizeof(err));
        if (json_parse(*state, cases[i].doc, strlen(cases[i].doc), &err) != NULL)
            fail_msg("accepted: %s", cases[i].doc);
        assert_string_equal(err.msg, "duplicate key in object");
        if (err.offset != cases[i].offset)
            fail_msg("%s: offset %zu, want %zu", cases[i].doc, err.offset, cases[i].offset);
    }
}

static void test_similar_keys_accepted(void **state)
{
    static const char *const docs[] = {
        "{\"a\":1,\"A\":2}",
        "{\"a\":1,\"a \":2}",
        "{\"a\":1,\"a\\u0000\":2}",
        "{\"a\":{\"a\":{\"a\":1}}}",
        "[{\"a\":1},{\"a\":2}]",
        "{\"e\\u0301\":1,\"\xc3\xa9\":2}", /* canonically equivalent, different code points */
    };

    accept_all(state, docs, IA_ARRAY_LEN(docs));
}

static void test_duplicate_keys_in_large_objects(void **state)
{
    char buf[1024];
    size_t n = 0;

    /* More members than the sorter's stack buffer. */
    buf[n++] = '{';
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%02d\":%d", i ? "," : "", 39 - i, i);
    buf[n++] = '}';
    accept_n(state, buf, n);
    n--;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"k17\":0}");
    reject_n(state, buf, n);
}

/* ---- serialization ---- */

static void test_write_compact(void **state)
{
    expect_write(state, " { \"a\" : [ 1 , 2 , { } , [ ] ] , \"b\" : \"x\" , \"c\" : null } ",
                 "{\"a\":[1,2,{},[]],\"b\":\"x\",\"c\":null}", false);
    expect_write(state, "{\"b\":1,\"a\":2}", "{\"b\":1,\"a\":2}", false); /* document order */
    expect_write(state, "true", "true", false);
    expect_write(state, "\"\"", "\"\"", false);
}

static void test_write_escapes(void **state)
{
    expect_write(state, "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\b\\f\\n\\r\\t\"", false);
    expect_write(state, "\"\\u0001\\u001F\\u007f\"", "\"\\u0001\\u001f\x7f\"", false);
    expect_write(state, "\"a\\u0000b\"", "\"a\\u0000b\"", false);
    expect_write(state, "{\"k\\n\":\"\\u0022\"}", "{\"k\\n\":\"\\\"\"}", false);
}

static void test_write_raw_utf8(void **state)
{
    expect_write(state, "\"\\u00e9\\u20ac\\ud83d\\ude00\"",
                 "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", false);
    expect_write(state, "\"\xc3\xa9\xe2\x82\xac\"", "\"\xc3\xa9\xe2\x82\xac\"", false);
    /* U+2028/U+2029 are valid JSON; written raw. */
    expect_write(state, "\"\\u2028\"", "\"\xe2\x80\xa8\"", false);
}

static void test_write_numbers_as_written(void **state)
{
    expect_write(state, "[1.50, -0, 1E+2, 1e-400, 0.1e1, 123456789012345678901234567890]",
                 "[1.50,-0,1E+2,1e-400,0.1e1,123456789012345678901234567890]", false);
}

static void test_write_round_trip_is_stable(void **state)
{
    static const char in[] =
        "{\"name\":\"caf\\u00e9 \\\"q\\\"\",\"n\":[1,2.5e3,-0],\"o\":{\"z\":null,\"a\":true}}";
    json_value_t *v = unit_json_ok(*state, in);
    char *once = unit_json_write(v, false);
    json_value_t *again = unit_json_ok(*state, once);
    char *twice = unit_json_write(again, false);

    assert_string_equal(once, twice);
    test_free(once);
    test_free(twice);
}

static void test_write_canonical_sorted(void **state)
{
    expect_write(state, "{\"b\":1,\"a\":{\"d\":1,\"c\":[{\"z\":0,\"y\":0}]}}",
                 "{\"a\":{\"c\":[{\"y\":0,\"z\":0}],\"d\":1},\"b\":1}", true);
    /* Byte order of the decoded keys: "B" < "a" < "aa" < "b" < "é". */
    expect_write(state, "{\"\\u00e9\":1,\"b\":2,\"aa\":3,\"a\":4,\"B\":5}",
                 "{\"B\":5,\"a\":4,\"aa\":3,\"b\":2,\"\xc3\xa9\":1}", true);
    /* Arrays keep their order. */
    expect_write(state, "[3,1,2]", "[3,1,2]", true);
}

static void test_write_canonical_equal_for_equivalent(void **state)
{
    static const char *const same[] = {
        "{\"a\":1,\"b\":{\"x\":[1,{\"p\":true,\"q\":null}],\"y\":\"s\"}}",
        "{\"b\":{\"y\":\"s\",\"x\":[1,{\"q\":null,\"p\":true}]},\"a\":1}",
        " { \"b\" : { \"y\" : \"\\u0073\" , \"x\" : [ 1 , { \"q\" : null , \"p\" : true } ] } , "
        "\"\\u0061\" : 1 } ",
    };
    char *first = unit_json_write(unit_json_ok(*state, same[0]), true);

    for (size_t i = 1; i < IA_ARRAY_LEN(same); i++) {
        char *c = unit_json_write(unit_json_ok(*state, same[i]), true);
        assert_string_equal(first, c);
        test_free(c);
    }
    static const char *const different[] = {
        "{\"a\":1,\"b\":{\"x\":[{\"p\":true,\"q\":null},1],\"y\":\"s\"}}",
        "{\"a\":2,\"b\":{\"x\":[1,{\"p\":true,\"q\":null}],\"y\":\"s\"}}",
        "{\"a\":\"1\",\"b\":{\"x\":[1,{\"p\":true,\"q\":null}],\"y\":\"s\"}}",
        "{\"a\":1,\"b\":{\"x\":[1,{\"p\":true}],\"y\":\"s\"}}",
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(different); i++) {
        char *c = unit_json_write(unit_json_ok(*state, different[i]), true);
        assert_string_not_equal(first, c);
        test_free(c);
    }
    test_free(first);
}

static void test_write_canonical_large_object(void **state)
{
    char in[1024], want[1024];
    size_t n = 0, w = 0;

    in[n++] = '{';
    want[w++] = '{';
    for (int i = 0; i < 30; i++) {
        n += (size_t)snprintf(in + n, sizeof(in) - n, "%s\"k%02d\":%d", i ? "," : "", 29 - i, i);
        w +=
            (size_t)snprintf(want + w, sizeof(want) - w, "%s\"k%02d\":%d", i ? "," : "", i, 29 - i);
    }
    memcpy(in + n, "}", 2);
    memcpy(want + w, "}", 2);
    expect_write(state, in, want, true);
}

/* ---- json_utf8_count, json_new ---- */

static void test_utf8_count(void **state)
{
    (void)state;
    assert_int_equal(json_utf8_count("", 0), 0);
    assert_int_equal(json_utf8_count("abc", 3), 3);
    assert_int_equal(json_utf8_count("\xc3\xa9", 2), 1);
    assert_int_equal(json_utf8_count("\xe2\x82\xac", 3), 1);
    assert_int_equal(json_utf8_count("\xf0\x9f\x98\x80", 4), 1);
    assert_int_equal(json_utf8_count("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 11), 5);
    assert_int_equal(json_utf8_count("a\0b", 3), 3);
}

static void test_json_new(void **state)
{
    json_value_t *v = json_new(*state, JSON_OBJECT);

    assert_int_equal(v->type, JSON_OBJECT);
    assert_int_equal(v->u.obj.n, 0);
    assert_false(v->has_nul);
    char *s = unit_json_write(v, false);
    assert_string_equal(s, "{}");
    test_free(s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, unit_arena_setup, unit_arena_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_accepts_every_type),
        T(test_tree_shape),
        T(test_rejects_structural_errors),
        T(test_rejects_empty_and_whitespace),
        T(test_rejects_trailing_garbage),
        T(test_rejects_bom),
        T(test_input_need_not_be_terminated),
        T(test_error_offsets),
        T(test_depth_64_accepted_65_rejected),
        T(test_depth_mixed_containers),
        T(test_numbers_valid),
        T(test_numbers_invalid),
        T(test_numbers_overflowing_a_double),
        T(test_number_lexeme_kept),
        T(test_string_escapes_decoded),
        T(test_string_invalid_escapes),
        T(test_surrogate_pairs),
        T(test_lone_surrogates_rejected),
        T(test_error_offset_within_input_for_trailing_backslash),
        T(test_unescaped_control_chars_rejected),
        T(test_utf8_valid),
        T(test_utf8_invalid),
        T(test_invalid_utf8_outside_strings),
        T(test_nul_escape_flagged),
        T(test_duplicate_keys_rejected),
        T(test_duplicate_key_offset_is_the_repeat),
        T(test_similar_keys_accepted),
        T(test_duplicate_keys_in_large_objects),
        T(test_write_compact),
        T(test_write_escapes),
        T(test_write_raw_utf8),
        T(test_write_numbers_as_written),
        T(test_write_round_trip_is_stable),
        T(test_write_canonical_sorted),
        T(test_write_canonical_equal_for_equivalent),
        T(test_write_canonical_large_object),
        T(test_utf8_count),
        T(test_json_new),
    };

    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
