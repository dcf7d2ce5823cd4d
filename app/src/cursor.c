#include "cursor.h"

#include "common.h"

#include <stdio.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;

    return p ? (int)(p - b64url) : -1;
}

size_t cursor_encode(int64_t after_id, char out[CURSOR_MAX_LEN + 1])
{
    char raw[32];
    int n = snprintf(raw, sizeof(raw), "v1:%lld", (long long)after_id);

    return b64_encode((const unsigned char *)raw, (size_t)n, out);
}

int cursor_decode(const char *s, size_t n, int64_t *after_id)
{
    unsigned char raw[32];
    size_t r = 0;
    unsigned acc = 0;
    int bits = 0;
    char again[CURSOR_MAX_LEN + 1];

    if (n == 0 || n > CURSOR_MAX_LEN)
        return IA_ERR;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0)
            return IA_ERR;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[r++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (r < 4 || memcmp(raw, "v1:", 3) != 0)
        return IA_ERR;
    int64_t id = 0;
    for (size_t i = 3; i < r; i++) {
        if (raw[i] < '0' || raw[i] > '9' || (i == 3 && raw[i] == '0' && r > 4))
            return IA_ERR;
        int d = raw[i] - '0';
        if (id > (INT64_MAX - d) / 10)
            return IA_ERR;
        id = id * 10 + d;
    }
    /* One spelling per position: reject non-canonical padding bits. */
    if (cursor_encode(id, again) != n || memcmp(again, s, n) != 0)
        return IA_ERR;
    *after_id = id;
    return IA_OK;
}
