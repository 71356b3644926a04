// A quick A/B harness for the FastCGI and uwsgi hot paths, without nginx:
// this process plays the web server (nginx's stock fastcgi_params or
// uwsgi_params for a `GET /` from wrk) on a unix socket, with N concurrent
// connections, and reads each backend's CPU time per request from /proc
// (every thread's schedstat run time, in ns, summed). Backends run one after
// the other, round after round (interleaved), and the medians are printed.
//
//   node bench/hotpath.js [--proto fastcgi|uwsgi] [--rounds 3] [--seconds 3]
//     [--connections 16] [--node BIN] [--minimal] [NAME=ROOT ...]
//
// NAME=ROOT runs `ROOT/bin/tsgi.cjs` (a checkout with a built dist/), so two
// builds can be compared side by side; with none, this checkout. --minimal
// adds the minimal responder (bench/minimal-*.cjs); --prof DIR writes a
// --cpu-prof profile of each backend there. Figures are for
// iterating on the code: `npm run bench` (nginx in front) is the benchmark.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    proto: { type: 'string', default: 'fastcgi' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    node: { type: 'string', default: process.execPath },
    minimal: { type: 'boolean', default: false },
    prof: { type: 'string' },
  },
});
const proto = o.proto;
const seconds = Number(o.seconds);
const conns = Number(o.connections);

const { fcgiRequest, uwsgiPacket } = createRequire(import.meta.url)('./nginx-requests.cjs');

/** Load `socket` for `ms`; resolves with the number of complete responses. */
function load(socket, ms) {
  let count = 0;
  let stop = false;
  const running = [];
  if (proto === 'fastcgi') {
    const req = fcgiRequest();
    for (let i = 0; i < conns; i++) {
      running.push(new Promise((resolve) => {
        const s = connect(socket);
        let pending = null;
        s.on('connect', () => s.write(req));
        s.on('data', (chunk) => {
          let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
          let at = 0;
          while (buf.length - at >= 8) {
            const size = 8 + buf.readUInt16BE(at + 4) + buf[at + 6];
            if (buf.length - at < size) break;
            if (buf[at + 1] === 3) {
              count++;
              if (stop) { s.destroy(); resolve(); return; }
              s.write(req);
            }
            at += size;
          }
          pending = at < buf.length ? buf.subarray(at) : null;
        });
        s.on('error', (e) => { console.error(e.message); resolve(); });
      }));
    }
  } else {
    const pkt = uwsgiPacket();
    for (let i = 0; i < conns; i++) {
      running.push(new Promise((resolve) => {
        const one = () => {
          const s = connect(socket);
          let got = 0;
          s.on('connect', () => s.write(pkt));
          s.on('data', (c) => { got += c.length; });
          s.on('error', () => {});
          s.on('close', () => {
            if (got > 0) count++;
            if (stop) resolve(); else one();
          });
        };
        one();
      }));
    }
  }
  return new Promise((resolve) => setTimeout(() => { stop = true; void Promise.all(running).then(() => resolve(count)); }, ms));
}

/** CPU ns of every thread of `pid`. */
function cpuNs(pid) {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try { ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* exited */ }
  }
  return ns;
}

const dir = mkdtempSync(join(tmpdir(), 'tsgi-hotpath-'));
const targets = [];
const roots = positionals.length ? positionals.map((p) => p.split('=')) : [['tsgi', join(here, '..')]];
for (const [name, root] of roots) {
  targets.push({ name, args: [join(root, 'bin/tsgi.cjs'), proto, join(here, 'hello.js'), '--socket', join(dir, `${name}.sock`), '--log-level', 'warn'], socket: join(dir, `${name}.sock`) });
}
if (o.minimal) targets.push({ name: 'minimal', args: [join(here, `minimal-${proto}.cjs`), join(dir, 'minimal.sock')], socket: join(dir, 'minimal.sock') });

for (const t of targets) {
  const flags = o.prof ? ['--cpu-prof', '--cpu-prof-dir', o.prof, '--cpu-prof-name', `${t.name}.cpuprofile`, '--cpu-prof-interval', '200'] : [];
  t.child = spawn(o.node, [...flags, ...t.args], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100 && !existsSync(t.socket); i++) await new Promise((r) => setTimeout(r, 50));
  t.total = await load(t.socket, 1000); // warm up
  t.runs = [];
}
for (let r = 0; r < Number(o.rounds); r++) {
  for (const t of targets) {
    const before = cpuNs(t.child.pid);
    const t0 = process.hrtime.bigint();
    const n = await load(t.socket, seconds * 1000);
    t.total += n;
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuNs(t.child.pid) - before;
    t.runs.push({ rps: n / wall, us: cpu / n / 1000 });
  }
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const ref = targets.find((t) => t.name === 'minimal');
console.log(`${proto}, ${o.node}, ${conns} connections, ${o.rounds} x ${seconds} s (medians)`);
for (const t of targets) {
  const us = median(t.runs.map((x) => x.us));
  const rps = median(t.runs.map((x) => x.rps));
  const rel = ref ? `  ${(us / median(ref.runs.map((x) => x.us))).toFixed(2)}x minimal CPU` : '';
  console.log(`${t.name.padEnd(10)} ${rps.toFixed(0).padStart(7)} req/s  ${us.toFixed(2).padStart(6)} µs CPU/req${rel}   [${t.runs.map((x) => x.us.toFixed(2)).join(' ')}]${o.prof ? ` ${t.total} requests in all` : ''}`);
  t.child.kill('SIGTERM');
}
await Promise.all(targets.map((t) => (t.child.exitCode !== null ? null : new Promise((r) => t.child.on('exit', r)))));
rmSync(dir, { recursive: true, force: true });
