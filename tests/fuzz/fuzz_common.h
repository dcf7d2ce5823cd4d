/*
 * Shared helpers for the libFuzzer harnesses: invariant checks that abort
 * (so libFuzzer saves the input as a crash) and JSON tree checks used by
 * more than one harness.
 */
#ifndef IA_FUZZ_COMMON_H
#define IA_FUZZ_COMMON_H

#include "arena.h"
#include "buf.h"
#include "json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An invariant: on failure print what and where, then abort(). */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

/*
 * Known, reported, not yet fixed bugs can be tolerated while exploring for
 * new ones: FUZZ_TOLERATE=id[,id...] in the environment (ids are listed in
 * tests/fuzz/README.md). Never set in CI or by `make fuzz-regress`, where a
 * known bug must keep failing until it is fixed.
 */
bool fuzz_tolerate(const char *id);

/* Prints a byte range escaped (for failure messages). */
void fuzz_dump(const char *label, const void *p, size_t n);

/* Canonical / compact serializations into a fresh buffer (caller releases). */
buf_t fuzz_canonical(const json_value_t *v);
buf_t fuzz_compact(const json_value_t *v);

/* Two trees are JSON-equivalent: equal canonical forms. */
bool fuzz_json_equal(const json_value_t *a, const json_value_t *b);

/*
 * Structural checks on a tree from json_parse or merge_patch_apply: every
 * has_nul flag matches the content below it, no object has duplicate keys,
 * nesting stays within JSON_MAX_DEPTH (when check_depth), strings and keys are
 * valid UTF-8 (U+0000 allowed), numbers are valid JSON number lexemes.
 */
void fuzz_check_tree(const json_value_t *v, bool check_depth);

/* Valid UTF-8 per RFC 3629 (no overlongs, no surrogates, max U+10FFFF). */
bool fuzz_utf8_valid(const char *s, size_t n);

/* A valid JSON number lexeme (RFC 8259 section 6). */
bool fuzz_number_lexeme_valid(const char *s, size_t n);

#endif
