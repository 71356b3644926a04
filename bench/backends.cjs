// Backends for the web-server benchmarks, each answering the same hello
// response on a unix socket: `node bench/backends.cjs KIND SOCKET` (or on
// 127.0.0.1:PORT when SOCKET is a number).
//   http         plain node:http (nginx proxy_pass in front)
//   node-fastcgi the node-fastcgi package (nginx fastcgi_pass in front)
'use strict';
const fs = require('node:fs');

const [kind, socket] = process.argv.slice(2);
const body = Buffer.from('Hello, world!\n');
const headers = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length) };
const handler = (req, res) => {
  res.writeHead(200, headers);
  res.end(body);
};

let server;
if (kind === 'http') server = require('node:http').createServer({ keepAliveTimeout: 300_000 }, handler);
else if (kind === 'node-fastcgi') server = require('node-fastcgi').createServer(handler);
else throw new Error(`unknown backend ${kind}`);
if (/^\d+$/.test(socket)) {
  server.listen(Number(socket), '127.0.0.1');
} else {
  try { fs.unlinkSync(socket); } catch {}
  // nginx workers run as an unprivileged user: let them connect.
  server.listen(socket, () => { fs.chmodSync(socket, 0o666); process.stderr.write(`${kind} listening on ${socket}\n`); });
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
