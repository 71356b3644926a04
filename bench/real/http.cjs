// The workloads of bench/real/app.js on plain node:http (nginx proxy_pass in
// front): `node bench/real/http.cjs SOCKET`.
'use strict';
const fs = require('node:fs');

const hello = Buffer.from('Hello, world!\n');
const items = Array.from({ length: 12 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 3.5, tags: ['a', 'b'] }));
const big = Buffer.alloc(64 * 1024 * 1024, 'x');

function handler(req, res) {
  const path = req.url;
  if (path === '/await') {
    setTimeout(() => { res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '3' }); res.end('ok\n'); }, 10);
    return;
  }
  if (path === '/json') {
    const body = Buffer.from(JSON.stringify({ ok: true, items }));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
    res.end(body);
    return;
  }
  if (path.startsWith('/bytes/')) {
    const n = Math.min(Number(path.slice(7)) || 0, big.length);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) });
    // Slices of at most 1 MiB with backpressure, as the tsgi app's body list is sent.
    let i = 0;
    const more = () => {
      while (i < n) {
        const part = big.subarray(i, Math.min(n, i + (1 << 20)));
        i += part.length;
        if (!res.write(part)) { res.once('drain', more); return; }
      }
      res.end();
    };
    more();
    return;
  }
  if (path === '/post') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const out = `${Buffer.concat(chunks).length}\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(out.length) });
      res.end(out);
    });
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '14' });
  res.end(hello);
}

const socket = process.argv[2];
try { fs.unlinkSync(socket); } catch {}
require('node:http').createServer({ keepAliveTimeout: 300_000 }, handler).listen(socket, () => fs.chmodSync(socket, 0o666));
process.on('SIGTERM', () => process.exit(0));
