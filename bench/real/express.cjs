// The Express workload of `npm run bench:real`: a router, JSON body parsing and
// five middleware. As a module it exports the app (for `tsgi fastcgi|uwsgi`);
// `node bench/real/express.cjs SOCKET` serves it on node:http.
'use strict';
const express = require('express');

const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => { req.started = process.hrtime.bigint(); next(); }); // 1 timing
app.use((req, res, next) => { res.setHeader('X-Request-Id', String(Math.random()).slice(2, 10)); next(); }); // 2 request id
app.use((req, res, next) => { res.setHeader('Cache-Control', 'no-store'); next(); }); // 3 headers
app.use((req, res, next) => { if (req.headers['x-deny']) { res.status(403).end(); return; } next(); }); // 4 auth stand-in
app.use(express.json({ limit: '64kb' })); // 5 body parsing

const api = express.Router();
api.get('/items/:id', (req, res) => { res.json({ id: Number(req.params.id), name: `item ${req.params.id}` }); });
api.post('/items', (req, res) => { res.status(201).json({ created: true, name: req.body?.name ?? null, fields: Object.keys(req.body ?? {}).length }); });
app.use('/api', api);
app.get('/hello', (req, res) => { res.type('text/plain; charset=utf-8').send('Hello, world!\n'); });
module.exports = app;

if (require.main === module) {
  const fs = require('node:fs');
  const socket = process.argv[2];
  try { fs.unlinkSync(socket); } catch {}
  require('node:http').createServer({ keepAliveTimeout: 300_000 }, app).listen(socket, () => fs.chmodSync(socket, 0o666));
  process.on('SIGTERM', () => process.exit(0));
}
