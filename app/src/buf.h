/*
 * Growable byte buffer. The buffer owns its memory; buf_release() gives it
 * back while keeping the struct reusable. Appends never fail (allocation
 * failure is fatal, see ia_fatal).
 */
#ifndef IA_BUF_H
#define IA_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_put_i64(buf_t *b, int64_t v);
void buf_put_u64(buf_t *b, uint64_t v);
/* Appends s as a JSON string literal, quotes included. s must be valid UTF-8
 * or the caller accepts that invalid bytes are replaced by U+FFFD. */
void buf_put_json_str(buf_t *b, const char *s, size_t n);
/* Drops the first n bytes, keeping the rest. */
void buf_consume(buf_t *b, size_t n);
void buf_release(buf_t *b);

static inline void buf_clear(buf_t *b)
{
    b->len = 0;
}

#endif
