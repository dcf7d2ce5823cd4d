-- items_epoch_ms() was declared IMMUTABLE around date_part(text, timestamptz),
-- which is only STABLE: PostgreSQL then refuses to inline it and runs a
-- separate SQL function call per use (twice per row read). STABLE is the
-- truth and lets the planner inline it.
CREATE OR REPLACE FUNCTION items_epoch_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN round(date_part('epoch', t) * 1000)::bigint;
