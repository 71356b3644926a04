// npm run bench:queue — O7: how close to its deadline a queued request's 503
// comes. `tsgi fastcgi --max-concurrent 1 --queue-timeout T` runs as its own
// process; one request holds the only slot for the whole run; then requests
// are sent one at a time (each waits alone) and in bursts (a whole burst
// expires together), and each one's lateness is its time from the write to
// its END_REQUEST minus T. Loopback and unix socket only; nothing written.
// Usage: node bench/queue.js [timeoutMs=200] [single=50] [burst=50] [bursts=5]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [timeoutMs = 200, single = 50, burst = 50, bursts = 5] = process.argv.slice(2).map(Number);
const BIN = new URL('../bin/tsgi.cjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-queue-'));
const sock = join(dir, 'app.sock');
const app = join(dir, 'app.mjs');
writeFileSync(app, `export default (environ, start) => {
  start('200 OK', [['Content-Type', 'text/plain']]);
  if (environ.PATH_INFO !== '/hold') return [Buffer.from('ok')];
  return (async function* () { await new Promise(() => {}); })();
};\n`);

// FastCGI 1.0 records, by hand (the bench needs only these four).
const rec = (type, id, content = Buffer.alloc(0)) => {
  const pad = (8 - (content.length % 8)) % 8;
  const h = Buffer.from([1, type, id >> 8, id & 255, content.length >> 8, content.length & 255, pad, 0]);
  return Buffer.concat([h, content, Buffer.alloc(pad)]);
};
const pairs = (o) => Buffer.concat(Object.entries(o).map(([k, v]) => Buffer.concat([Buffer.from([k.length, v.length]), Buffer.from(k), Buffer.from(v)])));
const request = (path) => Buffer.concat([
  rec(1, 1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])),
  rec(4, 1, pairs({ REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: path, SERVER_NAME: 'b', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', QUERY_STRING: '' })),
  rec(4, 1), rec(5, 1),
]);

/** Sends one request on its own connection; resolves with [ms from write to END_REQUEST, status line]. */
function timed(path) {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    const got = [];
    let t0 = 0;
    s.on('connect', () => { t0 = performance.now(); s.write(request(path)); });
    s.on('data', (d) => {
      got.push(d);
      const all = Buffer.concat(got);
      // END_REQUEST (type 3) ends the reply.
      for (let off = 0; off + 8 <= all.length;) {
        const len = all.readUInt16BE(off + 4) + all[off + 6];
        if (all[off + 1] === 3) {
          const ms = performance.now() - t0;
          s.destroy();
          const stdout = all.subarray(8, 8 + all.readUInt16BE(4)).toString('latin1');
          return resolve([ms, stdout.split('\r\n')[0]]);
        }
        off += 8 + len;
      }
    });
    s.on('error', reject);
  });
}

const server = spawn(process.execPath, [BIN, 'fastcgi', app, '--socket', sock, '--max-concurrent', '1', '--queue-timeout', String(timeoutMs / 1000), '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
try {
  for (let i = 0; ; i++) {
    try { await new Promise((res, rej) => connect(sock).on('connect', function () { this.destroy(); res(); }).on('error', rej)); break; }
    catch { if (i > 200) throw new Error('tsgi did not start'); await new Promise((r) => setTimeout(r, 50)); }
  }
  const hold = connect(sock);
  hold.write(request('/hold'));
  await new Promise((r) => setTimeout(r, 200));

  const late = { single: [], burst: [] };
  for (let i = 0; i < single; i++) {
    const [ms, status] = await timed('/q');
    if (status !== 'Status: 503 Service Unavailable') throw new Error(`expected a 503, got ${status}`);
    late.single.push(ms - timeoutMs);
  }
  for (let j = 0; j < bursts; j++) {
    const all = await Promise.all(Array.from({ length: burst }, () => timed('/q')));
    for (const [ms, status] of all) {
      if (status !== 'Status: 503 Service Unavailable') throw new Error(`expected a 503, got ${status}`);
      late.burst.push(ms - timeoutMs);
    }
  }
  hold.destroy();
  const q = (xs, p) => xs.toSorted((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
  console.log(`node ${process.version}, --queue-timeout ${timeoutMs / 1000} s, FastCGI over a unix socket; lateness of the 503 past the deadline, ms`);
  console.log('case            n     min  median     p99     max');
  for (const [name, xs] of Object.entries(late)) {
    const f = (x) => x.toFixed(2).padStart(7);
    console.log(`${(name === 'single' ? 'one waiting' : `bursts of ${burst}`).padEnd(14)}${String(xs.length).padStart(4)} ${f(Math.min(...xs))} ${f(q(xs, 0.5))} ${f(q(xs, 0.99))} ${f(Math.max(...xs))}`);
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
