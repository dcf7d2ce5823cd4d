/*
 * libFuzzer harness: JSON parsing and request-body validation.
 *
 * The input is a request body. Checked for every input:
 *   - json_parse agrees with an independent strict RFC 8259 recognizer below
 *     (same accept/reject decision; both refuse duplicate keys, lone
 *     surrogates, numbers that overflow a double, nesting deeper than 64);
 *   - a refusal reports an error offset inside the input and a message;
 *   - an accepted tree passes fuzz_check_tree (has_nul flags, UTF-8, ...);
 *   - round trip: json_write(x) parses again, writes back byte for byte, and
 *     has the same canonical form as x; the canonical form is a fixed point;
 *   - item_validate: on success the name/data rules hold, data is the compact
 *     form of the body's data, item_request_hash is the same for every
 *     JSON-equivalent spelling of the body, and item_write_json of the stored
 *     item is a JSON object that carries the name and data back unchanged;
 *     on failure it lists 1..ITEM_MAX_FIELD_ERRORS errors.
 */
#include "common.h"
#include "fuzz_common.h"
#include "item.h"
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference recognizer: written from RFC 8259, shares no code ---- */

typedef struct {
    const unsigned char *p, *end;
    int depth;
} ref_t;

typedef struct {
    char *s;
    size_t n;
} ref_key_t;

static void ref_ws(ref_t *r)
{
    while (r->p < r->end && strchr(" \t\n\r", *r->p) != NULL && *r->p != '\0')
        r->p++;
}

static bool ref_value(ref_t *r);

static int ref_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)(c | 0x20);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static bool ref_u16(ref_t *r, unsigned *out)
{
    *out = 0;
    if (r->end - r->p < 4)
        return false;
    for (int i = 0; i < 4; i++) {
        int h = ref_hex(r->p[i]);
        if (h < 0)
            return false;
        *out = *out * 16 + (unsigned)h;
    }
    r->p += 4;
    return true;
}

static void ref_put(ref_key_t *k, unsigned cp)
{
    unsigned char tmp[4];
    size_t n;

    if (k == NULL)
        return;
    if (cp < 0x80) {
        tmp[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (unsigned char)(0xC0 | cp >> 6);
        tmp[1] = (unsigned char)(0x80 | (cp & 63));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (unsigned char)(0xE0 | cp >> 12);
        tmp[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
        tmp[2] = (unsigned char)(0x80 | (cp & 63));
        n = 3;
    } else {
        tmp[0] = (unsigned char)(0xF0 | cp >> 18);
        tmp[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
        tmp[2] = (unsigned char)(0x80 | (cp >> 6 & 63));
        tmp[3] = (unsigned char)(0x80 | (cp & 63));
        n = 4;
    }
    k->s = realloc(k->s, k->n + n);
    if (k->s == NULL)
        abort();
    memcpy(k->s + k->n, tmp, n);
    k->n += n;
}

/* A string; decoded into *k when k is not NULL (for duplicate detection). */
static bool ref_string(ref_t *r, ref_key_t *k)
{
    r->p++; /* opening quote */
    for (;;) {
        if (r->p >= r->end)
            return false;
        unsigned c = *r->p;
        if (c == '"') {
            r->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (r->end - r->p < 2)
                return false;
            unsigned e = r->p[1];
            r->p += 2;
            const char *simple = "\"\\/bfnrt";
            const char *decoded = "\"\\/\b\f\n\r\t";
            const char *hit = e != 0 ? strchr(simple, (int)e) : NULL;
            if (hit != NULL) {
                ref_put(k, (unsigned char)decoded[hit - simple]);
                continue;
            }
            if (e != 'u')
                return false;
            unsigned cp, lo;
            if (!ref_u16(r, &cp))
                return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u')
                    return false;
                r->p += 2;
                if (!ref_u16(r, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00);
            }
            ref_put(k, cp);
            continue;
        }
        /* One raw character: ASCII or one complete UTF-8 sequence. */
        size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if ((size_t)(r->end - r->p) < len || !fuzz_utf8_valid((const char *)r->p, len))
            return false;
        if (k != NULL) {
            k->s = realloc(k->s, k->n + len);
            if (k->s == NULL)
                abort();
            memcpy(k->s + k->n, r->p, len);
            k->n += len;
        }
        r->p += len;
    }
}

static bool ref_number(ref_t *r)
{
    const unsigned char *s = r->p;

    while (r->p < r->end && strchr("+-.0123456789eE", *r->p) != NULL && *r->p != '\0')
        r->p++;
    size_t n = (size_t)(r->p - s);
    if (!fuzz_number_lexeme_valid((const char *)s, n))
        return false;
    char *tmp = malloc(n + 1);
    if (tmp == NULL)
        abort();
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double d = strtod(tmp, NULL);
    free(tmp);
    return !isinf(d);
}

static bool ref_object(ref_t *r)
{
    ref_key_t *keys = NULL;
    size_t n = 0;
    bool ok = false;

    r->p++;
    ref_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return true;
    }
    for (;;) {
        ref_ws(r);
        if (r->p >= r->end || *r->p != '"')
            goto out;
        keys = realloc(keys, (n + 1) * sizeof(*keys));
        if (keys == NULL)
            abort();
        keys[n] = (ref_key_t){NULL, 0};
        if (!ref_string(r, &keys[n++]))
            goto out;
        for (size_t i = 0; i + 1 < n; i++) {
            if (keys[i].n == keys[n - 1].n &&
                (keys[i].n == 0 || memcmp(keys[i].s, keys[n - 1].s, keys[i].n) == 0))
                goto out; /* duplicate key */
        }
        ref_ws(r);
        if (r->p >= r->end || *r->p != ':')
            goto out;
        r->p++;
        if (!ref_value(r))
            goto out;
        ref_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            ok = true;
        }
        goto out;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(keys[i].s);
    free(keys);
    return ok;
}

static bool ref_array(ref_t *r)
{
    r->p++;
    ref_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return true;
    }
    for (;;) {
        if (!ref_value(r))
            return false;
        ref_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return true;
        }
        return false;
    }
}

static bool ref_literal(ref_t *r, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return false;
    r->p += n;
    return true;
}

static bool ref_value(ref_t *r)
{
    bool ok;

    ref_ws(r);
    if (r->p >= r->end)
        return false;
    switch (*r->p) {
    case '{':
    case '[':
        if (++r->depth > JSON_MAX_DEPTH)
            return false;
        ok = *r->p == '{' ? ref_object(r) : ref_array(r);
        r->depth--;
        return ok;
    case '"':
        return ref_string(r, NULL);
    case 't':
        return ref_literal(r, "true");
    case 'f':
        return ref_literal(r, "false");
    case 'n':
        return ref_literal(r, "null");
    default:
        return ref_number(r);
    }
}

static bool ref_accepts(const uint8_t *data, size_t size)
{
    ref_t r = {data, data + size, 0};

    if (!ref_value(&r))
        return false;
    ref_ws(&r);
    return r.p == r.end;
}

/* ---- item rules ---- */

static void check_item(arena_t *a, const json_value_t *body)
{
    item_input_t in;
    item_errors_t errs;

    if (item_validate(a, body, &in, &errs) != IA_OK) {
        FUZZ_CHECK(errs.n >= 1 && errs.n <= ITEM_MAX_FIELD_ERRORS,
                   "item_validate failed with %zu errors", errs.n);
        for (size_t i = 0; i < errs.n; i++) {
            FUZZ_CHECK(errs.errors[i].message != NULL && errs.errors[i].message[0] != '\0',
                       "error %zu without a message", i);
            FUZZ_CHECK(errs.errors[i].field_len == 0 || errs.errors[i].field != NULL,
                       "error %zu with a NULL field", i);
        }
        return;
    }
    FUZZ_CHECK(errs.n == 0, "item_validate succeeded with %zu errors", errs.n);
    FUZZ_CHECK(body->type == JSON_OBJECT, "a non-object body validated");

    /* name: a string of 1..200 code points, no C0/DEL/C1 controls. */
    const json_value_t *name = json_object_get(body, "name");
    FUZZ_CHECK(name != NULL && name->type == JSON_STRING, "validated without a string name");
    FUZZ_CHECK(in.name == name->u.str.ptr && in.name_len == name->u.str.len,
               "in.name is not the body's name");
    size_t cps = json_utf8_count(in.name, in.name_len);
    FUZZ_CHECK(cps >= 1 && cps <= ITEM_NAME_MAX_CHARS, "name of %zu code points accepted", cps);
    for (size_t i = 0; i < in.name_len; i++) {
        unsigned char c = (unsigned char)in.name[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7F, "control byte 0x%02x in an accepted name", c);
        FUZZ_CHECK(!(c == 0xC2 && i + 1 < in.name_len && (unsigned char)in.name[i + 1] >= 0x80 &&
                     (unsigned char)in.name[i + 1] <= 0x9F),
                   "C1 control in an accepted name");
    }

    /* data: absent means {}; else an object without U+0000, in compact form. */
    const json_value_t *data = json_object_get(body, "data");
    FUZZ_CHECK(in.data != NULL && in.data_len >= 2 && in.data_len <= ITEM_DATA_MAX_BYTES,
               "data of %zu bytes accepted", in.data_len);
    json_error_t jerr;
    json_value_t *stored = json_parse(a, in.data, in.data_len, &jerr);
    FUZZ_CHECK(stored != NULL && stored->type == JSON_OBJECT,
               "stored data does not parse as an object: %s", stored ? "not an object" : jerr.msg);
    FUZZ_CHECK(!stored->has_nul, "stored data contains U+0000");
    if (data != NULL) {
        FUZZ_CHECK(in.data_value == data, "in.data_value is not the body's data");
        buf_t w = fuzz_compact(data);
        FUZZ_CHECK(w.len == in.data_len && memcmp(w.data, in.data, w.len) == 0,
                   "stored data is not the compact form of the body's data");
        buf_release(&w);
        FUZZ_CHECK(fuzz_json_equal(stored, data), "stored data differs from the body's data");
    } else {
        FUZZ_CHECK(in.data_len == 2 && memcmp(in.data, "{}", 2) == 0, "absent data is not {}");
    }

    /* The idempotency hash: stable, hex, equal for every equivalent body. */
    char h1[65], h2[65];
    item_request_hash(&in, h1);
    FUZZ_CHECK(strlen(h1) == 64 && strspn(h1, "0123456789abcdef") == 64, "bad hash %s", h1);
    buf_t canon = fuzz_canonical(body);
    json_value_t *body2 = json_parse(a, canon.data, canon.len, &jerr);
    FUZZ_CHECK(body2 != NULL, "canonical body does not parse: %s", jerr.msg);
    item_input_t in2;
    item_errors_t errs2;
    FUZZ_CHECK(item_validate(a, body2, &in2, &errs2) == IA_OK,
               "the canonical form of a valid body is invalid");
    item_request_hash(&in2, h2);
    FUZZ_CHECK(strcmp(h1, h2) == 0, "equivalent bodies hash differently: %s vs %s", h1, h2);
    buf_release(&canon);

    /* The representation handed to clients carries name and data back. */
    uint64_t seed = 0;
    for (size_t i = 0; i < 8; i++)
        seed = seed << 8 | (unsigned char)h1[i];
    item_t it = {
        .id = (int64_t)(seed >> 1) | 1,
        .name = in.name,
        .name_len = in.name_len,
        .data = in.data,
        .data_len = in.data_len,
        .version = (int64_t)(seed % 1000000) + 1,
        /* Realistic timestamps (what the stores hand over): 1970..9999. */
        .created_ms = (int64_t)(seed % 253402300799999ULL),
        .updated_ms = (int64_t)((seed >> 7) % 253402300799999ULL),
    };
    buf_t out = {0};
    item_write_json(&out, &it);
    json_value_t *rep = json_parse(a, out.data, out.len, &jerr);
    if (rep == NULL)
        fuzz_dump("item_write_json output", out.data, out.len);
    FUZZ_CHECK(rep != NULL && rep->type == JSON_OBJECT,
               "item_write_json output is not a JSON object: %s", rep ? "" : jerr.msg);
    const json_value_t *rn = json_object_get(rep, "name");
    FUZZ_CHECK(rn != NULL && rn->type == JSON_STRING && rn->u.str.len == in.name_len &&
                   memcmp(rn->u.str.ptr, in.name, in.name_len) == 0,
               "the name does not survive item_write_json");
    const json_value_t *rd = json_object_get(rep, "data");
    FUZZ_CHECK(rd != NULL && fuzz_json_equal(rd, stored), "data does not survive item_write_json");
    static const char *const fields[] = {"id", "version", "created_at", "updated_at"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        FUZZ_CHECK(json_object_get(rep, fields[i]) != NULL, "representation lacks %s", fields[i]);
    buf_release(&out);
}

/* ---- entry point ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static arena_t arena;
    static bool init;
    json_error_t err;

    if (!init) {
        arena_init(&arena, 4096);
        init = true;
    }
    /* A private copy with no bytes after it: ASan sees any over-read. */
    char *text = malloc(size ? size : 1);
    if (text == NULL)
        abort();
    if (size > 0)
        memcpy(text, data, size);

    memset(&err, 0, sizeof(err));
    json_value_t *v = json_parse(&arena, text, size, &err);
    bool ref = ref_accepts((const uint8_t *)text, size);
    if ((v != NULL) != ref)
        fuzz_dump("input", text, size);
    FUZZ_CHECK((v != NULL) == ref, "json_parse %s but the RFC 8259 reference %s (%s)",
               v ? "accepts" : "refuses", ref ? "accepts" : "refuses", v ? "" : err.msg);

    if (v == NULL) {
        FUZZ_CHECK(err.offset <= size, "error offset %zu beyond the %zu-byte input (%s)",
                   err.offset, size, err.msg);
        FUZZ_CHECK(err.msg[0] != '\0' && memchr(err.msg, '\0', sizeof(err.msg)) != NULL,
                   "error without a message");
        goto done;
    }
    fuzz_check_tree(v, true);

    /* Round trip through the compact form. */
    buf_t w1 = fuzz_compact(v);
    json_value_t *v2 = json_parse(&arena, w1.data, w1.len, &err);
    if (v2 == NULL)
        fuzz_dump("json_write output", w1.data, w1.len);
    FUZZ_CHECK(v2 != NULL, "json_write output does not parse: %s at %zu", err.msg, err.offset);
    FUZZ_CHECK(w1.len <= size, "compact form (%zu) longer than the input (%zu)", w1.len, size);
    fuzz_check_tree(v2, true);
    FUZZ_CHECK(fuzz_json_equal(v, v2), "round trip changes the canonical form");
    buf_t w2 = fuzz_compact(v2);
    FUZZ_CHECK(w1.len == w2.len && memcmp(w1.data, w2.data, w1.len) == 0,
               "json_write is not a fixed point of parse+write");

    /* The canonical form is itself canonical. */
    buf_t c1 = fuzz_canonical(v);
    json_value_t *v3 = json_parse(&arena, c1.data, c1.len, &err);
    FUZZ_CHECK(v3 != NULL, "canonical output does not parse: %s", err.msg);
    buf_t c2 = fuzz_canonical(v3);
    FUZZ_CHECK(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0,
               "canonical form is not a fixed point");
    FUZZ_CHECK(c1.len == w1.len, "canonical and compact forms differ in length");

    buf_release(&w1);
    buf_release(&w2);
    buf_release(&c1);
    buf_release(&c2);

    check_item(&arena, v);
done:
    arena_reset(&arena);
    free(text);
    return 0;
}
