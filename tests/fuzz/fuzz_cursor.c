/*
 * libFuzzer harness: pagination cursors and item ids, i.e. what a client can
 * put in GET /v1/items?cursor=... and /v1/items/{id}.
 *
 * The input is a query string. Checked:
 *   - http_query_param finds values inside the query, counts occurrences;
 *   - cursor_decode of the raw input and of the "cursor" parameter: an
 *     accepted cursor is exactly what cursor_encode writes for its id (one
 *     spelling per position), and the id is not negative;
 *   - cursor_encode/cursor_decode round trip for ids taken from the input;
 *   - item_parse_id accepts exactly the canonical decimal spellings of
 *     1..INT64_MAX.
 */
#include "common.h"
#include "cursor.h"
#include "fuzz_common.h"
#include "http_parse.h"
#include "item.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_decode(const char *s, size_t n)
{
    int64_t id = -42;
    char again[CURSOR_MAX_LEN + 1];

    if (cursor_decode(s, n, &id) != IA_OK)
        return;
    FUZZ_CHECK(id >= 0, "cursor decoded to a negative id %lld", (long long)id);
    size_t m = cursor_encode(id, again);
    FUZZ_CHECK(m == n && memcmp(again, s, n) == 0,
               "accepted cursor \"%.*s\" is not the encoding of %lld (\"%s\")", (int)n, s,
               (long long)id, again);
}

static void check_round_trip(int64_t id)
{
    char enc[CURSOR_MAX_LEN + 1];
    int64_t back = -1;

    memset(enc, 0x55, sizeof(enc));
    size_t n = cursor_encode(id, enc);
    FUZZ_CHECK(n >= 1 && n <= CURSOR_MAX_LEN && enc[n] == '\0' && strlen(enc) == n,
               "cursor_encode(%lld) wrote %zu bytes", (long long)id, n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                          enc[i]) != NULL,
                   "cursor has a byte outside base64url: 0x%02x", (unsigned char)enc[i]);
    int rc = cursor_decode(enc, n, &back);
    if (id >= 0)
        FUZZ_CHECK(rc == IA_OK && back == id, "cursor for %lld does not decode back (%lld)",
                   (long long)id, (long long)back);
    else
        FUZZ_CHECK(rc != IA_OK, "cursor for negative id %lld decodes", (long long)id);
}

static void check_item_id(const char *s, size_t n)
{
    int64_t id = 0;
    int rc = item_parse_id(s, n, &id);
    /* Reference: digits only, no leading zero, 1..INT64_MAX. */
    bool want = n >= 1 && n <= 19 && s[0] >= '1' && s[0] <= '9';
    for (size_t i = 0; want && i < n; i++)
        want = s[i] >= '0' && s[i] <= '9';
    if (want) {
        char tmp[24];
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        errno = 0;
        long long v = strtoll(tmp, NULL, 10);
        want = errno == 0;
        if (want)
            FUZZ_CHECK(rc != IA_OK || id == v, "item_parse_id(\"%s\") = %lld", tmp, (long long)id);
    }
    FUZZ_CHECK((rc == IA_OK) == want, "item_parse_id(\"%.*s\") %s", (int)n, s,
               rc == IA_OK ? "accepted" : "refused");
    if (rc == IA_OK)
        FUZZ_CHECK(id >= 1, "item_parse_id gave %lld", (long long)id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size private copy: ASan sees any over-read. */
    char *q = malloc(size ? size : 1);
    if (q == NULL)
        abort();
    if (size > 0)
        memcpy(q, data, size);

    check_decode(q, size);
    check_item_id(q, size);

    slice_t query = {q, size}, v = {NULL, 0};
    static const char *const names[] = {"cursor", "limit", ""};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        int cnt = http_query_param(query, names[k], &v);
        FUZZ_CHECK(cnt >= 0, "negative count");
        if (cnt > 0) {
            FUZZ_CHECK(v.ptr >= q && v.ptr + v.len <= q + size,
                       "query value outside the query string");
            FUZZ_CHECK(v.len == 0 || memchr(v.ptr, '&', v.len) == NULL, "value spans a '&'");
            if (k == 0) {
                check_decode(v.ptr, v.len);
                /* What the handler does with the value. */
                int64_t id;
                (void)cursor_decode(v.ptr, v.len, &id);
            }
            check_item_id(v.ptr, v.len);
        }
    }

    /* Round trips for ids drawn from the input. */
    for (size_t off = 0; off + 8 <= size && off < 64; off += 8) {
        int64_t id;
        memcpy(&id, q + off, 8);
        check_round_trip(id);
        check_round_trip(id & INT64_MAX);
        check_round_trip((int64_t)((uint64_t)id % 100000));
    }
    static const int64_t edges[] = {0, 1, 9, 10, 99, 100, INT64_MAX, INT64_MAX - 1, -1, INT64_MIN};
    if (size == 0) {
        for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
            check_round_trip(edges[i]);
    }
    free(q);
    return 0;
}
