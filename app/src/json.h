/*
 * Strict JSON (RFC 8259) for request bodies: parses into a tree allocated in
 * an arena and serializes back compactly.
 *
 * Refused as malformed (the caller answers 400): invalid UTF-8, unescaped
 * control characters, lone surrogate escapes, numbers that overflow a double,
 * nesting deeper than JSON_MAX_DEPTH, duplicate keys in an object, trailing
 * garbage. Accepted but flagged: strings containing U+0000 (valid JSON that
 * PostgreSQL cannot store; the item rules refuse it with 422).
 */
#ifndef IA_JSON_H
#define IA_JSON_H

#include "arena.h"
#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 64

typedef enum {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type_t;

typedef struct json_value json_value_t;

typedef struct {
    const char *key; /* decoded UTF-8, not NUL-terminated */
    size_t key_len;
    json_value_t *value;
} json_member_t;

struct json_value {
    json_type_t type;
    bool has_nul; /* this string, key, or anything inside contains U+0000 */
    union {
        struct {
            const char *ptr; /* decoded UTF-8 */
            size_t len;
        } str;
        struct {
            const char *lexeme; /* as written: the serializer keeps it */
            size_t len;
        } num;
        struct {
            json_value_t **items;
            size_t n;
        } arr;
        struct {
            json_member_t *members; /* in document order */
            size_t n;
        } obj;
    } u;
};

typedef struct {
    size_t offset; /* byte offset of the error in the input */
    char msg[96];
} json_error_t;

/* Parses text[0..len). The input need not be NUL-terminated. Strings without
 * escapes point into text, so text must outlive the tree. Returns NULL and
 * fills err on malformed input. */
json_value_t *json_parse(arena_t *a, const char *text, size_t len, json_error_t *err);

/* Compact serialization: no insignificant whitespace, non-ASCII as raw UTF-8,
 * members in document order, numbers as written. */
void json_write(buf_t *out, const json_value_t *v);
/* Like json_write but object members sorted by key bytes: two documents are
 * JSON-equivalent iff their canonical forms are equal. */
void json_write_canonical(buf_t *out, const json_value_t *v);

/* Looks up a member by key; NULL if absent. */
json_value_t *json_object_get(const json_value_t *obj, const char *key);

/* Constructors for tree surgery (merge patch). */
json_value_t *json_new(arena_t *a, json_type_t type);

/* Number of Unicode code points in valid UTF-8. */
size_t json_utf8_count(const char *s, size_t len);

#endif
