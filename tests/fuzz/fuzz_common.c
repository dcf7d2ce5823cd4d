#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "\n==FUZZ== invariant violated at %s:%d: %s\n==FUZZ== ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

bool fuzz_tolerate(const char *id)
{
    const char *list = getenv("FUZZ_TOLERATE");
    size_t n = strlen(id);

    for (const char *p = list; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, id, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

void fuzz_dump(const char *label, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t shown = n > 512 ? 512 : n;

    fprintf(stderr, "==FUZZ== %s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < shown; i++) {
        if (s[i] == '\\' || s[i] == '"')
            fprintf(stderr, "\\%c", s[i]);
        else if (s[i] >= 0x20 && s[i] < 0x7F)
            fputc(s[i], stderr);
        else
            fprintf(stderr, "\\x%02x", s[i]);
    }
    fprintf(stderr, "\"%s\n", shown < n ? "..." : "");
}

buf_t fuzz_canonical(const json_value_t *v)
{
    buf_t b = {0};

    json_write_canonical(&b, v);
    return b;
}

buf_t fuzz_compact(const json_value_t *v)
{
    buf_t b = {0};

    json_write(&b, v);
    return b;
}

bool fuzz_json_equal(const json_value_t *a, const json_value_t *b)
{
    buf_t x = fuzz_canonical(a), y = fuzz_canonical(b);
    bool eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;

    buf_release(&x);
    buf_release(&y);
    return eq;
}

/* Decodes code points and checks their ranges: a different route from the
 * byte-pattern tables in app/src, so the two can disagree. */
bool fuzz_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned c = p[i], cp, need;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F;
            need = 1;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F;
            need = 2;
        } else if ((c & 0xF8) == 0xF0) {
            cp = c & 0x07;
            need = 3;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        for (unsigned k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        static const unsigned min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

bool fuzz_number_lexeme_valid(const char *s, size_t n)
{
    size_t i = 0;

    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

static int key_order(const json_member_t *a, const json_member_t *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = n ? memcmp(a->key, b->key, n) : 0;

    return c != 0 ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* Returns whether v contains U+0000 anywhere (strings, keys, below). */
static bool check_node(const json_value_t *v, int depth, bool check_depth)
{
    bool nul = false;

    FUZZ_CHECK(v != NULL, "NULL node in a tree");
    switch (v->type) {
    case JSON_NULL:
    case JSON_TRUE:
    case JSON_FALSE:
        break;
    case JSON_NUMBER:
        FUZZ_CHECK(fuzz_number_lexeme_valid(v->u.num.lexeme, v->u.num.len),
                   "number lexeme %.*s is not a JSON number", (int)v->u.num.len, v->u.num.lexeme);
        break;
    case JSON_STRING:
        FUZZ_CHECK(v->u.str.len == 0 || v->u.str.ptr != NULL, "string with NULL data");
        FUZZ_CHECK(fuzz_utf8_valid(v->u.str.ptr, v->u.str.len), "string is not valid UTF-8");
        nul = v->u.str.len > 0 && memchr(v->u.str.ptr, 0, v->u.str.len) != NULL;
        break;
    case JSON_ARRAY:
        FUZZ_CHECK(!check_depth || depth < JSON_MAX_DEPTH, "array nested deeper than %d",
                   JSON_MAX_DEPTH);
        for (size_t i = 0; i < v->u.arr.n; i++)
            nul |= check_node(v->u.arr.items[i], depth + 1, check_depth);
        break;
    case JSON_OBJECT:
        FUZZ_CHECK(!check_depth || depth < JSON_MAX_DEPTH, "object nested deeper than %d",
                   JSON_MAX_DEPTH);
        for (size_t i = 0; i < v->u.obj.n; i++) {
            const json_member_t *m = &v->u.obj.members[i];
            FUZZ_CHECK(m->key_len == 0 || m->key != NULL, "key with NULL data");
            FUZZ_CHECK(fuzz_utf8_valid(m->key, m->key_len), "key is not valid UTF-8");
            nul |= m->key_len > 0 && memchr(m->key, 0, m->key_len) != NULL;
            nul |= check_node(m->value, depth + 1, check_depth);
            /* Quadratic, but fuzz inputs are small. */
            for (size_t j = 0; j < i && v->u.obj.n <= 512; j++)
                FUZZ_CHECK(key_order(&v->u.obj.members[j], m) != 0,
                           "duplicate key \"%.*s\" in an object", (int)m->key_len, m->key);
        }
        break;
    default:
        FUZZ_CHECK(false, "unknown node type %d", (int)v->type);
    }
    FUZZ_CHECK(v->has_nul == nul, "has_nul is %d but the content says %d (type %d)",
               (int)v->has_nul, (int)nul, (int)v->type);
    return nul;
}

void fuzz_check_tree(const json_value_t *v, bool check_depth)
{
    check_node(v, 0, check_depth);
}
