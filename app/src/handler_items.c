/*
 * The items API. Checks run in the documented order: (key, method, media
 * type and size were checked by policy.c) syntax and validation (400/422),
 * then existence (404), then preconditions (412).
 */
#include "handler_items.h"

#include "auth.h"
#include "cursor.h"
#include "http_response.h"
#include "merge_patch.h"
#include "store.h"
#include "timeutil.h"
#include "worker.h"

#include <stdio.h>
#include <string.h>

#define LIST_DEFAULT_LIMIT 20
#define LIST_MAX_LIMIT     100
/* Optimistic concurrency: each round one of the contenders wins, so with n
 * writers on one item a PATCH needs about n rounds. Bounded by attempts and
 * by DB_STATEMENT_TIMEOUT_MS, then 503. */
#define PATCH_MAX_ATTEMPTS 1000

/*
 * One items request's state, owned by the handler: allocated from the
 * request's arena when the handler starts (before a PATCH takes its arena
 * mark, so the retries' rewinds never free it) and gone with the arena when
 * the response is queued. The store op points back here.
 */
typedef struct {
    exchange_t *ex;
    store_op_t op;
    item_input_t input;
    const json_value_t *patch;
    arena_mark_t patch_mark; /* each PATCH attempt starts from here */
    int attempts;
    int n_if_match;
    bool if_match_star;
    int64_t if_match[STORE_MAX_IF_MATCH];
    char idem_scope[33];
    char idem_hash[65];
    const char *idem_key;
} item_req_t;

static item_req_t *item_req_new(exchange_t *ex)
{
    item_req_t *r = arena_alloc(&ex->arena, sizeof(*r));

    memset(r, 0, sizeof(*r));
    r->ex = ex;
    return r;
}

/* ---- helpers ---- */

static void respond_item(exchange_t *ex, int status, const item_t *it, bool location)
{
    buf_t *b = &ex->worker->scratch;
    char v[48];
    int n;

    n = snprintf(v, sizeof(v), "\"%lld\"", (long long)it->version);
    http_add_header(ex, "ETag", v, (size_t)n);
    if (location) {
        n = snprintf(v, sizeof(v), "/v1/items/%lld", (long long)it->id);
        http_add_header(ex, "Location", v, (size_t)n);
    }
    buf_clear(b);
    item_write_json(b, it);
    http_respond(ex, status, "application/json", b->data, b->len);
}

static void respond_store_failure(exchange_t *ex, store_status_t st)
{
    switch (st) {
    case STORE_NOT_FOUND:
        http_problem(ex, 404, NULL, "no item with this id");
        return;
    case STORE_PRECONDITION_FAILED:
        http_problem(ex, 412, "precondition-failed",
                     "the item's current version does not match If-Match");
        return;
    case STORE_UNAVAILABLE:
        http_problem_unavailable(ex, "the database is unavailable; retry later");
        return;
    default:
        http_problem(ex, 500, NULL, "internal error");
        return;
    }
}

/* Parses the body as JSON; answers 400 and returns NULL when malformed. */
static json_value_t *parse_body(exchange_t *ex)
{
    json_error_t err;
    json_value_t *v;
    char detail[160];

    if (ex->body.len == 0) {
        http_problem(ex, 400, "invalid-json",
                     "the request body is empty; a JSON object is expected");
        return NULL;
    }
    v = json_parse(&ex->arena, ex->body.ptr, ex->body.len, &err);
    if (v == NULL) {
        snprintf(detail, sizeof(detail), "malformed JSON at byte %zu: %s", err.offset, err.msg);
        http_problem(ex, 400, "invalid-json", detail);
    }
    return v;
}

/*
 * If-Match: "*" or a list of entity-tags. Our tags are strong "<version>";
 * weak tags and foreign opaque tags are valid syntax that never match.
 * Returns false after answering 400 on a syntax error.
 */
static bool parse_if_match(exchange_t *ex, slice_t v, bool weak_ok_match, int *n_out,
                           int64_t *versions, bool *star)
{
    const char *p = v.ptr, *end = v.ptr + v.len;
    int n = 0;
    bool any = false, ok = false;

    *star = false;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p >= end)
            break;
        if (*p == '*') {
            *star = true;
            any = true;
            p++;
            continue;
        }
        bool weak = false;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            weak = true;
            p += 2;
        }
        if (p >= end || *p != '"')
            goto cleanup;
        const char *s = ++p;
        while (p < end && *p != '"') {
            unsigned char c = (unsigned char)*p;
            if (c < 0x21 || c == 0x7F)
                goto cleanup;
            p++;
        }
        if (p >= end)
            goto cleanup;
        int64_t ver;
        if ((!weak || weak_ok_match) && item_parse_id(s, (size_t)(p - s), &ver) == IA_OK &&
            n < STORE_MAX_IF_MATCH)
            versions[n++] = ver;
        p++;
        any = true;
    }
    if (!any)
        goto cleanup;
    *n_out = n;
    ok = true;
cleanup:
    if (!ok)
        http_problem(ex, 400, "invalid-header",
                     "malformed entity-tag list in a conditional header");
    return ok;
}

static bool match_list(int n, const int64_t *versions, int64_t version)
{
    for (int i = 0; i < n; i++) {
        if (versions[i] == version)
            return true;
    }
    return false;
}

/* Reads If-Match into r. Returns false after answering 400. */
static bool read_if_match(item_req_t *r)
{
    exchange_t *ex = r->ex;

    r->n_if_match = 0;
    r->if_match_star = false;
    if (!ex->req.has_if_match)
        return true;
    return parse_if_match(ex, ex->req.if_match, false, &r->n_if_match, r->if_match,
                          &r->if_match_star);
}

static void prepare_op(item_req_t *r, store_op_kind_t kind, store_done_fn done)
{
    memset(&r->op, 0, sizeof(r->op));
    r->op.kind = kind;
    r->op.done = done;
    r->op.arg = r;
}

/* Copies the validated item into the op (CREATE, REPLACE). */
static void op_set_input(item_req_t *r)
{
    r->op.name = r->input.name;
    r->op.name_len = r->input.name_len;
    r->op.data = r->input.data;
    r->op.data_len = r->input.data_len;
}

/* Copies If-Match into the op. A list with no usable tag can match nothing:
 * version 0 never exists, so the store answers 412 (or 404). */
static void op_set_if_match(item_req_t *r)
{
    if (!r->ex->req.has_if_match || r->if_match_star)
        return;
    r->op.n_if_match = r->n_if_match > 0 ? r->n_if_match : 1;
    if (r->n_if_match > 0)
        memcpy(r->op.if_match, r->if_match, sizeof(int64_t) * (size_t)r->n_if_match);
    else
        r->op.if_match[0] = 0;
}

/* ---- GET /v1/items ---- */

static void on_list(store_op_t *op, const store_result_t *res)
{
    item_req_t *r = op->arg;
    exchange_t *ex = r->ex;
    buf_t *b = &ex->worker->scratch;

    if (res->status != STORE_OK) {
        respond_store_failure(ex, res->status);
        return;
    }
    buf_clear(b);
    buf_append(b, "{\"items\":[", 10);
    for (size_t i = 0; i < res->n_items; i++) {
        if (i)
            buf_putc(b, ',');
        item_write_json(b, &res->items[i]);
    }
    buf_append(b, "],\"next_cursor\":", 16);
    if (res->has_more && res->n_items > 0) {
        char cur[CURSOR_MAX_LEN + 1];
        size_t n = cursor_encode(res->items[res->n_items - 1].id, cur);
        buf_putc(b, '"');
        buf_append(b, cur, n);
        buf_putc(b, '"');
    } else {
        buf_append(b, "null", 4);
    }
    buf_putc(b, '}');
    http_respond(ex, 200, "application/json", b->data, b->len);
}

static void list_items(item_req_t *r)
{
    exchange_t *ex = r->ex;
    slice_t v;
    int64_t limit = LIST_DEFAULT_LIMIT, after = 0;
    int n;

    n = http_query_param(ex->req.query, "limit", &v);
    if (n > 1 || (n == 1 && (item_parse_id(v.ptr, v.len, &limit) != IA_OK || limit < 1 ||
                             limit > LIST_MAX_LIMIT))) {
        http_problem(ex, 400, "invalid-parameter", "limit must be an integer from 1 to 100");
        return;
    }
    n = http_query_param(ex->req.query, "cursor", &v);
    if (n > 1 || (n == 1 && cursor_decode(v.ptr, v.len, &after) != IA_OK)) {
        http_problem(ex, 400, "invalid-parameter",
                     "cursor must be a next_cursor value returned by this API");
        return;
    }
    prepare_op(r, STORE_OP_LIST, on_list);
    r->op.after_id = after;
    r->op.limit = (int)limit;
    store_submit(ex->worker->store, &r->op);
}

/* ---- POST /v1/items ---- */

static void on_create(store_op_t *op, const store_result_t *res)
{
    item_req_t *r = op->arg;
    exchange_t *ex = r->ex;

    if (res->status == STORE_OK) {
        respond_item(ex, 201, &res->items[0], true);
    } else if (res->status == STORE_REPLAYED) {
        /* The original response: same id, version 1, original times; name
         * and data equal the original's (the bodies are JSON-equivalent). */
        item_t it = res->items[0];
        it.name = r->input.name;
        it.name_len = r->input.name_len;
        it.data = r->input.data;
        it.data_len = r->input.data_len;
        http_add_header(ex, "Idempotent-Replayed", "true", 4);
        respond_item(ex, 201, &it, true);
    } else if (res->status == STORE_IDEMPOTENCY_MISMATCH) {
        http_problem(ex, 422, "idempotency-key-reused",
                     "this Idempotency-Key was used with a different request body");
    } else {
        respond_store_failure(ex, res->status);
    }
}

static bool idempotency_key_valid(slice_t k)
{
    if (k.len < 1 || k.len > 255)
        return false;
    for (size_t i = 0; i < k.len; i++) {
        if ((unsigned char)k.ptr[i] < 0x21 || (unsigned char)k.ptr[i] > 0x7E)
            return false;
    }
    return true;
}

static bool read_validated_body(item_req_t *r, const json_value_t *body)
{
    item_errors_t errs;

    if (item_validate(&r->ex->arena, body, &r->input, &errs) != IA_OK) {
        http_problem_fields(r->ex, &errs);
        return false;
    }
    return true;
}

static void create_item(item_req_t *r)
{
    exchange_t *ex = r->ex;
    json_value_t *body;

    if (ex->req.has_idempotency_key && !idempotency_key_valid(ex->req.idempotency_key)) {
        http_problem(ex, 400, "invalid-header",
                     "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return;
    }
    body = parse_body(ex);
    if (body == NULL || !read_validated_body(r, body))
        return;
    prepare_op(r, STORE_OP_CREATE, on_create);
    op_set_input(r);
    if (ex->req.has_idempotency_key) {
        auth_key_id(ex->worker->srv->cfg, ex->key_index, r->idem_scope);
        item_request_hash(&r->input, r->idem_hash);
        r->idem_key =
            arena_strndup(&ex->arena, ex->req.idempotency_key.ptr, ex->req.idempotency_key.len);
        r->op.idem_scope = r->idem_scope;
        r->op.idem_key = r->idem_key;
        r->op.idem_hash = r->idem_hash;
    }
    store_submit(ex->worker->store, &r->op);
}

void handle_items_collection(exchange_t *ex)
{
    item_req_t *r = item_req_new(ex);

    if (ex->req.method == HTTP_POST)
        create_item(r);
    else
        list_items(r);
}

/* ---- GET /v1/items/{id} ---- */

static void on_get(store_op_t *op, const store_result_t *res)
{
    item_req_t *r = op->arg;
    exchange_t *ex = r->ex;

    if (res->status != STORE_OK) {
        respond_store_failure(ex, res->status);
        return;
    }
    const item_t *it = &res->items[0];
    if (ex->req.has_if_none_match) {
        int64_t versions[STORE_MAX_IF_MATCH];
        int n = 0;
        bool star = false;
        /* If-None-Match uses weak comparison (RFC 9110 section 13.1.2). */
        if (!parse_if_match(ex, ex->req.if_none_match, true, &n, versions, &star))
            return;
        if (star || match_list(n, versions, it->version)) {
            char v[32];
            int len = snprintf(v, sizeof(v), "\"%lld\"", (long long)it->version);
            http_add_header(ex, "ETag", v, (size_t)len);
            http_respond(ex, 304, NULL, NULL, 0);
            return;
        }
    }
    respond_item(ex, 200, it, false);
}

/* ---- PUT /v1/items/{id} ---- */

static void on_replace(store_op_t *op, const store_result_t *res)
{
    item_req_t *r = op->arg;
    exchange_t *ex = r->ex;

    if (res->status == STORE_OK)
        respond_item(ex, 200, &res->items[0], false);
    else
        respond_store_failure(ex, res->status);
}

static void replace_item(item_req_t *r, int64_t id, bool id_ok)
{
    exchange_t *ex = r->ex;
    json_value_t *body;

    if (!read_if_match(r))
        return;
    body = parse_body(ex);
    if (body == NULL || !read_validated_body(r, body))
        return;
    if (!id_ok) {
        http_problem(ex, 404, NULL, "no item with this id");
        return;
    }
    prepare_op(r, STORE_OP_REPLACE, on_replace);
    r->op.id = id;
    op_set_input(r);
    op_set_if_match(r);
    store_submit(ex->worker->store, &r->op);
}

/* ---- PATCH /v1/items/{id}: read, merge, validate, compare-and-swap ---- */

static void patch_read(item_req_t *r);

static void on_patch_replace(store_op_t *op, const store_result_t *res)
{
    item_req_t *r = op->arg;
    exchange_t *ex = r->ex;

    if (res->status == STORE_OK) {
        respond_item(ex, 200, &res->items[0], false);
        return;
    }
    /* Someone else wrote between our read and our write. With an If-Match
     * from the client that is a 412; without one, merge again on the new
     * version: a concurrent writer never loses an update silently. */
    if (res->status == STORE_PRECONDITION_FAILED && !ex->req.has_if_match &&
        ++r->attempts < PATCH_MAX_ATTEMPTS &&
        time_mono_ns() - ex->start_ns < ex->worker->srv->cfg->db_statement_timeout_ms * 1000000) {
        patch_read(r);
        return;
    }
    if (res->status == STORE_PRECONDITION_FAILED && !ex->req.has_if_match) {
        http_problem_unavailable(ex, "too many concurrent updates to this item; retry");
        return;
    }
    respond_store_failure(ex, res->status);
}

/* The patch target is the writable part of an item, {name, data}; returns
 * the patch applied to it (in the exchange's arena). */
static json_value_t *patch_merge(exchange_t *ex, const char *name, size_t name_len,
                                 json_value_t *data, const json_value_t *patch)
{
    json_value_t *target = json_new(&ex->arena, JSON_OBJECT);
    json_value_t *name_val = json_new(&ex->arena, JSON_STRING);
    json_member_t *members = arena_alloc(&ex->arena, 2 * sizeof(*members));

    name_val->u.str.ptr = name;
    name_val->u.str.len = name_len;
    members[0] = (json_member_t){"name", 4, name_val};
    members[1] = (json_member_t){"data", 4, data};
    target->u.obj.members = members;
    target->u.obj.n = 2;
    return merge_patch_apply(&ex->arena, target, patch);
}

static void on_patch_read(store_op_t *op, const store_result_t *res)
{
    item_req_t *r = op->arg;
    exchange_t *ex = r->ex;
    const item_t *it;
    json_value_t *data_val, *merged;
    json_error_t jerr;
    item_errors_t errs;
    int64_t id = r->op.id;

    if (res->status != STORE_OK) {
        respond_store_failure(ex, res->status);
        return;
    }
    it = &res->items[0];
    if (ex->req.has_if_match && !r->if_match_star &&
        !match_list(r->n_if_match, r->if_match, it->version)) {
        respond_store_failure(ex, STORE_PRECONDITION_FAILED);
        return;
    }
    data_val = json_parse(&ex->arena, arena_memdup(&ex->arena, it->data, it->data_len),
                          it->data_len, &jerr);
    if (data_val == NULL) {
        http_problem(ex, 500, NULL, "stored data is not valid JSON");
        return;
    }
    merged = patch_merge(ex, arena_memdup(&ex->arena, it->name, it->name_len), it->name_len,
                         data_val, r->patch);
    if (item_validate(&ex->arena, merged, &r->input, &errs) != IA_OK) {
        http_problem_fields(ex, &errs);
        return;
    }
    int64_t version = it->version;
    prepare_op(r, STORE_OP_REPLACE, on_patch_replace);
    r->op.id = id;
    op_set_input(r);
    r->op.n_if_match = 1;
    r->op.if_match[0] = version;
    store_submit(ex->worker->store, &r->op);
}

/* One attempt: read, merge, validate, compare-and-swap. What the previous
 * attempt allocated (the stored data's parse, the merge, the validated copy:
 * several times the patch for a large one) is freed first, so a request's
 * memory does not grow with its retries. */
static void patch_read(item_req_t *r)
{
    int64_t id = r->op.id;

    arena_rewind(&r->ex->arena, r->patch_mark);
    prepare_op(r, STORE_OP_GET, on_patch_read);
    r->op.id = id;
    store_submit(r->ex->worker->store, &r->op);
}

/*
 * Judges the patch before the item is read, so that a patch no item could
 * accept is a 422 whatever the id or If-Match (422 before 404 before 412).
 * It is applied to the smallest valid item, {"name":"x","data":{}}: the
 * result is contained in what the patch makes of any real item (a null only
 * removes, and a real item only adds members), so every error found here
 * would be found on the real item too, and none is invented.
 */
static void patch_prevalidate(exchange_t *ex, const json_value_t *patch, item_errors_t *errs)
{
    item_input_t scratch;

    (void)item_validate(&ex->arena,
                        patch_merge(ex, "x", 1, json_new(&ex->arena, JSON_OBJECT), patch), &scratch,
                        errs);
}

static void patch_item(item_req_t *r, int64_t id, bool id_ok)
{
    exchange_t *ex = r->ex;
    json_value_t *patch;
    item_errors_t errs = {.n = 0};

    if (!read_if_match(r))
        return;
    patch = parse_body(ex);
    if (patch == NULL)
        return;
    /* The parsed patch stays; the pre-check's merge below is freed with the
     * first attempt's rewind. */
    r->patch_mark = arena_mark(&ex->arena);
    /* What can be judged without the item is judged first (422 before 404). */
    if (patch->type != JSON_OBJECT) {
        errs.errors[errs.n++] =
            (item_field_error_t){"", 0, "a merge patch for an item must be a JSON object"};
    } else {
        for (size_t i = 0; i < patch->u.obj.n && errs.n < ITEM_MAX_FIELD_ERRORS; i++) {
            const json_member_t *m = &patch->u.obj.members[i];
            if (!(m->key_len == 4 &&
                  (memcmp(m->key, "name", 4) == 0 || memcmp(m->key, "data", 4) == 0)))
                errs.errors[errs.n++] =
                    (item_field_error_t){m->key, m->key_len, "is not a known field"};
        }
    }
    if (errs.n == 0)
        patch_prevalidate(ex, patch, &errs);
    if (errs.n > 0) {
        http_problem_fields(ex, &errs);
        return;
    }
    if (!id_ok) {
        http_problem(ex, 404, NULL, "no item with this id");
        return;
    }
    r->patch = patch;
    r->op.id = id;
    patch_read(r);
}

/* ---- DELETE /v1/items/{id} ---- */

static void on_delete(store_op_t *op, const store_result_t *res)
{
    item_req_t *r = op->arg;
    exchange_t *ex = r->ex;

    if (res->status == STORE_OK)
        http_respond(ex, 204, NULL, NULL, 0);
    else
        respond_store_failure(ex, res->status);
}

void handle_item(exchange_t *ex)
{
    item_req_t *r = item_req_new(ex);
    int64_t id = 0;
    bool id_ok = item_parse_id(ex->route_param.ptr, ex->route_param.len, &id) == IA_OK;

    switch (ex->req.method) {
    case HTTP_PUT:
        replace_item(r, id, id_ok);
        return;
    case HTTP_PATCH:
        patch_item(r, id, id_ok);
        return;
    default:
        break;
    }
    if (ex->req.method == HTTP_DELETE && !read_if_match(r))
        return;
    if (!id_ok) {
        http_problem(ex, 404, NULL, "no item with this id");
        return;
    }
    if (ex->req.method == HTTP_DELETE) {
        prepare_op(r, STORE_OP_DELETE, on_delete);
        r->op.id = id;
        op_set_if_match(r);
    } else {
        prepare_op(r, STORE_OP_GET, on_get);
        r->op.id = id;
    }
    store_submit(ex->worker->store, &r->op);
}
