// The physical-limit row for FastCGI: the smallest responder that answers
// nginx's fastcgi_pass correctly (keep-alive connections, one request at a
// time per connection), with no engine and no environ. It reads record
// headers, skips PARAMS, and on the empty STDIN record that ends a request
// writes one fixed buffer: STDOUT with the response, the empty STDOUT that
// ends it, and END_REQUEST. `node bench/minimal-fastcgi.cjs SOCKET`
'use strict';
const fs = require('node:fs');
const net = require('node:net');

const BEGIN_REQUEST = 1, STDIN = 5, STDOUT = 6, END_REQUEST = 3, KEEP_CONN = 1;
const record = (type, content) => {
  const head = Buffer.from([1, type, 0, 0, content.length >> 8, content.length & 0xff, 0, 0]);
  return Buffer.concat([head, content]);
};
const template = Buffer.concat([
  record(STDOUT, Buffer.from('Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nHello, world!\n')),
  record(STDOUT, Buffer.alloc(0)),
  record(END_REQUEST, Buffer.alloc(8)),
]);
// Offsets of the three request-id fields to patch per request.
const idAt = [2, template.length - 16 - 8 + 2, template.length - 16 + 2];

/** The fixed reply for the request whose id is bytes `at + 2`, `at + 3` of `buf`. */
function fixedReply(buf, at) {
  const out = Buffer.from(template);
  for (const i of idAt) { out[i] = buf[at + 2]; out[i + 1] = buf[at + 3]; }
  return out;
}

/** Serves one connection: the fixed reply to each request, as soon as its empty STDIN record arrives. */
function serve(socket) {
  let pending = null;
  let keep = false;
  socket.on('data', (chunk) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= 8) {
      const size = 8 + buf.readUInt16BE(at + 4) + buf[at + 6];
      if (buf.length - at < size) break;
      const type = buf[at + 1];
      if (type === BEGIN_REQUEST) keep = (buf[at + 10] & KEEP_CONN) !== 0;
      else if (type === STDIN && buf.readUInt16BE(at + 4) === 0) {
        const out = fixedReply(buf, at);
        if (keep) socket.write(out); else socket.end(out);
      }
      at += size;
    }
    pending = at < buf.length ? buf.subarray(at) : null;
  });
  socket.on('error', () => socket.destroy());
}

module.exports = { serve };

if (require.main === module) {
  const path = process.argv[2];
  try { fs.unlinkSync(path); } catch {}
  net.createServer(serve).listen(path, () => fs.chmodSync(path, 0o666));
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
