/*
 * Connecting to PostgreSQL (store_pg_connect.c): connection parameters, the
 * blocking start-up connection and migration, and the connector thread
 * that opens the pool's connections and hands them to their worker.
 */
#ifndef IA_STORE_PG_CONNECT_H
#define IA_STORE_PG_CONNECT_H

#include "store_pg_types.h"

/* Fills s->kw/val/url from cfg; pg_params_free releases them. */
void pg_params_build(pg_store_t *s, const config_t *cfg);
void pg_params_free(pg_store_t *s);
/* Connects, retrying for DB_STARTUP_TIMEOUT_SECONDS; NULL with err set. */
PGconn *pg_connect_startup(pg_store_t *s, const config_t *cfg, err_t *err);
/* Applies the pending migrations under an advisory lock. */
int pg_migrate(PGconn *pg, err_t *err);
/* Queues c for the connector thread, which posts s->handover when done. */
void pg_connect_request(pg_store_t *s, pg_conn_t *c);
/* Whether the session was opened with target_session_attrs read-write or
 * primary (our default; DATABASE_URL may say otherwise). */
bool pg_session_needs_primary(PGconn *pg);
/* The reported parameter that says the server is read-only, or NULL. */
const char *pg_session_read_only(const PGconn *pg);
/* An error whose session must not be reused: the server is read-only
 * (25006), shutting down or not accepting connections (57P01-3), or the
 * connection failed (class 08). */
bool pg_sqlstate_ends_session(const char *state);
/* The connector thread (arg: the pg_store_t). */
void *pg_connector_main(void *arg);

#endif
