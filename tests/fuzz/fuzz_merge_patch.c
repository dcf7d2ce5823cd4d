/*
 * libFuzzer harness: JSON Merge Patch (RFC 7396), as PATCH /v1/items/{id}
 * uses it.
 *
 * Input: TARGET 0x00 PATCH. Both are JSON texts (raw NUL never occurs in
 * JSON, so the first NUL splits unambiguously). No NUL: the whole input is
 * the patch and the target is absent; an empty TARGET is absent too.
 *
 * Checked, with R = merge_patch_apply(T, P):
 *   - R equals an independent implementation of the RFC 7396 pseudo-code;
 *   - T and P are not modified;
 *   - R is a well-formed tree (has_nul flags, no duplicate keys, depth) and
 *     its compact form parses back to an equivalent document;
 *   - idempotence: applying P to R again gives R;
 *   - every null member of P is absent from R (at the same path), every
 *     non-object member of P is in R as is;
 *   - a patch with no members leaves an object target unchanged (and turns
 *     anything else into {}); a non-object patch replaces the target;
 *   - the PATCH handler's shape ({name, data} target, then item_validate)
 *     never breaks the item rules' contract.
 */
#include "common.h"
#include "fuzz_common.h"
#include "item.h"
#include "json.h"
#include "merge_patch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference: RFC 7396 section 2, written out literally ---- */

static bool key_eq(const json_member_t *m, const char *k, size_t n)
{
    return m->key_len == n && (n == 0 || memcmp(m->key, k, n) == 0);
}

static const json_value_t *ref_merge(arena_t *a, const json_value_t *target,
                                     const json_value_t *patch)
{
    if (patch->type != JSON_OBJECT)
        return patch;
    /* if Target is not an Object: Target = {} */
    size_t nt = (target != NULL && target->type == JSON_OBJECT) ? target->u.obj.n : 0;
    size_t cap = nt + patch->u.obj.n, n = 0;
    json_member_t *m = arena_alloc(a, (cap ? cap : 1) * sizeof(*m));

    for (size_t i = 0; i < nt; i++)
        m[n++] = target->u.obj.members[i];
    for (size_t i = 0; i < patch->u.obj.n; i++) {
        const json_member_t *pm = &patch->u.obj.members[i];
        size_t at = n;
        for (size_t j = 0; j < n; j++) {
            if (key_eq(&m[j], pm->key, pm->key_len)) {
                at = j;
                break;
            }
        }
        if (pm->value->type == JSON_NULL) {
            /* remove the field Name from Target, if present */
            if (at < n) {
                memmove(&m[at], &m[at + 1], (n - at - 1) * sizeof(*m));
                n--;
            }
            continue;
        }
        const json_value_t *merged = ref_merge(a, at < n ? m[at].value : NULL, pm->value);
        if (at == n)
            m[n++] = (json_member_t){pm->key, pm->key_len, NULL};
        m[at].value = (json_value_t *)merged;
    }
    json_value_t *r = json_new(a, JSON_OBJECT);
    r->u.obj.members = m;
    r->u.obj.n = n;
    return r;
}

/* ---- path checks: what the patch says must be visible in the result ---- */

static const json_value_t *member(const json_value_t *obj, const char *k, size_t n)
{
    if (obj == NULL || obj->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->u.obj.n; i++) {
        if (key_eq(&obj->u.obj.members[i], k, n))
            return obj->u.obj.members[i].value;
    }
    return NULL;
}

static void check_patch_visible(const json_value_t *result, const json_value_t *patch, int depth)
{
    FUZZ_CHECK(result != NULL && result->type == JSON_OBJECT,
               "an object patch at depth %d did not produce an object", depth);
    for (size_t i = 0; i < patch->u.obj.n; i++) {
        const json_member_t *pm = &patch->u.obj.members[i];
        const json_value_t *rv = member(result, pm->key, pm->key_len);
        if (pm->value->type == JSON_NULL) {
            FUZZ_CHECK(rv == NULL, "member \"%.*s\" set to null by the patch is still present",
                       (int)pm->key_len, pm->key);
        } else if (pm->value->type == JSON_OBJECT) {
            check_patch_visible(rv, pm->value, depth + 1);
        } else {
            FUZZ_CHECK(rv != NULL && fuzz_json_equal(rv, pm->value),
                       "member \"%.*s\" is not the patch's value", (int)pm->key_len, pm->key);
        }
    }
}

/* ---- the PATCH handler's use: target {name, data}, then the item rules ---- */

static void check_handler_shape(arena_t *a, const json_value_t *t, const json_value_t *p)
{
    json_member_t members[2];
    json_value_t target;
    json_value_t *name = json_new(a, JSON_STRING);
    const json_value_t *tn = member(t, "name", 4);
    const json_value_t *td = member(t, "data", 4);
    item_input_t in;
    item_errors_t errs;

    name->u.str.ptr = "item";
    name->u.str.len = 4;
    if (tn != NULL && tn->type == JSON_STRING && !tn->has_nul)
        *name = *tn;
    if (td == NULL || td->type != JSON_OBJECT || td->has_nul) {
        json_value_t *empty = json_new(a, JSON_OBJECT);
        td = empty;
    }
    members[0] = (json_member_t){"name", 4, name};
    members[1] = (json_member_t){"data", 4, (json_value_t *)td};
    memset(&target, 0, sizeof(target));
    target.type = JSON_OBJECT;
    target.u.obj.members = members;
    target.u.obj.n = 2;

    json_value_t *merged = merge_patch_apply(a, &target, p);
    fuzz_check_tree(merged, false);
    if (item_validate(a, merged, &in, &errs) == IA_OK) {
        FUZZ_CHECK(errs.n == 0 && in.name != NULL && in.data != NULL,
                   "validated without a name or data");
        FUZZ_CHECK(!merged->has_nul, "a document with U+0000 validated");
        char h[65];
        item_request_hash(&in, h);
    } else {
        FUZZ_CHECK(errs.n >= 1 && errs.n <= ITEM_MAX_FIELD_ERRORS, "%zu errors", errs.n);
    }
}

/* ---- entry point ---- */

static json_value_t *parse_copy(arena_t *a, const uint8_t *p, size_t n, char **keep)
{
    json_error_t err;
    /* A private exact-size copy: ASan sees any over-read. It must outlive
     * the tree (strings without escapes point into it). */
    char *text = malloc(n ? n : 1);

    if (text == NULL)
        abort();
    if (n > 0)
        memcpy(text, p, n);
    *keep = text;
    return json_parse(a, text, n, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static arena_t arena;
    static bool init;
    const uint8_t *sep = memchr(data, 0, size);
    json_value_t *t = NULL, *p;
    char *t_text = NULL, *p_text = NULL;

    if (!init) {
        arena_init(&arena, 4096);
        init = true;
    }
    if (sep != NULL && sep > data) {
        t = parse_copy(&arena, data, (size_t)(sep - data), &t_text);
        if (t == NULL)
            goto done;
    }
    const uint8_t *ps = sep ? sep + 1 : data;
    p = parse_copy(&arena, ps, size - (size_t)(ps - data), &p_text);
    if (p == NULL)
        goto done;

    buf_t t_before = {0}, p_before = fuzz_canonical(p);
    if (t != NULL)
        t_before = fuzz_canonical(t);

    json_value_t *r = merge_patch_apply(&arena, t, p);
    FUZZ_CHECK(r != NULL, "merge_patch_apply returned NULL");
    fuzz_check_tree(r, true);

    /* Inputs untouched. */
    buf_t p_after = fuzz_canonical(p);
    FUZZ_CHECK(p_after.len == p_before.len && memcmp(p_after.data, p_before.data, p_after.len) == 0,
               "merge_patch_apply modified the patch");
    buf_release(&p_after);
    if (t != NULL) {
        buf_t t_after = fuzz_canonical(t);
        FUZZ_CHECK(t_after.len == t_before.len &&
                       memcmp(t_after.data, t_before.data, t_after.len) == 0,
                   "merge_patch_apply modified the target");
        buf_release(&t_after);
        fuzz_check_tree(t, true);
    }
    fuzz_check_tree(p, true);

    /* Same result as the RFC's pseudo-code. */
    const json_value_t *want = ref_merge(&arena, t, p);
    if (!fuzz_json_equal(r, want)) {
        buf_t got = fuzz_canonical(r), exp = fuzz_canonical(want);
        fuzz_dump("merge_patch_apply", got.data, got.len);
        fuzz_dump("RFC 7396 reference", exp.data, exp.len);
        FUZZ_CHECK(false, "merge_patch_apply differs from RFC 7396");
    }

    /* The result serializes to a document that parses back the same. */
    buf_t w = fuzz_compact(r);
    json_error_t jerr;
    json_value_t *r2 = json_parse(&arena, w.data, w.len, &jerr);
    if (r2 == NULL)
        fuzz_dump("json_write(result)", w.data, w.len);
    FUZZ_CHECK(r2 != NULL, "the result does not serialize to valid JSON: %s", jerr.msg);
    FUZZ_CHECK(fuzz_json_equal(r, r2), "the result changes through write+parse");

    /* Idempotence. */
    json_value_t *rr = merge_patch_apply(&arena, r, p);
    FUZZ_CHECK(fuzz_json_equal(rr, r), "applying the patch twice differs from once");

    if (p->type == JSON_OBJECT) {
        check_patch_visible(r, p, 0);
        if (p->u.obj.n == 0) {
            if (t != NULL && t->type == JSON_OBJECT)
                FUZZ_CHECK(fuzz_json_equal(r, t), "an empty patch changed an object target");
            else
                FUZZ_CHECK(r->type == JSON_OBJECT && r->u.obj.n == 0,
                           "an empty patch on a non-object target is not {}");
        }
    } else {
        FUZZ_CHECK(r == p, "a non-object patch does not replace the target");
    }

    check_handler_shape(&arena, t, p);

    buf_release(&w);
    buf_release(&t_before);
    buf_release(&p_before);
done:
    arena_reset(&arena);
    free(t_text);
    free(p_text);
    return 0;
}
