-- The service's exact one-row write (app/src/store_pg_connect.c, statement
-- "insert"): one INSERT and its COMMIT per transaction, the denominator of
-- POST /v1/items in make bench and make capacity.
\set n random(1, 1000000000)
INSERT INTO items (name, data) VALUES ('pgbench-' || :n::text, '{"n":1,"tag":"bench","tags":["a","b"]}'::json) RETURNING 0, id, NULL, NULL, version, items_epoch_ms(created_at), items_epoch_ms(updated_at);
