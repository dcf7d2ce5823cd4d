'use strict';
// The stack items-api replaces, for `make bench-compare` only: Express +
// node-postgres, one process per worker thread of the service (node:cluster),
// the same SELECT as prepared statement, the same JSON shape, no access log.
//   PORT, DATABASE_URL, API_KEYS, WORKERS (default 1), PG_POOL_MAX (default 10)
const cluster = require('node:cluster');

const workers = Number(process.env.WORKERS || 1);

function serve() {
  const express = require('express');
  const { Pool } = require('pg');

  const pool = new Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.PG_POOL_MAX || 10),
  });
  const keys = new Set((process.env.API_KEYS || '').split(','));
  const GET_SQL =
    'SELECT id, name, data, version, items_epoch_ms(created_at) AS created_ms, ' +
    'items_epoch_ms(updated_at) AS updated_ms FROM items WHERE id = $1::bigint';

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(express.json({ limit: '1mb' }));

  app.get('/healthz', (req, res) => res.json({ status: 'ok' }));

  function auth(req, res, next) {
    const h = req.get('authorization') || '';
    if (!h.startsWith('Bearer ') || !keys.has(h.slice(7))) {
      res.status(401).type('application/problem+json').json({ title: 'Unauthorized', status: 401 });
      return;
    }
    next();
  }

  app.get('/v1/items/:id', auth, async (req, res, next) => {
    try {
      if (!/^[1-9][0-9]{0,17}$/.test(req.params.id)) {
        res.status(404).type('application/problem+json').json({ title: 'Not Found', status: 404 });
        return;
      }
      const r = await pool.query({ name: 'get', text: GET_SQL, values: [req.params.id] });
      if (r.rows.length === 0) {
        res.status(404).type('application/problem+json').json({ title: 'Not Found', status: 404 });
        return;
      }
      const row = r.rows[0];
      res.set('ETag', `"${row.version}"`).json({
        id: Number(row.id),
        name: row.name,
        data: row.data,
        version: Number(row.version),
        created_at: new Date(Number(row.created_ms)).toISOString(),
        updated_at: new Date(Number(row.updated_ms)).toISOString(),
      });
    } catch (e) {
      next(e);
    }
  });

  app.listen(Number(process.env.PORT || 8080), '127.0.0.1');
}

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    process.exit(0);
  });
} else {
  serve();
}
