#include "arena.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

struct arena_block {
    arena_block_t *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void arena_init(arena_t *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size;
}

static arena_block_t *block_new(size_t size, arena_block_t *next)
{
    arena_block_t *b = ia_malloc(sizeof(*b) + size);

    b->next = next;
    b->size = size;
    b->used = 0;
    return b;
}

void *arena_alloc(arena_t *a, size_t n)
{
    arena_block_t *b = a->head;
    size_t need = (n + 15) & ~(size_t)15;

    if (b == NULL || b->size - b->used < need) {
        size_t size = need > a->block_size ? need : a->block_size;

        b = block_new(size, a->head);
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

void *arena_memdup(arena_t *a, const void *src, size_t n)
{
    void *p = arena_alloc(a, n);

    if (n > 0)
        memcpy(p, src, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *src, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    memcpy(p, src, n);
    p[n] = '\0';
    return p;
}

arena_mark_t arena_mark(const arena_t *a)
{
    return (arena_mark_t){a->head, a->head != NULL ? a->head->used : 0};
}

void arena_rewind(arena_t *a, arena_mark_t m)
{
    /* Blocks form a stack: the ones above the marked block are newer. */
    while (a->head != m.block) {
        arena_block_t *b = a->head;
        a->head = b->next;
        free(b);
    }
    if (a->head != NULL)
        a->head->used = m.used;
}

void arena_reset(arena_t *a)
{
    arena_block_t *b = a->head;

    if (b == NULL)
        return;
    /* Keep the oldest block: it is the one of the configured size. */
    while (b->next != NULL) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    b->used = 0;
    if (b->size != a->block_size) {
        free(b);
        b = NULL;
    }
    a->head = b;
}

void arena_free(arena_t *a)
{
    arena_block_t *b = a->head;

    while (b != NULL) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}
