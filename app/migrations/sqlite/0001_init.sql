-- Items and idempotency keys (SQLite dialect; same shape as postgres/0001_init.sql).
-- Times are milliseconds since the Unix epoch, set by the service.
CREATE TABLE items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: ids are never reused
    name       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL, -- derived from the API key (never the key itself)
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    item_id      INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_ms);
