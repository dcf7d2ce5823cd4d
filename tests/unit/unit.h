/*
 * Shared helpers for the cmocka unit tests (tests/unit/test_<module>.c
 * mirrors app/src/<module>.c). Everything here is static inline so that a
 * test file that uses only part of it still builds with -Werror.
 */
#ifndef IA_TEST_UNIT_H
#define IA_TEST_UNIT_H

/* cmocka needs these before its header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena.h"
#include "buf.h"
#include "common.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of a string literal, embedded NULs included. */
#define LIT_LEN(s) (sizeof(s) - 1)

/* An arena per test: json trees and item inputs live in it. The teardown
 * runs even when the test fails. */
static inline int unit_arena_setup(void **state)
{
    arena_t *a = malloc(sizeof(*a));

    if (a == NULL)
        return -1;
    arena_init(a, 4096);
    *state = a;
    return 0;
}

static inline int unit_arena_teardown(void **state)
{
    arena_t *a = *state;

    arena_free(a);
    free(a);
    return 0;
}

/* Parses text[0..len) (len counts embedded NULs); NULL if rejected. */
static inline json_value_t *unit_json(arena_t *a, const char *text, size_t len)
{
    json_error_t err;

    memset(&err, 0, sizeof(err));
    return json_parse(a, text, len, &err);
}

/* Parses a NUL-terminated document that must be accepted. */
static inline json_value_t *unit_json_ok(arena_t *a, const char *text)
{
    json_error_t err;
    json_value_t *v;

    memset(&err, 0, sizeof(err));
    v = json_parse(a, text, strlen(text), &err);
    if (v == NULL)
        fail_msg("json_parse rejected %s: %s at %zu", text, err.msg, err.offset);
    return v;
}

/* Compact serialization as a NUL-terminated string from test_malloc (the
 * caller test_free()s it; cmocka frees it if an assertion fails first). */
static inline char *unit_json_write(const json_value_t *v, bool canonical)
{
    buf_t b = {0};
    char *s;

    if (canonical)
        json_write_canonical(&b, v);
    else
        json_write(&b, v);
    buf_putc(&b, '\0');
    s = test_malloc(b.len);
    memcpy(s, b.data, b.len);
    buf_release(&b);
    return s;
}

/* Printable rendering of arbitrary bytes for failure messages (one static
 * buffer: use once per message). */
static inline const char *unit_escape(const char *s, size_t n)
{
    static char out[200];
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= sizeof(out)) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7F && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

/* Asserts that a NUL-free string contains no occurrence of needle. */
#define assert_no_substring(hay, needle)                                                           \
    do {                                                                                           \
        if (strstr((hay), (needle)) != NULL)                                                       \
            fail_msg("\"%s\" contains \"%s\"", (hay), (needle));                                   \
    } while (0)

#define assert_substring(hay, needle)                                                              \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));                           \
    } while (0)

#endif
