/*
 * JSON Merge Patch (RFC 7396). Builds a new tree in the arena; the inputs are
 * not modified (unchanged subtrees are shared with them).
 */
#ifndef IA_MERGE_PATCH_H
#define IA_MERGE_PATCH_H

#include "json.h"

/* target may be NULL (absent). Never fails: every patch applies. */
json_value_t *merge_patch_apply(arena_t *a, const json_value_t *target, const json_value_t *patch);

#endif
