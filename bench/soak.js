// npm run soak — mixed traffic through real nginx for N minutes (default 10),
// to see that memory and file descriptors stay flat (S2–S4, R3–R6):
//   nginx fastcgi_pass (keepalive upstream, fastcgi_keep_conn on) -> tsgi fastcgi
//   nginx uwsgi_pass                                              -> tsgi uwsgi
// both on unix sockets, clients on 127.0.0.1 only. The traffic, at about
// --rate requests/s from --concurrency lanes, alternates between the two:
//   hello      GET on a keep-alive client connection
//   churn      GET on a new connection, `Connection: close`
//   upload     POST of 1 KiB-4 MiB, echoed back, checked by SHA-256
//   abort-body POST that stops half way through its body (the client hangs up)
//   abort-resp GET of 8 MiB, hung up on after the first bytes
//   slow       GET of 2 MiB from an unbuffered location, read slowly
//   pipelined  four GETs written at once on one raw connection
// Every --interval seconds (default 30) it prints, per backend, RSS and open
// fds (/proc/PID), the requests done and the unexpected errors (a wrong
// status, a wrong or short body, a failure of a request that did not hang up
// itself). At the end: the verdict, "flat" when RSS and fds after the
// warm-up do not grow. Not part of CI.
//
// Usage: node bench/soak.js [--minutes M] [--interval S] [--rate R] [--concurrency C]
//        (SOAK_MINUTES sets the default duration)
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { cleanup, freePort, need, nginxConf, root, runDir, start, startNginx } from './web.js';

need('nginx');
process.on('SIGTERM', () => process.exit(143)); // web.js kills the servers on exit
const opt = { minutes: process.env.SOAK_MINUTES ?? '10', interval: '30', rate: '300', concurrency: '24' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opt)) { console.error(`soak: unknown option --${k}`); process.exit(2); }
  opt[k] = process.argv[i + 1];
}
const MINUTES = Number(opt.minutes);
const INTERVAL = Number(opt.interval) * 1000;
const RATE = Number(opt.rate);
const LANES = Number(opt.concurrency);
const MiB = 1024 * 1024;

const dir = runDir();
writeFileSync(join(dir, 'soak-app.mjs'), `
const block = Buffer.alloc(65536, 'z');
export default function app(environ, startResponse) {
  const path = environ.PATH_INFO || environ.REQUEST_URI || '/';
  if (path.endsWith('/echo')) {
    const input = environ['wsgi.input'];
    startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', environ.CONTENT_LENGTH || '0']]);
    return (function* () { for (let c = input.read(65536); c.length > 0; c = input.read(65536)) yield c; })();
  }
  if (path.endsWith('/big')) {
    const n = Number(/bytes=(\\d+)/.exec(environ.QUERY_STRING || '')?.[1] ?? 0);
    startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', String(n)]]);
    return (function* () { for (let left = n; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left); })();
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from('Hello, soak!\\n')];
}
`);

const sock = (n) => join(dir, `${n}.sock`);
const backends = [];
for (const proto of ['fastcgi', 'uwsgi']) {
  const child = await start(`tsgi ${proto}`, process.execPath,
    [join(root, 'bin/tsgi.cjs'), proto, join(dir, 'soak-app.mjs'), '--socket', sock(proto), '--chmod', '666', '--max-body', '64m', '--log-level', 'warn'], () => existsSync(sock(proto)));
  const b = { proto, pid: child.pid, child, port: await freePort(), logLines: 0, firstLog: [] };
  child.stderr.on('data', (d) => {
    for (const line of String(d).split('\n').filter(Boolean)) { b.logLines++; if (b.firstLog.length < 5) b.firstLog.push(line.slice(0, 200)); }
  });
  backends.push(b);
}
const [f, u] = backends;
await startNginx(dir, nginxConf(dir, `
  upstream tsgi_fastcgi { server unix:${sock('fastcgi')}; keepalive 16; }
  server { listen 127.0.0.1:${f.port}; client_max_body_size 64m;
    location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass tsgi_fastcgi; }
    location /slow/ { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_buffering off; fastcgi_pass tsgi_fastcgi; } }
  server { listen 127.0.0.1:${u.port}; client_max_body_size 64m;
    location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:${sock('uwsgi')}; }
    location /slow/ { include /etc/nginx/uwsgi_params; uwsgi_buffering off; uwsgi_pass unix:${sock('uwsgi')}; } }
`));

// ---- the traffic ----
const agent = new Agent({ keepAlive: true, maxSockets: LANES });
const payload = randomBytes(4 * MiB);
const REQUEST_TIMEOUT = 60_000;

class Unexpected extends Error {}

/** One HTTP exchange; resolves with status and the body's length and hash. `opts.slow` reads with pauses; `opts.hangUp` destroys after the first bytes. */
function exchange(port, { method = 'GET', path, body, agent: ag = agent, headers = {}, slow = false, hangUp = null }) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: ag, headers: { ...headers, ...(body ? { 'Content-Length': body.length } : {}) } }, (res) => {
      const h = createHash('sha256');
      let n = 0;
      res.on('data', (d) => {
        h.update(d); n += d.length;
        if (hangUp === 'response') { req.destroy(); resolve({ hungUp: true }); }
        if (slow) { res.pause(); setTimeout(() => res.resume(), 40); }
      });
      res.on('end', () => resolve({ status: res.statusCode, length: n, hash: h.digest('hex') }));
      res.on('error', (e) => reject(e));
    });
    req.setTimeout(REQUEST_TIMEOUT, () => req.destroy(new Unexpected(`no answer in ${REQUEST_TIMEOUT / 1000} s`)));
    req.on('error', (e) => (hangUp ? resolve({ hungUp: true }) : reject(e)));
    if (hangUp === 'body') {
      req.write(body.subarray(0, body.length >> 1));
      setTimeout(() => { req.destroy(); resolve({ hungUp: true }); }, 20);
    } else {
      req.end(body);
    }
  });
}

function pipelined(port) {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    let got = '';
    const one = 'GET /hello HTTP/1.1\r\nHost: soak\r\n\r\n';
    c.setTimeout(REQUEST_TIMEOUT, () => c.destroy(new Unexpected('pipelined: no answer')));
    c.on('connect', () => c.write(one + one + one + one.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')));
    c.on('data', (d) => { got += d.toString('latin1'); });
    c.on('end', () => {
      const oks = got.split('HTTP/1.1 200 OK').length - 1;
      const hellos = got.split('Hello, soak!').length - 1;
      if (oks !== 4 || hellos !== 4) reject(new Unexpected(`pipelined: ${oks} x 200 and ${hellos} bodies of 4`));
      else resolve();
    });
    c.on('error', reject);
  });
}

const sha = (b) => createHash('sha256').update(b).digest('hex');
const helloHash = sha(Buffer.from('Hello, soak!\n'));
const expect = (ok, what) => { if (!ok) throw new Unexpected(what); };
let rnd = 12345;
const random = () => { rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0; return rnd / 4294967296; };

const kinds = {
  async hello(port) { const r = await exchange(port, { path: '/hello' }); expect(r.status === 200 && r.hash === helloHash, `hello: ${r.status}`); },
  async churn(port) { const r = await exchange(port, { path: '/hello', agent: false, headers: { Connection: 'close' } }); expect(r.status === 200 && r.hash === helloHash, `churn: ${r.status}`); },
  async upload(port) {
    const size = random() < 0.9 ? 1024 + Math.floor(random() * 256 * 1024) : MiB + Math.floor(random() * 3 * MiB);
    const off = Math.floor(random() * (payload.length - size));
    const body = payload.subarray(off, off + size);
    const r = await exchange(port, { method: 'POST', path: '/echo', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(r.status === 200 && r.length === size && r.hash === sha(body), `upload of ${size}: status ${r.status}, ${r.length} bytes back${r.length === size ? ', different bytes' : ''}`);
  },
  async 'abort-body'(port) { await exchange(port, { method: 'POST', path: '/echo', body: payload.subarray(0, 512 * 1024), agent: false, hangUp: 'body' }); },
  async 'abort-resp'(port) { await exchange(port, { path: '/big?bytes=8388608', agent: false, hangUp: 'response' }); },
  async slow(port) { const r = await exchange(port, { path: '/slow/big?bytes=2097152', slow: true }); expect(r.status === 200 && r.length === 2 * MiB, `slow: ${r.status}, ${r.length} bytes`); },
  async pipelined(port) { await pipelined(port); },
};
const weights = { hello: 40, churn: 15, upload: 15, 'abort-body': 7, 'abort-resp': 5, slow: 6, pipelined: 12 };
const table = Object.entries(weights).flatMap(([k, w]) => Array(w).fill(k));

const counts = Object.fromEntries(Object.keys(kinds).map((k) => [k, 0]));
let done = 0;
let unexpected = 0;
const errorSamples = [];
let stopping = false;
let tokens = 0;

async function lane(i) {
  let turn = i;
  while (!stopping) {
    while (tokens <= 0 && !stopping) await new Promise((r) => setTimeout(r, 5));
    if (stopping) break;
    tokens--;
    const kind = table[Math.floor(random() * table.length)];
    const b = backends[turn++ % 2];
    try {
      await kinds[kind](b.port);
      counts[kind]++;
    } catch (err) {
      unexpected++;
      if (errorSamples.length < 10) errorSamples.push(`${b.proto} ${kind}: ${err.message}`);
    }
    done++;
  }
}

// ---- sampling ----
function sample(b) {
  try {
    const s = readFileSync(`/proc/${b.pid}/status`, 'utf8');
    return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)[1]) * 1024, fds: readdirSync(`/proc/${b.pid}/fd`).length };
  } catch {
    return { rss: NaN, fds: NaN, dead: true };
  }
}
const idleBefore = backends.map(sample);
const samples = [];
const t0 = Date.now();
console.log(`soak: ${MINUTES} min, ~${RATE} req/s from ${LANES} lanes, report every ${INTERVAL / 1000} s; Node ${process.version}`);
console.log(`idle: fastcgi RSS ${(idleBefore[0].rss / MiB).toFixed(1)} MiB, ${idleBefore[0].fds} fds; uwsgi RSS ${(idleBefore[1].rss / MiB).toFixed(1)} MiB, ${idleBefore[1].fds} fds\n`);
console.log('| t | req/s | unexpected | fastcgi RSS MiB | fastcgi fds | uwsgi RSS MiB | uwsgi fds |');
console.log('|---|---|---|---|---|---|---|');
const refill = setInterval(() => { tokens = Math.min(tokens + RATE / 20, RATE / 4); }, 50);
let lastDone = 0;
const report = setInterval(() => {
  const s = backends.map(sample);
  samples.push(s);
  const t = (Date.now() - t0) / 1000;
  console.log(`| ${t.toFixed(0)} s | ${((done - lastDone) / (INTERVAL / 1000)).toFixed(0)} | ${unexpected} | ${(s[0].rss / MiB).toFixed(1)} | ${s[0].fds} | ${(s[1].rss / MiB).toFixed(1)} | ${s[1].fds} |`);
  lastDone = done;
  if (s.some((x) => x.dead)) { unexpected++; errorSamples.push('a backend exited'); stopping = true; }
}, INTERVAL);
const lanes = Array.from({ length: LANES }, (_, i) => lane(i));
await new Promise((r) => setTimeout(r, MINUTES * 60_000));
stopping = true;
clearInterval(refill);
await Promise.all(lanes);
clearInterval(report);
agent.destroy();
await new Promise((r) => setTimeout(r, 3000)); // let connections close
const idleAfter = backends.map(sample);

// ---- verdict ----
const MB = (x) => (x / MiB).toFixed(1);
console.log(`\n${done} requests in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ')}`);
console.log(`unexpected errors: ${unexpected}${errorSamples.length ? `\n  ${errorSamples.join('\n  ')}` : ''}`);
let flat = unexpected === 0;
const warm = Math.min(Math.max(1, Math.floor(samples.length / 5)), Math.max(0, samples.length - 2));
const after = samples.slice(warm);
backends.forEach((b, i) => {
  if (after.length < 2) { console.log(`${b.proto}: too few samples for a verdict (run longer)`); flat = false; return; }
  const third = Math.max(1, Math.floor(after.length / 3));
  const avg = (xs) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const early = avg(after.slice(0, third).map((s) => s[i].rss));
  const late = avg(after.slice(-third).map((s) => s[i].rss));
  const rssOk = late <= early * 1.1 + 8 * MiB;
  const fdsOk = idleAfter[i].fds <= idleBefore[i].fds + 20; // nginx may keep up to 16 keep-alive connections open
  if (!rssOk || !fdsOk) flat = false;
  console.log(`${b.proto}: RSS after warm-up ${MB(early)} MiB, at the end ${MB(late)} MiB (${rssOk ? 'flat' : 'GROWING'}); fds idle before ${idleBefore[i].fds}, idle after ${idleAfter[i].fds} (${fdsOk ? 'flat' : 'LEAKING'}); ${b.logLines} backend log line(s)${b.firstLog.length ? `, first: ${b.firstLog[0]}` : ''}`);
});
console.log(`\nverdict: ${flat ? 'FLAT after warm-up, 0 unexpected errors' : 'NOT flat (see above)'}`);
cleanup(dir);
process.exit(flat ? 0 : 1);
