/*
 * Configuration from the environment (12-factor). Every variable is declared
 * once in the table in config.c with its type, default and accepted range;
 * config_load() validates them all and names the first offender.
 */
#ifndef IA_CONFIG_H
#define IA_CONFIG_H

#include "common.h"
#include "log.h"

#include <stdint.h>

#define CONFIG_KEY_HASH_LEN 32
#define CONFIG_MAX_KEYS     64

typedef enum { DB_KIND_SQLITE, DB_KIND_POSTGRES } db_kind_t;

typedef struct {
    uint8_t hash[CONFIG_KEY_HASH_LEN]; /* SHA-256 of the key; the key itself is not kept */
    char label[9]; /* 8 hex chars derived from the hash: names the key in logs, reveals nothing */
} api_key_hash_t;

typedef struct {
    int64_t port;
    char *bind_address;

    db_kind_t db_kind;
    char *database_url;      /* owned; secret: never log it, use db_redacted */
    char *sqlite_path;       /* owned; for DB_KIND_SQLITE */
    char *db_redacted;       /* owned; safe to log */
    char *database_url_file; /* owned; DATABASE_URL_FILE, re-read on reconnects */

    api_key_hash_t keys[CONFIG_MAX_KEYS];
    size_t n_keys;

    int64_t worker_threads;
    int64_t db_pool_size;
    int64_t db_startup_timeout_s;
    int64_t db_pool_timeout_ms;
    int64_t db_statement_timeout_ms;
    int64_t db_connect_timeout_s;
    int64_t max_body_bytes;
    int64_t max_header_bytes;
    log_level_t log_level;
    int64_t drain_seconds;
    int64_t shutdown_timeout_s;
    int64_t header_timeout_s;
    int64_t body_timeout_s;
    int64_t keepalive_timeout_s;
    int64_t max_connections;
    int64_t rate_limit_rps;
    int64_t rate_limit_burst;
    int64_t emf_interval_s;
    bool sandbox;
    bool access_log;
} config_t;

/* Reads and validates the environment. On error fills err (naming the
 * variable and the accepted values) and returns IA_ERR; cfg is then freed. */
int config_load(config_t *cfg, err_t *err);
void config_free(config_t *cfg);
/* Prints the table of variables for --help. */
void config_print_help(void);
/* Overwrites secret values in the process environment so they do not linger
 * in /proc/self/environ. Call after config_load. */
void config_scrub_environ(void);

/* Reads DATABASE_URL_FILE again. Returns a malloc'd URL (the caller wipes
 * and frees it) or NULL with err filled; the content must still be a
 * supported PostgreSQL URI. */
char *config_reread_database_url(const char *path, err_t *err);

/* Exposed for unit tests. */
int config_parse_api_keys(config_t *cfg, const char *text, char sep, err_t *err);
int config_parse_database_url(config_t *cfg, const char *url, err_t *err);

#endif
