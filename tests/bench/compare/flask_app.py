"""The Flask side of `make bench-compare`: GET /healthz, and GET /v1/items/{id}
when a PostgreSQL driver (psycopg 3 or psycopg2) is importable.

Served by Werkzeug's threaded server (the only WSGI server installed here;
gunicorn is not), one process, request logging off. PORT, DATABASE_URL,
API_KEYS from the environment.
"""

import logging
import os
import threading

from flask import Flask, abort, jsonify, request

try:
    import psycopg as pgdriver  # type: ignore
except ImportError:  # pragma: no cover - depends on the machine
    try:
        import psycopg2 as pgdriver  # type: ignore
    except ImportError:
        pgdriver = None

GET_SQL = (
    "SELECT id, name, data, version, items_epoch_ms(created_at), "
    "items_epoch_ms(updated_at) FROM items WHERE id = %s::bigint"
)

app = Flask(__name__)
keys = set(os.environ.get("API_KEYS", "").split(","))
local = threading.local()


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


if pgdriver is not None:
    import datetime

    def conn():
        c = getattr(local, "conn", None)
        if c is None:
            url = os.environ["DATABASE_URL"]
            c = local.conn = pgdriver.connect(url)
            c.autocommit = True
        return c

    def iso(ms):
        t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    @app.get("/v1/items/<int:item_id>")
    def get_item(item_id):
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in keys:
            abort(401)
        with conn().cursor() as cur:
            cur.execute(GET_SQL, (item_id,))
            row = cur.fetchone()
        if row is None:
            abort(404)
        resp = jsonify(
            id=row[0], name=row[1], data=row[2], version=row[3],
            created_at=iso(row[4]), updated_at=iso(row[5]),
        )
        resp.headers["ETag"] = f'"{row[3]}"'
        return resp


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print("flask: item endpoint", "on" if pgdriver else "off (no psycopg)", flush=True)
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
