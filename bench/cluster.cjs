// The comparison for bench/workers.js: the same hello app the way Node is
// usually run on several cores, node:cluster + node:http, gunicorn-style
// (SCHED_NONE: the workers accept on the shared socket themselves, as
// tsgi's workers do), on a unix socket behind nginx proxy_pass.
// `node bench/cluster.cjs WORKERS SOCKET`
'use strict';
const cluster = require('node:cluster');
const fs = require('node:fs');

const [workers, socket] = [Number(process.argv[2]), process.argv[3]];
cluster.schedulingPolicy = cluster.SCHED_NONE;
if (cluster.isPrimary) {
  try { fs.unlinkSync(socket); } catch {}
  let listening = 0;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === workers) { fs.chmodSync(socket, 0o666); process.stderr.write(`cluster of ${workers} listening on ${socket}\n`); }
  });
  process.on('SIGTERM', () => process.exit(0));
} else {
  const body = Buffer.from('Hello, world!\n');
  const headers = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length) };
  require('node:http').createServer({ keepAliveTimeout: 300_000 }, (req, res) => { res.writeHead(200, headers); res.end(body); }).listen(socket);
}
