// The physical-limit row for uwsgi: the smallest responder that answers
// nginx's uwsgi_pass correctly, with no engine and no environ. It waits for
// the 4-byte packet header and the vars block it announces (a GET has no
// body), then writes one fixed HTTP response and closes, as uwsgi does.
// `node bench/minimal-uwsgi.cjs SOCKET`
'use strict';
const fs = require('node:fs');
const net = require('node:net');

const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nHello, world!\n');

function serve(socket) {
  let seen = 0;
  let need = Infinity;
  let head = null;
  socket.on('data', (chunk) => {
    if (need === Infinity) {
      head = head ? Buffer.concat([head, chunk]) : chunk;
      if (head.length < 4) return;
      need = 4 + head.readUInt16LE(1);
      chunk = head;
    }
    seen += chunk.length;
    if (seen >= need && need !== -1) { need = -1; socket.end(response); }
  });
  socket.on('error', () => socket.destroy());
}

const path = process.argv[2];
try { fs.unlinkSync(path); } catch {}
net.createServer(serve).listen(path, () => fs.chmodSync(path, 0o666));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
