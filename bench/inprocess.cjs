// tsgi's own JavaScript per FastCGI request, without the kernel or Node's
// socket code: a FastCGI server is started as usual, and fake sockets are
// handed to its net.Server as connections. Each is fed the same request as
// nginx sends it for wrk's `GET /` (stock fastcgi_params; each connection has
// its own REMOTE_PORT, as nginx's requests from different clients do), and a
// hello-world app answers; the fake socket counts what is written. Prints the
// median wall time per request over five loops.
//
//   node bench/inprocess.cjs [ROOT] [REQUESTS]
//
// ROOT is a checkout with a built dist/ (default: this one), so that two
// builds can be compared side by side under one Node: run it once per ROOT
// and per Node binary. For iterating on the hot path; `npm run bench` (nginx
// in front) is the benchmark.
'use strict';
const { EventEmitter } = require('node:events');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const root = resolve(process.argv[2] ?? join(__dirname, '..'));
const N = Number(process.argv[3] ?? 200000);
const { serveFastCgi } = require(join(root, 'dist/index.cjs'));

const VARS = [
  ['QUERY_STRING', ''], ['REQUEST_METHOD', 'GET'], ['CONTENT_TYPE', ''], ['CONTENT_LENGTH', ''],
  ['SCRIPT_NAME', '/'], ['REQUEST_URI', '/'], ['DOCUMENT_URI', '/'], ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'], ['REQUEST_SCHEME', 'http'], ['GATEWAY_INTERFACE', 'CGI/1.1'],
  ['SERVER_SOFTWARE', 'nginx/1.22.1'], ['REMOTE_ADDR', '127.0.0.1'], ['REMOTE_PORT', '51234'],
  ['REMOTE_USER', ''], ['SERVER_ADDR', '127.0.0.1'], ['SERVER_PORT', '8080'], ['SERVER_NAME', ''],
  ['REDIRECT_STATUS', '200'], ['HTTP_HOST', '127.0.0.1:8080'],
];

function record(type, content) {
  const pad = (8 - (content.length % 8)) % 8;
  const head = Buffer.from([1, type, 0, 1, content.length >> 8, content.length & 0xff, pad, 0]);
  return Buffer.concat([head, content, Buffer.alloc(pad)]);
}

/** BEGIN_REQUEST (responder, keep the connection), the params, their end, and the empty STDIN: one read. */
function request(port) {
  const pairs = [];
  for (const [n, v0] of VARS) {
    const v = n === 'REMOTE_PORT' ? String(port) : v0;
    pairs.push(Buffer.from([n.length, v.length]), Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1'));
  }
  return Buffer.concat([
    record(1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0])), record(4, Buffer.concat(pairs)), record(4, Buffer.alloc(0)), record(5, Buffer.alloc(0)),
  ]);
}

/** Enough of a net.Socket for a FastCGI connection that is never backed up. */
class FakeSocket extends EventEmitter {
  writableLength = 0;
  writableHighWaterMark = 16384;
  writes = 0;
  write() { this.writes++; return true; }
  cork() {}
  uncork() {}
  end() {}
  destroy() {}
  setTimeout() {}
  pause() {}
  resume() {}
  setNoDelay() {}
  setKeepAlive() {}
}

function app(_environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [Buffer.from('Hello, world!\n')];
}

(async () => {
  const server = await serveFastCgi(app, { socket: join(tmpdir(), `tsgi-inprocess-${process.pid}.sock`) });
  const sockets = Array.from({ length: 16 }, () => {
    const s = new FakeSocket();
    server.server.emit('connection', s);
    return s;
  });
  const requests = sockets.map((_, i) => request(50000 + i));
  const feed = (n) => {
    for (let i = 0; i < n; i++) sockets[i & 15].emit('data', requests[i & 15]);
  };
  feed(50000); // warm up
  const ns = [];
  for (let loop = 0; loop < 5; loop++) {
    const t = process.hrtime.bigint();
    feed(N);
    ns.push(Number(process.hrtime.bigint() - t) / N);
  }
  const answered = sockets.reduce((sum, s) => sum + s.writes, 0);
  if (answered !== 50000 + 5 * N) throw new Error(`${answered} replies written for ${50000 + 5 * N} requests`);
  ns.sort((a, b) => a - b);
  console.log(`${process.version} ${root}: ${ns[2].toFixed(0)} ns per request (median of 5 loops of ${N}; fastest ${ns[0].toFixed(0)})`);
  const closed = server.close();
  for (const s of sockets) s.emit('close');
  await closed;
  process.exit(0);
})();
