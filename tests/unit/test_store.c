/*
 * store.c, store_sqlite.c, store_pg*.c: the storage interface on a real
 * database. The same tests run on SQLite (a file in a temporary directory;
 * calls complete synchronously) and, when ITEMS_TEST_PG_URL names a
 * database, on PostgreSQL (asynchronous: driven by an event loop here as a
 * worker thread would drive it).
 *
 * The PostgreSQL database may hold rows from earlier runs: the tests only
 * look at items they created and use idempotency keys unique to the run.
 */
#include "unit.h"

#include "config.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "timeutil.h"

#include <sys/stat.h>
#include <unistd.h>

/* How long an operation may take before the test gives up: above the
 * store's own deadlines (DB_POOL_TIMEOUT_MS + DB_STATEMENT_TIMEOUT_MS), which
 * must have answered by then. */
#define OP_WAIT_MS 20000

typedef struct {
    const char *kind;
    config_t cfg;
    store_t *s;
    loop_t *loop; /* NULL for SQLite */
    store_worker_t *w;
    char dir[64];
    char scope[64]; /* idempotency scope unique to this run */
} backend_t;

typedef struct {
    int64_t id, version, created_ms, updated_ms;
    char *name, *data; /* NUL-terminated copies (test_malloc) */
    size_t name_len, data_len;
} item_copy_t;

#define MAX_COPY 128

typedef struct {
    int calls;
    store_status_t status;
    size_t n;
    bool has_more;
    item_copy_t items[MAX_COPY];
} result_t;

static const char *status_name(store_status_t st)
{
    static const char *const names[] = {
        "OK",          "NOT_FOUND", "PRECONDITION_FAILED", "REPLAYED", "IDEMPOTENCY_MISMATCH",
        "UNAVAILABLE", "ERROR"};

    return (size_t)st < IA_ARRAY_LEN(names) ? names[st] : "?";
}

static char *copy_bytes(const char *p, size_t n)
{
    char *s = test_malloc(n + 1);

    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Copies a result: the store's memory is valid during the callback only. */
static void record(result_t *r, const store_result_t *res)
{
    r->calls++;
    r->status = res->status;
    r->has_more = res->has_more;
    /* Items matter with these statuses only (for the others a back end may
     * still hand over an empty row). */
    bool has_items = res->status == STORE_OK || res->status == STORE_REPLAYED ||
                     res->status == STORE_IDEMPOTENCY_MISMATCH;
    r->n = has_items ? res->n_items : 0;
    for (size_t i = 0; i < r->n && i < MAX_COPY; i++) {
        const item_t *it = &res->items[i];
        item_copy_t *c = &r->items[i];
        c->id = it->id;
        c->version = it->version;
        c->created_ms = it->created_ms;
        c->updated_ms = it->updated_ms;
        c->name = copy_bytes(it->name, it->name != NULL ? it->name_len : 0);
        c->name_len = it->name_len;
        c->data = copy_bytes(it->data, it->data != NULL ? it->data_len : 0);
        c->data_len = it->data_len;
    }
}

static void result_free(result_t *r)
{
    for (size_t i = 0; i < r->n && i < MAX_COPY; i++) {
        test_free(r->items[i].name);
        test_free(r->items[i].data);
    }
    r->n = 0;
}

static void on_done(store_op_t *op, const store_result_t *res)
{
    record(op->arg, res);
}

/* Drives the worker until *calls is non-zero. SQLite answers inside
 * store_submit; PostgreSQL needs the loop (flush what was queued, poll,
 * expire deadlines). A store that never answers breaks the contract that
 * done runs exactly once; the op still points into our stack, so stop. */
static void wait_for(backend_t *b, const int *calls)
{
    if (b->loop == NULL) {
        if (*calls == 0)
            fail_msg("%s: operation not completed synchronously", b->kind);
        return;
    }
    int64_t deadline = time_mono_ms() + OP_WAIT_MS;
    while (*calls == 0) {
        store_worker_flush(b->w);
        int64_t now = time_mono_ms();
        if (now > deadline) {
            fprintf(stderr, "%s: no answer within %d ms: the store never called done\n", b->kind,
                    OP_WAIT_MS);
            abort();
        }
        int next = store_worker_tick(b->w, now);
        loop_poll(b->loop, next < 0 || next > 50 ? 50 : next);
    }
    /* Exactly once: nothing more arrives for the op. */
    store_worker_flush(b->w);
    loop_poll(b->loop, 0);
}

static void run(backend_t *b, store_op_t *op, result_t *r)
{
    memset(r, 0, sizeof(*r));
    op->done = on_done;
    op->arg = r;
    store_submit(b->w, op);
    wait_for(b, &r->calls);
    assert_int_equal(r->calls, 1);
}

static void expect_status(const result_t *r, store_status_t want)
{
    if (r->status != want)
        fail_msg("status %s, want %s", status_name(r->status), status_name(want));
}

/* ---- operations ---- */

static int64_t create(backend_t *b, const char *name, const char *data, result_t *r)
{
    store_op_t op = {.kind = STORE_OP_CREATE};

    op.name = name;
    op.name_len = strlen(name);
    op.data = data;
    op.data_len = strlen(data);
    run(b, &op, r);
    expect_status(r, STORE_OK);
    assert_int_equal(r->n, 1);
    assert_true(r->items[0].id > 0);
    return r->items[0].id;
}

static int64_t create_simple(backend_t *b, const char *name)
{
    result_t r;
    int64_t id = create(b, name, "{}", &r);

    result_free(&r);
    return id;
}

static void get(backend_t *b, int64_t id, result_t *r)
{
    store_op_t op = {.kind = STORE_OP_GET, .id = id};

    run(b, &op, r);
}

static void list(backend_t *b, int64_t after, int limit, result_t *r)
{
    store_op_t op = {.kind = STORE_OP_LIST, .after_id = after, .limit = limit};

    run(b, &op, r);
    expect_status(r, STORE_OK);
}

static void replace(backend_t *b, int64_t id, const char *name, const char *data,
                    const int64_t *if_match, int n_if_match, result_t *r)
{
    store_op_t op = {.kind = STORE_OP_REPLACE, .id = id};

    op.name = name;
    op.name_len = strlen(name);
    op.data = data;
    op.data_len = strlen(data);
    op.n_if_match = n_if_match;
    for (int i = 0; i < n_if_match; i++)
        op.if_match[i] = if_match[i];
    run(b, &op, r);
}

static void delete_item(backend_t *b, int64_t id, const int64_t *if_match, int n_if_match,
                        result_t *r)
{
    store_op_t op = {.kind = STORE_OP_DELETE, .id = id};

    op.n_if_match = n_if_match;
    for (int i = 0; i < n_if_match; i++)
        op.if_match[i] = if_match[i];
    run(b, &op, r);
}

static void create_idem(backend_t *b, const char *scope, const char *key, const char *hash,
                        const char *name, result_t *r)
{
    store_op_t op = {.kind = STORE_OP_CREATE};

    op.name = name;
    op.name_len = strlen(name);
    op.data = "{\"idem\":true}";
    op.data_len = strlen(op.data);
    op.idem_scope = scope;
    op.idem_key = key;
    op.idem_hash = hash;
    run(b, &op, r);
}

static void expect_item(const item_copy_t *c, const char *name, const char *data)
{
    if (c->name_len != strlen(name) || memcmp(c->name, name, c->name_len) != 0)
        fail_msg("name \"%s\", want \"%s\"", c->name, name);
    if (c->data_len != strlen(data) || memcmp(c->data, data, c->data_len) != 0)
        fail_msg("data %s, want %s", c->data, data);
}

/* ---- tests ---- */

static void test_kind_and_stats(void **state)
{
    backend_t *b = *state;
    store_stats_t st;

    assert_string_equal(store_kind_name(b->s), b->kind);
    store_get_stats(b->s, &st);
    assert_true(st.size >= 1);
    assert_int_equal(st.ready, st.size);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.waiting, 0);
}

static void test_ping(void **state)
{
    backend_t *b = *state;
    store_op_t op = {.kind = STORE_OP_PING};
    result_t r;

    run(b, &op, &r);
    expect_status(&r, STORE_OK);
}

static void test_create_and_get(void **state)
{
    backend_t *b = *state;
    static const char name[] = "widget caf\xc3\xa9 \xf0\x9f\x98\x80 \"quoted\"";
    /* Compact JSON as item_validate produces it: key order and number
     * spelling are the client's and must come back byte for byte. */
    static const char data[] = "{\"b\":1,\"a\":[1.50,\"x\\n\\\"y\\\"\",null],\"\xc3\xa9\":{}}";
    result_t r, g;
    int64_t before = time_now_ms();
    int64_t id = create(b, name, data, &r);
    int64_t after = time_now_ms();

    expect_item(&r.items[0], name, data);
    assert_int_equal(r.items[0].version, 1);
    assert_true(r.items[0].created_ms == r.items[0].updated_ms);
    assert_true(r.items[0].created_ms >= before - 1000 && r.items[0].created_ms <= after + 1000);

    get(b, id, &g);
    expect_status(&g, STORE_OK);
    assert_int_equal(g.n, 1);
    assert_true(g.items[0].id == id);
    expect_item(&g.items[0], name, data);
    assert_int_equal(g.items[0].version, 1);
    assert_true(g.items[0].created_ms == r.items[0].created_ms);
    assert_true(g.items[0].updated_ms == r.items[0].updated_ms);
    result_free(&r);
    result_free(&g);
}

static void test_ids_increase(void **state)
{
    backend_t *b = *state;
    int64_t a = create_simple(b, "first");
    int64_t c = create_simple(b, "second");

    assert_true(c > a);
}

static void test_get_missing(void **state)
{
    backend_t *b = *state;
    result_t r;

    get(b, INT64_MAX, &r);
    expect_status(&r, STORE_NOT_FOUND);
    assert_int_equal(r.n, 0);
}

static void test_large_data(void **state)
{
    backend_t *b = *state;
    /* {"k":"xxx..."} of exactly ITEM_DATA_MAX_BYTES. */
    char *data = test_malloc(ITEM_DATA_MAX_BYTES + 1);
    result_t r, g;

    memcpy(data, "{\"k\":\"", 6);
    memset(data + 6, 'x', ITEM_DATA_MAX_BYTES - 8);
    memcpy(data + ITEM_DATA_MAX_BYTES - 2, "\"}", 3);
    int64_t id = create(b, "large", data, &r);
    get(b, id, &g);
    expect_status(&g, STORE_OK);
    assert_int_equal(g.items[0].data_len, ITEM_DATA_MAX_BYTES);
    expect_item(&g.items[0], "large", data);
    result_free(&r);
    result_free(&g);
    test_free(data);
}

static void test_list_pagination(void **state)
{
    backend_t *b = *state;
    int64_t ids[7];
    result_t r;
    char name[32];

    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof(name), "page-%d", i);
        ids[i] = create_simple(b, name);
    }
    /* Walk from just before the first, 3 at a time: 3 + 3 + 1, in id
     * order, nothing repeated or skipped. */
    int64_t after = ids[0] - 1;
    int seen = 0, pages = 0;
    for (;;) {
        list(b, after, 3, &r);
        pages++;
        assert_true(r.n <= 3);
        for (size_t i = 0; i < r.n; i++) {
            assert_true(seen < 7);
            if (r.items[i].id != ids[seen])
                fail_msg("page %d item %zu: id %lld, want %lld", pages, i, (long long)r.items[i].id,
                         (long long)ids[seen]);
            snprintf(name, sizeof(name), "page-%d", seen);
            expect_item(&r.items[i], name, "{}");
            assert_int_equal(r.items[i].version, 1);
            seen++;
        }
        bool more = r.has_more;
        if (r.n > 0)
            after = r.items[r.n - 1].id;
        result_free(&r);
        if (!more)
            break;
        assert_true(pages < 10);
    }
    assert_int_equal(seen, 7);
    assert_int_equal(pages, 3);

    /* A limit equal to what is left: no further page. */
    list(b, ids[0] - 1, 7, &r);
    assert_int_equal(r.n, 7);
    assert_false(r.has_more);
    result_free(&r);
    list(b, ids[0] - 1, 6, &r);
    assert_int_equal(r.n, 6);
    assert_true(r.has_more);
    result_free(&r);
    /* After the last item: empty, no more. */
    list(b, ids[6], 100, &r);
    assert_int_equal(r.n, 0);
    assert_false(r.has_more);
    /* The largest page. */
    list(b, 0, 100, &r);
    assert_true(r.n >= 7 && r.n <= 100);
    for (size_t i = 1; i < r.n; i++)
        assert_true(r.items[i].id > r.items[i - 1].id);
    result_free(&r);
}

static void test_list_skips_deleted(void **state)
{
    backend_t *b = *state;
    int64_t ids[4];
    result_t r;

    for (int i = 0; i < 4; i++)
        ids[i] = create_simple(b, "gap");
    delete_item(b, ids[1], NULL, 0, &r);
    expect_status(&r, STORE_OK);
    /* Keyset pagination from the deleted id still works. */
    list(b, ids[1], 10, &r);
    assert_int_equal(r.n, 2);
    assert_true(r.items[0].id == ids[2]);
    assert_true(r.items[1].id == ids[3]);
    result_free(&r);
    list(b, ids[0] - 1, 2, &r);
    assert_int_equal(r.n, 2);
    assert_true(r.items[0].id == ids[0]);
    assert_true(r.items[1].id == ids[2]);
    assert_true(r.has_more);
    result_free(&r);
}

static void test_replace(void **state)
{
    backend_t *b = *state;
    result_t c, r, g;
    int64_t id = create(b, "before", "{\"v\":1}", &c);

    replace(b, id, "after", "{\"v\":2,\"w\":[]}", NULL, 0, &r);
    expect_status(&r, STORE_OK);
    assert_int_equal(r.n, 1);
    assert_true(r.items[0].id == id);
    expect_item(&r.items[0], "after", "{\"v\":2,\"w\":[]}");
    assert_int_equal(r.items[0].version, 2);
    assert_true(r.items[0].created_ms == c.items[0].created_ms);
    assert_true(r.items[0].updated_ms >= r.items[0].created_ms);

    get(b, id, &g);
    expect_status(&g, STORE_OK);
    expect_item(&g.items[0], "after", "{\"v\":2,\"w\":[]}");
    assert_int_equal(g.items[0].version, 2);
    assert_true(g.items[0].updated_ms == r.items[0].updated_ms);
    result_free(&c);
    result_free(&r);
    result_free(&g);
}

static void test_replace_if_match(void **state)
{
    backend_t *b = *state;
    result_t r, g;
    int64_t id = create_simple(b, "v1");
    static const int64_t v1_or_7[] = {7, 1};
    static const int64_t v1[] = {1};
    static const int64_t many[STORE_MAX_IF_MATCH] = {9, 8, 7, 6, 5, 4, 3, 2};

    replace(b, id, "v2", "{\"n\":2}", v1_or_7, 2, &r);
    expect_status(&r, STORE_OK);
    assert_int_equal(r.items[0].version, 2);
    result_free(&r);

    /* A stale version: refused, nothing changes. */
    replace(b, id, "lost update", "{\"n\":-1}", v1, 1, &r);
    expect_status(&r, STORE_PRECONDITION_FAILED);
    get(b, id, &g);
    expect_item(&g.items[0], "v2", "{\"n\":2}");
    assert_int_equal(g.items[0].version, 2);
    result_free(&g);

    /* Any of up to STORE_MAX_IF_MATCH versions. */
    replace(b, id, "v3", "{\"n\":3}", many, STORE_MAX_IF_MATCH, &r);
    expect_status(&r, STORE_OK);
    assert_int_equal(r.items[0].version, 3);
    result_free(&r);
}

static void test_replace_missing(void **state)
{
    backend_t *b = *state;
    result_t r;
    static const int64_t v1[] = {1};

    replace(b, INT64_MAX, "x", "{}", NULL, 0, &r);
    expect_status(&r, STORE_NOT_FOUND);
    /* Existence is checked before the precondition. */
    replace(b, INT64_MAX, "x", "{}", v1, 1, &r);
    expect_status(&r, STORE_NOT_FOUND);
}

static void test_delete(void **state)
{
    backend_t *b = *state;
    result_t r, g;
    int64_t id = create_simple(b, "doomed");
    static const int64_t v2[] = {2};
    static const int64_t v1[] = {1};

    delete_item(b, id, v2, 1, &r);
    expect_status(&r, STORE_PRECONDITION_FAILED);
    get(b, id, &g);
    expect_status(&g, STORE_OK);
    result_free(&g);

    delete_item(b, id, v1, 1, &r);
    expect_status(&r, STORE_OK);
    get(b, id, &g);
    expect_status(&g, STORE_NOT_FOUND);
    delete_item(b, id, NULL, 0, &r);
    expect_status(&r, STORE_NOT_FOUND);
    delete_item(b, id, v1, 1, &r);
    expect_status(&r, STORE_NOT_FOUND);
    replace(b, id, "zombie", "{}", NULL, 0, &r);
    expect_status(&r, STORE_NOT_FOUND);

    /* Unconditional. */
    int64_t other = create_simple(b, "doomed too");
    delete_item(b, other, NULL, 0, &r);
    expect_status(&r, STORE_OK);
}

static void test_idempotent_create(void **state)
{
    backend_t *b = *state;
    result_t first, again, other, g;
    char other_scope[80];

    create_idem(b, b->scope, "key-1", "hash-1", "idem", &first);
    expect_status(&first, STORE_OK);
    int64_t id = first.items[0].id;
    assert_true(id > 0);
    assert_int_equal(first.items[0].version, 1);

    /* The same request again: the original item, nothing created. */
    create_idem(b, b->scope, "key-1", "hash-1", "idem", &again);
    expect_status(&again, STORE_REPLAYED);
    assert_int_equal(again.n, 1);
    assert_true(again.items[0].id == id);
    assert_int_equal(again.items[0].version, 1);
    assert_true(again.items[0].created_ms == first.items[0].created_ms);
    result_free(&again);

    /* The key with another body. */
    create_idem(b, b->scope, "key-1", "hash-2", "idem changed", &again);
    expect_status(&again, STORE_IDEMPOTENCY_MISMATCH);
    result_free(&again);

    /* Keys are scoped per API key: another scope creates its own item. */
    snprintf(other_scope, sizeof(other_scope), "%s-other", b->scope);
    create_idem(b, other_scope, "key-1", "hash-1", "idem", &other);
    expect_status(&other, STORE_OK);
    assert_true(other.items[0].id != id);

    /* Exactly two items came out of the four requests. */
    list(b, id - 1, 100, &g);
    int mine = 0;
    for (size_t i = 0; i < g.n; i++) {
        if (g.items[i].name_len == 4 && memcmp(g.items[i].name, "idem", 4) == 0)
            mine++;
    }
    assert_int_equal(mine, 2);
    result_free(&g);

    /* A replay after the item changed still names it. */
    replace(b, id, "idem", "{\"changed\":1}", NULL, 0, &again);
    expect_status(&again, STORE_OK);
    result_free(&again);
    create_idem(b, b->scope, "key-1", "hash-1", "idem", &again);
    expect_status(&again, STORE_REPLAYED);
    assert_true(again.items[0].id == id);
    result_free(&again);
    result_free(&first);
    result_free(&other);
}

static void test_idempotency_keys_independent(void **state)
{
    backend_t *b = *state;
    result_t a, c;

    create_idem(b, b->scope, "key-A", "hash-x", "ka", &a);
    expect_status(&a, STORE_OK);
    create_idem(b, b->scope, "key-B", "hash-x", "kb", &c);
    expect_status(&c, STORE_OK);
    assert_true(a.items[0].id != c.items[0].id);
    result_free(&a);
    result_free(&c);
}

static void test_purge_keeps_recent_keys(void **state)
{
    backend_t *b = *state;
    store_op_t op = {.kind = STORE_OP_PURGE_IDEMPOTENCY};
    result_t r, again;

    create_idem(b, b->scope, "key-purge", "hash-p", "purge", &r);
    expect_status(&r, STORE_OK);
    run(b, &op, &again);
    expect_status(&again, STORE_OK);
    /* Keys younger than STORE_IDEMPOTENCY_TTL_HOURS survive. */
    create_idem(b, b->scope, "key-purge", "hash-p", "purge", &again);
    expect_status(&again, STORE_REPLAYED);
    assert_true(again.items[0].id == r.items[0].id);
    result_free(&again);
    result_free(&r);
}

/* A callback that submits the next operation, as PATCH does (GET, then
 * REPLACE with If-Match on the version it read). */
typedef struct {
    backend_t *b;
    store_op_t get, put;
    result_t got, put_res;
    char name[64];
} chain_t;

static void chain_put_done(store_op_t *op, const store_result_t *res)
{
    record(op->arg, res);
}

static void chain_get_done(store_op_t *op, const store_result_t *res)
{
    chain_t *c = op->arg;

    record(&c->got, res);
    if (res->status != STORE_OK)
        return;
    /* The result is valid only until we submit again: copy first. */
    snprintf(c->name, sizeof(c->name), "%.*s (patched)", (int)res->items[0].name_len,
             res->items[0].name);
    c->put = (store_op_t){.kind = STORE_OP_REPLACE, .id = res->items[0].id};
    c->put.name = c->name;
    c->put.name_len = strlen(c->name);
    c->put.data = "{\"patched\":true}";
    c->put.data_len = strlen(c->put.data);
    c->put.n_if_match = 1;
    c->put.if_match[0] = res->items[0].version;
    c->put.done = chain_put_done;
    c->put.arg = &c->put_res;
    store_submit(c->b->w, &c->put);
}

static void test_callback_may_submit(void **state)
{
    backend_t *b = *state;
    chain_t *c = test_calloc(1, sizeof(*c));
    int64_t id = create_simple(b, "chain");
    result_t g;

    c->b = b;
    c->get = (store_op_t){.kind = STORE_OP_GET, .id = id, .done = chain_get_done, .arg = c};
    store_submit(b->w, &c->get);
    wait_for(b, &c->put_res.calls);
    assert_int_equal(c->got.calls, 1);
    expect_status(&c->got, STORE_OK);
    assert_int_equal(c->put_res.calls, 1);
    expect_status(&c->put_res, STORE_OK);
    expect_item(&c->put_res.items[0], "chain (patched)", "{\"patched\":true}");
    assert_int_equal(c->put_res.items[0].version, 2);

    get(b, id, &g);
    expect_item(&g.items[0], "chain (patched)", "{\"patched\":true}");
    assert_int_equal(g.items[0].version, 2);
    result_free(&g);
    result_free(&c->got);
    result_free(&c->put_res);
    test_free(c);
}

static void test_many_in_flight(void **state)
{
    backend_t *b = *state;
    enum { N = 40 };
    store_op_t *ops = test_calloc(N, sizeof(*ops));
    result_t *res = test_calloc(N, sizeof(*res));
    char(*names)[24] = test_calloc(N, sizeof(*names));

    /* Submitted together (pipelined on PostgreSQL), answered each once,
     * every create distinct. */
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "burst-%d", i);
        ops[i] = (store_op_t){.kind = STORE_OP_CREATE, .done = on_done, .arg = &res[i]};
        ops[i].name = names[i];
        ops[i].name_len = strlen(names[i]);
        ops[i].data = "{}";
        ops[i].data_len = 2;
        store_submit(b->w, &ops[i]);
    }
    for (int i = 0; i < N; i++)
        wait_for(b, &res[i].calls);
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].calls, 1);
        expect_status(&res[i], STORE_OK);
        expect_item(&res[i].items[0], names[i], "{}");
        for (int k = 0; k < i; k++)
            assert_true(res[i].items[0].id != res[k].items[0].id);
    }
    /* And reads mixed with writes. */
    for (int i = 0; i < N; i++) {
        int64_t id = res[i].items[0].id;
        result_free(&res[i]);
        memset(&res[i], 0, sizeof(res[i]));
        ops[i] = (store_op_t){.kind = i % 2 ? STORE_OP_GET : STORE_OP_REPLACE,
                              .id = id,
                              .done = on_done,
                              .arg = &res[i]};
        ops[i].name = names[i];
        ops[i].name_len = strlen(names[i]);
        ops[i].data = "{\"r\":1}";
        ops[i].data_len = 7;
        store_submit(b->w, &ops[i]);
    }
    for (int i = 0; i < N; i++)
        wait_for(b, &res[i].calls);
    for (int i = 0; i < N; i++) {
        expect_status(&res[i], STORE_OK);
        assert_int_equal(res[i].items[0].version, i % 2 ? 1 : 2);
        result_free(&res[i]);
    }
    test_free(names);
    test_free(res);
    test_free(ops);
}

/* ---- start-up errors (no server needed: nothing listens on port 1) ---- */

/* The message store_open gives when it cannot connect ends up in the log:
 * it must not show the password, however the URL spelled it. */
static void expect_open_error_hides(const char *url, const char *secret)
{
    config_t cfg;
    store_t *s = NULL;
    err_t err;

    memset(&cfg, 0, sizeof(cfg));
    memset(&err, 0, sizeof(err));
    if (config_parse_database_url(&cfg, url, &err) != IA_OK) {
        assert_no_substring(err.msg, secret); /* refused up front: fine */
        return;
    }
    cfg.worker_threads = 1;
    cfg.db_pool_size = 1;
    cfg.db_startup_timeout_s = 0;
    cfg.db_connect_timeout_s = 2;
    cfg.db_statement_timeout_ms = 1000;
    cfg.db_pool_timeout_ms = 1000;
    int rc = store_open(&s, &cfg, &err);
    config_free(&cfg);
    if (rc == IA_OK) {
        store_close(s);
        fail_msg("store_open succeeded on %s", url);
    }
    if (strstr(err.msg, secret) != NULL)
        fail_msg("store_open error for %s shows \"%s\": %s", url, secret, err.msg);
}

static void test_open_error_hides_password(void **state)
{
    (void)state;
    expect_open_error_hides("postgres://app:s3cr3t@127.0.0.1:1/items?sslmode=disable", "s3cr3t");
    expect_open_error_hides("postgres://127.0.0.1:1/items?password=s3cr3t&sslmode=disable",
                            "s3cr3t");
}

static void test_open_error_hides_unescaped_password(void **state)
{
    (void)state;
    /* libpq reads "hunter" as the port ("invalid integer value") and
     * "secret@127.0.0.1" as the host ("could not translate host name"). */
    expect_open_error_hides("postgres://app:hunter/2@127.0.0.1:1/items", "hunter");
    expect_open_error_hides("postgres://app:top@secret@127.0.0.1:1/items", "secret");
}

/* ---- fixtures ---- */

static void unique_scope(backend_t *b)
{
    snprintf(b->scope, sizeof(b->scope), "unit-%s-%ld-%lld", b->kind, (long)getpid(),
             (long long)time_now_ms());
}

static int sqlite_setup(void **state)
{
    backend_t *b = calloc(1, sizeof(*b));
    char url[128];
    err_t err;

    if (b == NULL)
        return -1;
    b->kind = "sqlite";
    snprintf(b->dir, sizeof(b->dir), "/tmp/items-unit-store.XXXXXX");
    if (mkdtemp(b->dir) == NULL)
        return -1;
    /* A parent directory that does not exist yet: the store creates it. */
    snprintf(url, sizeof(url), "sqlite:%s/var/items.db", b->dir);
    if (config_parse_database_url(&b->cfg, url, &err) != IA_OK ||
        store_open(&b->s, &b->cfg, &err) != IA_OK) {
        fprintf(stderr, "sqlite store: %s\n", err.msg);
        return -1;
    }
    b->w = store_worker_new(b->s, NULL, 0);
    store_start(b->s);
    unique_scope(b);
    *state = b;
    return 0;
}

static int sqlite_teardown(void **state)
{
    backend_t *b = *state;
    char cmd[128];

    store_stop(b->s);
    store_worker_free(b->w);
    store_close(b->s);
    config_free(&b->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
    int rc = system(cmd);
    free(b);
    return rc == 0 ? 0 : -1;
}

static int pg_setup(void **state)
{
    backend_t *b = calloc(1, sizeof(*b));
    const char *url = getenv("ITEMS_TEST_PG_URL");
    err_t err;

    if (b == NULL || url == NULL)
        return -1;
    b->kind = "postgres";
    if (config_parse_database_url(&b->cfg, url, &err) != IA_OK) {
        fprintf(stderr, "ITEMS_TEST_PG_URL: %s\n", err.msg);
        return -1;
    }
    b->cfg.worker_threads = 1;
    b->cfg.db_pool_size = 2;
    b->cfg.db_startup_timeout_s = 10;
    b->cfg.db_pool_timeout_ms = 2000;
    b->cfg.db_statement_timeout_ms = 5000;
    b->cfg.db_connect_timeout_s = 3;
    if (store_open(&b->s, &b->cfg, &err) != IA_OK) {
        fprintf(stderr, "postgres store: %s\n", err.msg);
        return -1;
    }
    b->loop = loop_new();
    b->w = store_worker_new(b->s, b->loop, 0);
    store_start(b->s);
    /* Wait for the connector to hand over the whole pool. */
    int64_t deadline = time_mono_ms() + 15000;
    for (;;) {
        store_stats_t st;
        store_get_stats(b->s, &st);
        if (st.ready == st.size)
            break;
        if (time_mono_ms() > deadline) {
            fprintf(stderr, "postgres store: %lld of %lld connections ready after 15 s\n",
                    (long long)st.ready, (long long)st.size);
            return -1;
        }
        loop_poll(b->loop, 50);
        store_worker_tick(b->w, time_mono_ms());
    }
    unique_scope(b);
    *state = b;
    return 0;
}

static int pg_teardown(void **state)
{
    backend_t *b = *state;

    store_stop(b->s);
    store_worker_free(b->w);
    store_close(b->s);
    loop_free(b->loop);
    config_free(&b->cfg);
    free(b);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_and_stats),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_create_and_get),
        cmocka_unit_test(test_ids_increase),
        cmocka_unit_test(test_get_missing),
        cmocka_unit_test(test_large_data),
        cmocka_unit_test(test_list_pagination),
        cmocka_unit_test(test_list_skips_deleted),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_replace_if_match),
        cmocka_unit_test(test_replace_missing),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_idempotent_create),
        cmocka_unit_test(test_idempotency_keys_independent),
        cmocka_unit_test(test_purge_keeps_recent_keys),
        cmocka_unit_test(test_callback_may_submit),
        cmocka_unit_test(test_many_in_flight),
    };
    const struct CMUnitTest open_tests[] = {
        cmocka_unit_test(test_open_error_hides_password),
        cmocka_unit_test(test_open_error_hides_unescaped_password),
    };
    /* Quiet: migrations and expected connection failures log at info/warn. */
    log_min_level = LOG_ERROR;
    int failed = cmocka_run_group_tests_name("store_open", open_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("store_sqlite", tests, sqlite_setup, sqlite_teardown);

    if (getenv("ITEMS_TEST_PG_URL") == NULL || *getenv("ITEMS_TEST_PG_URL") == '\0') {
        printf("skipping PostgreSQL storage tests: ITEMS_TEST_PG_URL not set\n");
        return failed;
    }
    return failed + cmocka_run_group_tests_name("store_postgres", tests, pg_setup, pg_teardown);
}
