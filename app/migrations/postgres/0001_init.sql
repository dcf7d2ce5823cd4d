-- Items and idempotency keys (PostgreSQL dialect; same shape as sqlite/0001_init.sql).
--
-- data is `json`, not `jsonb`: json keeps the client's key order and number
-- spelling byte for byte, so both back ends return exactly what was stored.
-- Times are timestamptz(3): millisecond precision, as the API reports them.
CREATE TABLE items (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text           NOT NULL,
    data       json           NOT NULL,
    version    bigint         NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at timestamptz(3) NOT NULL DEFAULT now(),
    updated_at timestamptz(3) NOT NULL DEFAULT now()
);

CREATE TABLE idempotency_keys (
    scope        text           NOT NULL, -- derived from the API key (never the key itself)
    key          text           NOT NULL,
    request_hash text           NOT NULL,
    item_id      bigint         NOT NULL,
    created_at   timestamptz(3) NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE FUNCTION items_epoch_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN round(date_part('epoch', t) * 1000)::bigint;

-- Create with an Idempotency-Key in one round trip and one transaction.
-- status: 0 created, 3 replayed (same body), 4 key reused with another body.
-- A concurrent request with the same key waits on the primary key until the
-- first commits, then sees its row: exactly one item is created.
CREATE FUNCTION items_create_idempotent(p_scope text, p_key text, p_hash text,
                                        p_name text, p_data json)
RETURNS TABLE (status int, id bigint, name text, data json, version bigint,
               created_ms bigint, updated_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_hash text;
    v_created timestamptz;
BEGIN
    v_id := nextval(pg_get_serial_sequence('items', 'id'));
    INSERT INTO idempotency_keys (scope, key, request_hash, item_id)
    VALUES (p_scope, p_key, p_hash, v_id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT k.request_hash, k.item_id, k.created_at INTO v_hash, v_id, v_created
          FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key;
        IF v_hash <> p_hash THEN
            RETURN QUERY SELECT 4, v_id, NULL::text, NULL::json, 1::bigint,
                                items_epoch_ms(v_created), items_epoch_ms(v_created);
        ELSE
            RETURN QUERY SELECT 3, v_id, NULL::text, NULL::json, 1::bigint,
                                items_epoch_ms(v_created), items_epoch_ms(v_created);
        END IF;
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO items AS i (id, name, data) OVERRIDING SYSTEM VALUE
    VALUES (v_id, p_name, p_data)
    RETURNING 0, i.id, i.name, i.data, i.version,
              items_epoch_ms(i.created_at), items_epoch_ms(i.updated_at);
END;
$$;

-- Replace name and data if the version matches one of p_if (NULL: any).
-- status: 0 updated, 1 not found, 2 precondition failed.
CREATE FUNCTION items_replace(p_id bigint, p_name text, p_data json, p_if bigint[])
RETURNS TABLE (status int, id bigint, name text, data json, version bigint,
               created_ms bigint, updated_ms bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    UPDATE items AS i
       SET name = p_name, data = p_data, version = i.version + 1,
           updated_at = greatest(now(), i.created_at)
     WHERE i.id = p_id AND (p_if IS NULL OR i.version = ANY (p_if))
    RETURNING 0, i.id, i.name, i.data, i.version,
              items_epoch_ms(i.created_at), items_epoch_ms(i.updated_at);
    IF FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT CASE WHEN EXISTS (SELECT 1 FROM items x WHERE x.id = p_id)
                             THEN 2 ELSE 1 END,
                        NULL::bigint, NULL::text, NULL::json, NULL::bigint,
                        NULL::bigint, NULL::bigint;
END;
$$;

-- status: 0 deleted, 1 not found, 2 precondition failed.
CREATE FUNCTION items_delete(p_id bigint, p_if bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM items i WHERE i.id = p_id AND (p_if IS NULL OR i.version = ANY (p_if));
    IF FOUND THEN
        RETURN 0;
    END IF;
    RETURN CASE WHEN EXISTS (SELECT 1 FROM items x WHERE x.id = p_id) THEN 2 ELSE 1 END;
END;
$$;
