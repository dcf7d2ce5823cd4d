/*
 * Per-request bump allocator: request code allocates freely and never frees;
 * the connection resets the arena once the response is sent. The first block
 * is kept across requests so the steady state allocates nothing.
 */
#ifndef IA_ARENA_H
#define IA_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block_t;

typedef struct {
    arena_block_t *head; /* current block; older ones chain behind it */
    size_t block_size;
} arena_t;

/* A point in an arena's history; arena_rewind frees what came after it. */
typedef struct {
    arena_block_t *block;
    size_t used;
} arena_mark_t;

void arena_init(arena_t *a, size_t block_size);
void *arena_alloc(arena_t *a, size_t n);
void *arena_memdup(arena_t *a, const void *src, size_t n);
char *arena_strndup(arena_t *a, const char *src, size_t n);
arena_mark_t arena_mark(const arena_t *a);
/* Frees everything allocated since the mark (which must be of this arena and
 * not older than its last reset): a request that retries can start each
 * attempt from the same point instead of accumulating attempts. */
void arena_rewind(arena_t *a, arena_mark_t m);
/* Frees every block but the first, and rewinds it. */
void arena_reset(arena_t *a);
/* Frees everything; the arena can be reused after arena_init. */
void arena_free(arena_t *a);

#endif
