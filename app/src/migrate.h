/*
 * Versioned schema migrations, embedded in the binary at build time
 * (tools/embed-migrations.sh) and recorded in schema_migrations. Safe when
 * several instances start at once: PostgreSQL takes an advisory lock,
 * SQLite a write transaction.
 */
#ifndef IA_MIGRATE_H
#define IA_MIGRATE_H

#include <stddef.h>

typedef struct {
    int version;
    const char *name;
    const char *sql;
} migration_t;

extern const migration_t migrations_postgres[];
extern const size_t n_migrations_postgres;
extern const migration_t migrations_sqlite[];
extern const size_t n_migrations_sqlite;

#endif
