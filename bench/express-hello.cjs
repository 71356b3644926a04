// The Express hello app of bench:bridges. As a module it exports the app (for
// `tsgi fastcgi` / `tsgi cgi`); run as `node bench/express-hello.cjs SOCKET` it
// serves the same app on plain node:http (nginx proxy_pass in front).
'use strict';
const express = require('express');

const app = express();
app.get('/', (req, res) => { res.send('Hello, world!\n'); });
module.exports = app;

if (require.main === module) {
  const fs = require('node:fs');
  const socket = process.argv[2];
  try { fs.unlinkSync(socket); } catch {}
  require('node:http').createServer({ keepAliveTimeout: 300_000 }, app).listen(socket, () => fs.chmodSync(socket, 0o666));
  process.on('SIGTERM', () => process.exit(0));
}
