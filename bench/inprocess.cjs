// tsgi's own JavaScript per FastCGI request, without the kernel or Node's
// socket code: a FastCGI server is started as usual, and fake sockets are
// handed to its net.Server as connections. Each is fed the same request as
// nginx sends it for wrk's `GET /` (stock fastcgi_params; each connection has
// its own REMOTE_PORT, as nginx's requests from different clients do), and a
// hello-world app answers; the fake socket counts what is written. Prints the
// median wall time per request over five loops.
//
//   node bench/inprocess.cjs [ROOT] [REQUESTS]      tsgi, from ROOT's dist/
//   node bench/inprocess.cjs --minimal [REQUESTS]   the physical-limit responder
//   node bench/inprocess.cjs --compare [ROUNDS] [REQUESTS]
//
// With TSGI_BENCH_APP=const in the environment the app returns a header list
// and body made once, so that what the app itself allocates drops out.
//
// --minimal serves the same fake sockets with bench/minimal-fastcgi.cjs (fixed
// bytes, no app). --compare runs both in turn, each in a new process of the
// same Node, ROUNDS times (default 3), and prints the medians and what tsgi
// costs over the minimal responder. ROOT is a checkout with a built dist/
// (default: this one), so that two builds can be compared under one Node. For
// iterating on the hot path; `npm run bench` (nginx in front) is the benchmark.
'use strict';
const { execFileSync } = require('node:child_process');
const { EventEmitter } = require('node:events');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { fcgiRequest } = require('./nginx-requests.cjs');

/**
 * The app every run answers with: hello world, its header list and body made
 * anew each time, as an app written plainly makes them; with
 * TSGI_BENCH_APP=const, made once and returned each time (to tell the app's
 * own allocations from the gateway's).
 */
const CONST_HEADERS = [['Content-Type', 'text/plain; charset=utf-8']];
const CONST_BODY = [Buffer.from('Hello, world!\n')];
const app = process.env.TSGI_BENCH_APP === 'const'
  ? (_environ, startResponse) => {
    startResponse('200 OK', CONST_HEADERS);
    return CONST_BODY;
  }
  : (_environ, startResponse) => {
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return [Buffer.from('Hello, world!\n')];
  };

/** Enough of a net.Socket for a FastCGI connection that is never backed up. */
class FakeSocket extends EventEmitter {
  writableLength = 0;
  writableHighWaterMark = 16384;
  writes = 0;
  last = null;
  constructor(port) {
    super();
    this.remotePort = port;
  }
  write(buf) {
    this.writes++;
    this.last = buf;
    return true;
  }
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

/** The STDOUT content of one reply's records (each responder pads differently). */
function stdout(buf) {
  const parts = [];
  for (let at = 0; at + 8 <= buf.length;) {
    const len = buf.readUInt16BE(at + 4);
    if (buf[at + 1] === 6) parts.push(buf.subarray(at + 8, at + 8 + len));
    at += 8 + len + buf[at + 6];
  }
  return Buffer.concat(parts);
}

/** A server-like object whose 'connection' event runs `serve`. */
function bare(serve) {
  return { server: new EventEmitter().on('connection', serve), close: async () => {} };
}

async function measure(mode, N) {
  const name = mode === '--minimal' ? 'minimal responder' : resolve(mode);
  const server = mode === '--minimal' ? bare(require('./minimal-fastcgi.cjs').serve)
    : await require(join(resolve(mode), 'dist/index.cjs')).serveFastCgi(app, { socket: join(tmpdir(), `tsgi-inprocess-${process.pid}.sock`) });
  const sockets = Array.from({ length: 16 }, (_, i) => {
    const s = new FakeSocket(50000 + i);
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
  const reply = stdout(sockets[0].last).toString('latin1');
  if (!reply.endsWith('\r\n\r\nHello, world!\n') || !reply.includes('Content-Length: 14\r\n')) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
  console.log(`${process.version} ${name}: ${ns[2].toFixed(0)} ns per request (median of 5 loops of ${N}; fastest ${ns[0].toFixed(0)})`);
  const closed = server.close();
  for (const s of sockets) s.emit('close');
  await closed;
}

/** Runs each mode in a new process, round after round; prints the medians. */
function compare(rounds, N) {
  const modes = [['minimal', '--minimal'], ['tsgi', join(__dirname, '..')]];
  const ns = new Map(modes.map(([m]) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [m, arg] of modes) {
      const out = execFileSync(process.execPath, [__filename, arg, String(N)], { encoding: 'utf8' });
      process.stdout.write(`  round ${r + 1}: ${out}`);
      ns.get(m).push(Number(/: (\d+) ns per request/.exec(out)[1]));
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const [minimal, tsgi] = modes.map(([m]) => median(ns.get(m)));
  const which = process.env.TSGI_BENCH_APP === 'const' ? ', app made once' : '';
  console.log(`${process.version}, medians of ${rounds} rounds (ns per request${which}): minimal responder ${minimal}, tsgi ${tsgi}`);
  console.log(`  tsgi costs ${tsgi - minimal} ns over the minimal responder`);
}

const mode = process.argv[2] ?? join(__dirname, '..');
if (mode === '--compare') {
  compare(Number(process.argv[3] ?? 3), Number(process.argv[4] ?? 200000));
} else {
  measure(mode, Number(process.argv[3] ?? 200000)).then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
}
