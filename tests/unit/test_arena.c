/*
 * arena.c: the per-request bump allocator, and the mark/rewind that lets a
 * retried PATCH reuse one attempt's memory for the next (issue 10).
 */
#include "unit.h"

#include "arena.h"

static size_t blocks(const arena_t *a)
{
    size_t n = 0;

    /* The block type is private; its first member is the link to the next. */
    for (const arena_block_t *b = a->head; b != NULL; b = *(arena_block_t *const *)b)
        n++;
    return n;
}

static void test_rewind_frees_what_came_after_the_mark(void **state)
{
    arena_t a;
    (void)state;

    arena_init(&a, 256);
    char *kept = arena_strndup(&a, "kept", 4);
    arena_mark_t m = arena_mark(&a);
    size_t before = blocks(&a);

    /* Many attempts, each larger than a block: memory must not accumulate. */
    for (int attempt = 0; attempt < 100; attempt++) {
        arena_rewind(&a, m);
        assert_int_equal(blocks(&a), before);
        for (int i = 0; i < 10; i++)
            memset(arena_alloc(&a, 1000), 'x', 1000);
        assert_true(blocks(&a) > before);
    }
    arena_rewind(&a, m);
    assert_int_equal(blocks(&a), before);
    assert_string_equal(kept, "kept");
    /* The next allocation reuses the marked block's free space. */
    char *next = arena_alloc(&a, 16);
    assert_ptr_equal(next, kept + 16);
    arena_free(&a);
}

static void test_rewind_to_an_empty_arena(void **state)
{
    arena_t a;
    (void)state;

    arena_init(&a, 128);
    arena_mark_t m = arena_mark(&a);
    arena_alloc(&a, 10);
    arena_alloc(&a, 1000);
    arena_rewind(&a, m);
    assert_null(a.head);
    assert_non_null(arena_alloc(&a, 10));
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewind_frees_what_came_after_the_mark),
        cmocka_unit_test(test_rewind_to_an_empty_arena),
    };

    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
