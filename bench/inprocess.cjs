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
const { fcgiRequest } = require('./nginx-requests.cjs');

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
  const requests = sockets.map((_, i) => fcgiRequest(50000 + i));
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
