#include "merge_patch.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

static int key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    return c != 0 ? c : (an > bn) - (an < bn);
}

static int idx_cmp(const void *x, const void *y)
{
    const json_member_t *a = *(json_member_t *const *)x;
    const json_member_t *b = *(json_member_t *const *)y;

    return key_cmp(a->key, a->key_len, b->key, b->key_len);
}

/* Binary search in a sorted index; returns the member or NULL. */
static json_member_t *find(json_member_t **idx, size_t n, const char *key, size_t len)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(idx[mid]->key, idx[mid]->key_len, key, len);
        if (c == 0)
            return idx[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

json_value_t *merge_patch_apply(arena_t *a, const json_value_t *target, const json_value_t *patch)
{
    if (patch->type != JSON_OBJECT)
        return (json_value_t *)patch;

    size_t nt = (target != NULL && target->type == JSON_OBJECT) ? target->u.obj.n : 0;
    size_t np = patch->u.obj.n;
    json_member_t *out = arena_alloc(a, (nt + np) * sizeof(*out));
    json_member_t **idx = NULL;
    bool *removed = NULL;
    size_t n = nt;

    /* Members keep the target's order; new ones follow in the patch's order. */
    if (nt > 0) {
        memcpy(out, target->u.obj.members, nt * sizeof(*out));
        idx = ia_malloc(nt * sizeof(*idx));
        removed = ia_calloc(nt, sizeof(*removed));
        for (size_t i = 0; i < nt; i++)
            idx[i] = &out[i];
        qsort(idx, nt, sizeof(*idx), idx_cmp);
    }
    for (size_t i = 0; i < np; i++) {
        const json_member_t *pm = &patch->u.obj.members[i];
        json_member_t *tm = nt ? find(idx, nt, pm->key, pm->key_len) : NULL;

        if (pm->value->type == JSON_NULL) {
            if (tm != NULL)
                removed[tm - out] = true;
            continue;
        }
        if (tm != NULL) {
            tm->value = merge_patch_apply(a, tm->value, pm->value);
        } else {
            out[n].key = pm->key;
            out[n].key_len = pm->key_len;
            out[n].value = merge_patch_apply(a, NULL, pm->value);
            n++;
        }
    }
    /* Compact away removed members and recompute the U+0000 flag. */
    json_value_t *res = json_new(a, JSON_OBJECT);
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (r < nt && removed[r])
            continue;
        out[w] = out[r];
        res->has_nul |= out[w].value->has_nul || memchr(out[w].key, 0, out[w].key_len) != NULL;
        w++;
    }
    res->u.obj.members = out;
    res->u.obj.n = w;
    free(idx);
    free(removed);
    return res;
}
