#include "item.h"

#include "common.h"
#include "timeutil.h"

#include <openssl/sha.h>
#include <string.h>

static void add_error(item_errors_t *errs, const char *field, size_t field_len, const char *msg)
{
    if (errs->n < ITEM_MAX_FIELD_ERRORS)
        errs->errors[errs->n++] = (item_field_error_t){field, field_len, msg};
}

/* Cc: C0 controls, DEL and C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F). */
static bool has_control_chars(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7F)
            return true;
        if (p[i] == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            return true;
    }
    return false;
}

static void check_name(const json_value_t *v, item_input_t *in, item_errors_t *errs)
{
    if (v == NULL) {
        add_error(errs, "name", 4, "is required");
        return;
    }
    if (v->type != JSON_STRING) {
        add_error(errs, "name", 4, "must be a string");
        return;
    }
    size_t chars = json_utf8_count(v->u.str.ptr, v->u.str.len);
    if (chars < 1 || chars > ITEM_NAME_MAX_CHARS) {
        add_error(errs, "name", 4, "must be 1 to 200 characters long");
        return;
    }
    if (has_control_chars(v->u.str.ptr, v->u.str.len)) {
        add_error(errs, "name", 4, "must not contain control characters");
        return;
    }
    in->name = v->u.str.ptr;
    in->name_len = v->u.str.len;
}

static void check_data(arena_t *a, const json_value_t *v, item_input_t *in, item_errors_t *errs)
{
    buf_t b = {0};

    if (v == NULL) {
        in->data = "{}";
        in->data_len = 2;
        in->data_value = NULL;
        return;
    }
    if (v->type != JSON_OBJECT) {
        add_error(errs, "data", 4, "must be a JSON object");
        return;
    }
    if (v->has_nul) {
        add_error(errs, "data", 4, "must not contain the character U+0000");
        return;
    }
    json_write(&b, v);
    if (b.len > ITEM_DATA_MAX_BYTES) {
        add_error(errs, "data", 4, "must serialize to at most 65536 bytes");
    } else {
        in->data = arena_memdup(a, b.data, b.len);
        in->data_len = b.len;
        in->data_value = v;
    }
    buf_release(&b);
}

int item_validate(arena_t *a, const json_value_t *body, item_input_t *in, item_errors_t *errs)
{
    const json_value_t *name = NULL, *data = NULL;

    memset(in, 0, sizeof(*in));
    errs->n = 0;
    if (body->type != JSON_OBJECT) {
        add_error(errs, "", 0, "the body must be a JSON object");
        return IA_ERR;
    }
    for (size_t i = 0; i < body->u.obj.n; i++) {
        const json_member_t *m = &body->u.obj.members[i];
        if (m->key_len == 4 && memcmp(m->key, "name", 4) == 0)
            name = m->value;
        else if (m->key_len == 4 && memcmp(m->key, "data", 4) == 0)
            data = m->value;
        else
            add_error(errs, m->key, m->key_len, "is not a known field");
    }
    check_name(name, in, errs);
    check_data(a, data, in, errs);
    return errs->n == 0 ? IA_OK : IA_ERR;
}

void item_request_hash(const item_input_t *in, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    buf_t b = {0};

    buf_put_json_str(&b, in->name, in->name_len);
    buf_putc(&b, ':');
    if (in->data_value != NULL)
        json_write_canonical(&b, in->data_value);
    else
        buf_append(&b, "{}", 2);
    SHA256((const unsigned char *)b.data, b.len, md);
    buf_release(&b);
    for (size_t i = 0; i < sizeof(md); i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

void item_write_json(buf_t *out, const item_t *it)
{
    char ts[TIME_RFC3339_LEN + 1];

    buf_reserve(out, it->name_len + it->data_len + 128);
    buf_append(out, "{\"id\":", 6);
    buf_put_i64(out, it->id);
    buf_append(out, ",\"name\":", 8);
    buf_put_json_str(out, it->name, it->name_len);
    buf_append(out, ",\"data\":", 8);
    buf_append(out, it->data, it->data_len);
    buf_append(out, ",\"version\":", 11);
    buf_put_i64(out, it->version);
    buf_append(out, ",\"created_at\":\"", 15);
    time_format_rfc3339(it->created_ms, ts);
    buf_append(out, ts, TIME_RFC3339_LEN);
    buf_append(out, "\",\"updated_at\":\"", 16);
    time_format_rfc3339(it->updated_ms, ts);
    buf_append(out, ts, TIME_RFC3339_LEN);
    buf_append(out, "\"}", 2);
}

int item_parse_id(const char *s, size_t n, int64_t *id)
{
    int64_t v = 0;

    if (n == 0 || n > 19 || (s[0] == '0'))
        return IA_ERR;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return IA_ERR;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return IA_ERR;
        v = v * 10 + d;
    }
    *id = v;
    return IA_OK;
}
