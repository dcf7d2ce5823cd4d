/*
 * Opaque pagination cursors: the last id of a page, encoded so clients treat
 * it as a token. Decoding is strict (the encoding of a decoded cursor must
 * match byte for byte) so one position has exactly one spelling.
 */
#ifndef IA_CURSOR_H
#define IA_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define CURSOR_MAX_LEN 40

/* Writes a NUL-terminated cursor into out; returns its length. */
size_t cursor_encode(int64_t after_id, char out[CURSOR_MAX_LEN + 1]);
/* IA_OK and *after_id, or IA_ERR for anything not produced by encode. */
int cursor_decode(const char *s, size_t n, int64_t *after_id);

#endif
