/*
 * API-key authentication. Keys are compared as SHA-256 hashes in constant
 * time against every configured key (so timing reveals neither which key nor
 * how much of it matched); several keys are active at once for rotation.
 */
#ifndef IA_AUTH_H
#define IA_AUTH_H

#include "config.h"
#include "http_parse.h"

#define AUTH_MISSING (-1)
#define AUTH_INVALID (-2)

/* Returns the index of the matching key (>= 0), AUTH_MISSING or AUTH_INVALID.
 * Accepts "Authorization: Bearer <key>" or "X-API-Key: <key>". */
int auth_check(const config_t *cfg, const http_request_t *req);

/* Frees this thread's digest context (call before a thread ends). */
void auth_thread_done(void);

/* A stable, non-secret id for a key (hex): the scope of idempotency keys. */
#define AUTH_KEY_ID_LEN 32
void auth_key_id(const config_t *cfg, int key_index, char out[AUTH_KEY_ID_LEN + 1]);

#endif
