-- The service's exact one-row read (app/src/store_pg.c, statement "get"),
-- with a uniformly random id in 1..:items (pgbench -D items=10000).
\set id random(1, :items)
SELECT id, name, data, version, items_epoch_ms(created_at), items_epoch_ms(updated_at) FROM items WHERE id = :id::bigint;
