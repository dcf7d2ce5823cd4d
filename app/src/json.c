#include "json.h"

#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    arena_t *a;
    const unsigned char *p;
    const unsigned char *start;
    const unsigned char *end;
    json_error_t *err;
    int depth;
} parser_t;

static json_value_t *parse_value(parser_t *ps);

static bool fail(parser_t *ps, const char *msg)
{
    if (ps->err != NULL) {
        /* An escape at the very end leaves p one past the input. */
        const unsigned char *at = ps->p > ps->end ? ps->end : ps->p;
        ps->err->offset = (size_t)(at - ps->start);
        snprintf(ps->err->msg, sizeof(ps->err->msg), "%s", msg);
    }
    return false;
}

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

json_value_t *json_new(arena_t *a, json_type_t type)
{
    json_value_t *v = arena_alloc(a, sizeof(*v));

    memset(v, 0, sizeof(*v));
    v->type = type;
    return v;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(parser_t *ps, unsigned *out)
{
    unsigned v = 0;

    if (ps->end - ps->p < 4)
        return fail(ps, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        int h = hexval(ps->p[i]);
        if (h < 0)
            return fail(ps, "invalid \\u escape");
        v = v << 4 | (unsigned)h;
    }
    ps->p += 4;
    *out = v;
    return true;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of a valid UTF-8 sequence starting at p (2..4), 0 if invalid. */
static size_t utf8_valid(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    ptrdiff_t n = end - p;

    if (c >= 0xC2 && c <= 0xDF)
        return (n >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0; /* overlong, or an encoded surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0; /* overlong, or above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Parses a string at ps->p (on the opening quote). */
static bool parse_string(parser_t *ps, const char **out, size_t *out_len, bool *has_nul)
{
    const unsigned char *s = ++ps->p;
    bool escaped = false;

    /* First pass: validate and find the end; most strings have no escapes. */
    while (ps->p < ps->end) {
        unsigned char c = *ps->p;
        if (c == '"')
            break;
        if (c == '\\') {
            escaped = true;
            if (ps->end - ps->p < 2)
                return fail(ps, "unterminated string");
            ps->p += 2;
            continue;
        }
        if (c < 0x20)
            return fail(ps, "control character in string");
        if (c >= 0x80) {
            size_t n = utf8_valid(ps->p, ps->end);
            if (n == 0)
                return fail(ps, "invalid UTF-8");
            ps->p += n;
            continue;
        }
        ps->p++;
    }
    if (ps->p >= ps->end)
        return fail(ps, "unterminated string");
    if (!escaped) {
        *out = (const char *)s;
        *out_len = (size_t)(ps->p - s);
        ps->p++;
        return true;
    }
    /* Second pass: decode escapes. Output never exceeds the input length. */
    const unsigned char *str_end = ps->p;
    unsigned char *o = arena_alloc(ps->a, (size_t)(str_end - s) + 1);
    unsigned char *o0 = o;
    ps->p = s;
    while (ps->p < str_end) {
        unsigned char c = *ps->p;
        if (c != '\\') {
            *o++ = c;
            ps->p++;
            continue;
        }
        ps->p++;
        if (ps->p >= str_end)
            return fail(ps, "truncated escape");
        c = *ps->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *o++ = c;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned cp = 0, lo = 0;
            if (!read_hex4(ps, &cp))
                return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(ps, "lone low surrogate escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (str_end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
                    return fail(ps, "lone high surrogate escape");
                ps->p += 2;
                if (!read_hex4(ps, &lo))
                    return false;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(ps, "lone high surrogate escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0)
                *has_nul = true;
            o += put_utf8(o, cp);
            break;
        }
        default:
            ps->p -= 1;
            return fail(ps, "invalid escape");
        }
    }
    ps->p = str_end + 1;
    *out = (const char *)o0;
    *out_len = (size_t)(o - o0);
    return true;
}

static bool parse_number(parser_t *ps, json_value_t *v)
{
    const unsigned char *s = ps->p;
    char tmp[64];
    char *heap = NULL;
    double d;

    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end)
        return fail(ps, "truncated number");
    if (*ps->p == '0') {
        ps->p++;
    } else if (*ps->p >= '1' && *ps->p <= '9') {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    } else {
        return fail(ps, "invalid number");
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "invalid number: digit expected after '.'");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "invalid number: digit expected in exponent");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    size_t len = (size_t)(ps->p - s);
    /* strtod needs a terminator; the input may not have one. */
    char *num = tmp;
    if (len >= sizeof(tmp))
        num = heap = ia_malloc(len + 1);
    memcpy(num, s, len);
    num[len] = '\0';
    errno = 0;
    d = strtod(num, NULL);
    free(heap);
    if (isinf(d)) {
        ps->p = s;
        return fail(ps, "number out of range for a double");
    }
    v->u.num.lexeme = (const char *)s;
    v->u.num.len = len;
    return true;
}

static bool match_lit(parser_t *ps, const char *lit, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
        return fail(ps, "invalid literal");
    ps->p += n;
    return true;
}

static int member_cmp(const void *a, const void *b)
{
    const json_member_t *x = *(json_member_t *const *)a;
    const json_member_t *y = *(json_member_t *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);

    if (c != 0)
        return c;
    return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Sorted view of an object's members; used for duplicate detection and the
 * canonical form. O(n log n) so a body of 100k keys cannot stall a thread. */
static json_member_t **sorted_members(const json_value_t *obj, json_member_t **stack_buf,
                                      size_t stack_n)
{
    size_t n = obj->u.obj.n;
    json_member_t **idx = n <= stack_n ? stack_buf : ia_malloc(n * sizeof(*idx));

    for (size_t i = 0; i < n; i++)
        idx[i] = &obj->u.obj.members[i];
    qsort(idx, n, sizeof(*idx), member_cmp);
    return idx;
}

/*
 * Returns the index of the first member, in document order, whose key
 * repeats an earlier member's key, or SIZE_MAX when the keys are unique.
 * That is the key a client would look for, so its offset is the one reported.
 */
static size_t first_repeated_key(const json_value_t *obj)
{
    json_member_t *stack_buf[16];
    json_member_t **idx;
    size_t n = obj->u.obj.n, first = SIZE_MAX;

    if (n < 2)
        return SIZE_MAX;
    idx = sorted_members(obj, stack_buf, IA_ARRAY_LEN(stack_buf));
    for (size_t i = 0; i < n;) {
        /* A run of equal keys: its second-earliest member is a repeat. */
        size_t j = i + 1, lo = SIZE_MAX, second = SIZE_MAX;
        while (j < n && member_cmp(&idx[i], &idx[j]) == 0)
            j++;
        for (size_t k = i; j - i > 1 && k < j; k++) {
            size_t at = (size_t)(idx[k] - obj->u.obj.members);
            if (at < lo) {
                second = lo;
                lo = at;
            } else if (at < second) {
                second = at;
            }
        }
        if (second < first)
            first = second;
        i = j;
    }
    if (idx != stack_buf)
        free(idx);
    return first;
}

/*
 * Containers grow in a heap scratch vector and are copied into the arena when
 * closed, so the arena holds exactly-sized arrays.
 */
static bool parse_array(parser_t *ps, json_value_t *v)
{
    json_value_t **items = NULL;
    size_t n = 0, cap = 0;
    bool ok = false;

    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ok = true;
        goto cleanup;
    }
    for (;;) {
        json_value_t *item = parse_value(ps);
        if (item == NULL)
            goto cleanup;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            items = ia_realloc(items, cap * sizeof(*items));
        }
        items[n++] = item;
        v->has_nul |= item->has_nul;
        skip_ws(ps);
        if (ps->p >= ps->end) {
            fail(ps, "unterminated array");
            goto cleanup;
        }
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            ok = true;
            break;
        }
        fail(ps, "expected ',' or ']'");
        goto cleanup;
    }
cleanup:
    if (ok) {
        v->u.arr.items = arena_memdup(ps->a, items, n * sizeof(*items));
        v->u.arr.n = n;
    }
    free(items);
    return ok;
}

static bool parse_object(parser_t *ps, json_value_t *v)
{
    json_member_t *members = NULL;
    size_t *key_at = NULL; /* each member's key offset, for error reports */
    size_t n = 0, cap = 0;
    bool ok = false;

    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ok = true;
        goto cleanup;
    }
    for (;;) {
        json_member_t m;
        bool nul = false;

        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            fail(ps, "expected a string key");
            goto cleanup;
        }
        size_t at = (size_t)(ps->p - ps->start);
        if (!parse_string(ps, &m.key, &m.key_len, &nul))
            goto cleanup;
        v->has_nul |= nul;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            fail(ps, "expected ':'");
            goto cleanup;
        }
        ps->p++;
        m.value = parse_value(ps);
        if (m.value == NULL)
            goto cleanup;
        v->has_nul |= m.value->has_nul;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            members = ia_realloc(members, cap * sizeof(*members));
            key_at = ia_realloc(key_at, cap * sizeof(*key_at));
        }
        key_at[n] = at;
        members[n++] = m;
        skip_ws(ps);
        if (ps->p >= ps->end) {
            fail(ps, "unterminated object");
            goto cleanup;
        }
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == '}') {
            ps->p++;
            ok = true;
            break;
        }
        fail(ps, "expected ',' or '}'");
        goto cleanup;
    }
cleanup:
    if (ok) {
        v->u.obj.members = arena_memdup(ps->a, members, n * sizeof(*members));
        v->u.obj.n = n;
        size_t dup = first_repeated_key(v);
        if (dup != SIZE_MAX && key_at != NULL) { /* a repeat implies n >= 2 */
            const unsigned char *here = ps->p;
            ps->p = ps->start + key_at[dup];
            fail(ps, "duplicate key in object");
            ps->p = here;
            ok = false;
        }
    }
    free(members);
    free(key_at);
    return ok;
}

static json_value_t *parse_value(parser_t *ps)
{
    json_value_t *v;

    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end of input");
        return NULL;
    }
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > JSON_MAX_DEPTH) {
            fail(ps, "nesting deeper than 64");
            return NULL;
        }
        v = json_new(ps->a, *ps->p == '{' ? JSON_OBJECT : JSON_ARRAY);
        if (!(v->type == JSON_OBJECT ? parse_object(ps, v) : parse_array(ps, v)))
            return NULL;
        ps->depth--;
        return v;
    case '"':
        v = json_new(ps->a, JSON_STRING);
        if (!parse_string(ps, &v->u.str.ptr, &v->u.str.len, &v->has_nul))
            return NULL;
        return v;
    case 't':
        v = json_new(ps->a, JSON_TRUE);
        return match_lit(ps, "true", 4) ? v : NULL;
    case 'f':
        v = json_new(ps->a, JSON_FALSE);
        return match_lit(ps, "false", 5) ? v : NULL;
    case 'n':
        v = json_new(ps->a, JSON_NULL);
        return match_lit(ps, "null", 4) ? v : NULL;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            v = json_new(ps->a, JSON_NUMBER);
            return parse_number(ps, v) ? v : NULL;
        }
        fail(ps, "unexpected character");
        return NULL;
    }
}

json_value_t *json_parse(arena_t *a, const char *text, size_t len, json_error_t *err)
{
    parser_t ps = {
        .a = a,
        .p = (const unsigned char *)text,
        .start = (const unsigned char *)text,
        .end = (const unsigned char *)text + len,
        .err = err,
        .depth = 0,
    };
    json_value_t *v;

    /* A UTF-8 byte order mark is not JSON text (RFC 8259 section 8.1). */
    v = parse_value(&ps);
    if (v == NULL)
        return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "unexpected data after the JSON value");
        return NULL;
    }
    return v;
}

static void write_value(buf_t *out, const json_value_t *v, bool canonical)
{
    switch (v->type) {
    case JSON_NULL:
        buf_append(out, "null", 4);
        return;
    case JSON_TRUE:
        buf_append(out, "true", 4);
        return;
    case JSON_FALSE:
        buf_append(out, "false", 5);
        return;
    case JSON_NUMBER:
        buf_append(out, v->u.num.lexeme, v->u.num.len);
        return;
    case JSON_STRING:
        buf_put_json_str(out, v->u.str.ptr, v->u.str.len);
        return;
    case JSON_ARRAY:
        buf_putc(out, '[');
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                buf_putc(out, ',');
            write_value(out, v->u.arr.items[i], canonical);
        }
        buf_putc(out, ']');
        return;
    case JSON_OBJECT: {
        json_member_t *stack_buf[16];
        json_member_t **idx = NULL;

        if (canonical && v->u.obj.n > 1)
            idx = sorted_members(v, stack_buf, IA_ARRAY_LEN(stack_buf));
        buf_putc(out, '{');
        for (size_t i = 0; i < v->u.obj.n; i++) {
            const json_member_t *m = idx ? idx[i] : &v->u.obj.members[i];
            if (i)
                buf_putc(out, ',');
            buf_put_json_str(out, m->key, m->key_len);
            buf_putc(out, ':');
            write_value(out, m->value, canonical);
        }
        buf_putc(out, '}');
        if (idx != NULL && idx != stack_buf)
            free(idx);
        return;
    }
    }
}

void json_write(buf_t *out, const json_value_t *v)
{
    write_value(out, v, false);
}

void json_write_canonical(buf_t *out, const json_value_t *v)
{
    write_value(out, v, true);
}

json_value_t *json_object_get(const json_value_t *obj, const char *key)
{
    size_t n = strlen(key);

    if (obj == NULL || obj->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->u.obj.n; i++) {
        const json_member_t *m = &obj->u.obj.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m->value;
    }
    return NULL;
}

size_t json_utf8_count(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}
