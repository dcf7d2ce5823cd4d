/*
 * The item resource: the rules a body must follow (shared by POST, PUT and
 * the result of a PATCH) and the JSON representation.
 */
#ifndef IA_ITEM_H
#define IA_ITEM_H

#include "buf.h"
#include "json.h"

#include <stdint.h>

#define ITEM_NAME_MAX_CHARS   200
#define ITEM_DATA_MAX_BYTES   65536
#define ITEM_MAX_FIELD_ERRORS 8

typedef struct {
    const char *field; /* JSON pointer-ish name: "name", "data", or the unknown key */
    size_t field_len;
    const char *message;
} item_field_error_t;

typedef struct {
    item_field_error_t errors[ITEM_MAX_FIELD_ERRORS];
    size_t n;
} item_errors_t;

/* A validated body, ready to store. Memory lives in the arena. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *data; /* compact JSON text of the data object */
    size_t data_len;
    const json_value_t *data_value;
} item_input_t;

/* Checks body against the item rules. IA_OK fills in; IA_ERR fills errs
 * (the caller answers 422 listing them). */
int item_validate(arena_t *a, const json_value_t *body, item_input_t *in, item_errors_t *errs);

/* SHA-256 (hex, 64 chars + NUL) of the canonical form of a validated body:
 * equal for JSON-equivalent requests. */
void item_request_hash(const item_input_t *in, char out[65]);

/* A stored item, as the store hands it over (memory owned by the store,
 * valid during the callback only). */
typedef struct {
    int64_t id;
    const char *name;
    size_t name_len;
    const char *data;
    size_t data_len;
    int64_t version;
    int64_t created_ms;
    int64_t updated_ms;
} item_t;

void item_write_json(buf_t *out, const item_t *it);

/* Parses "123" (no sign, no leading zeros beyond "0") into 1..INT64_MAX. */
int item_parse_id(const char *s, size_t n, int64_t *id);

#endif
