// npm run bench:real — real work, not hello world: a matrix of workloads, each
// under every backend behind one nginx, loaded with wrk, interleaved round by
// round (every workload x backend once per round, so machine noise hits all
// alike); medians of req/s, p99, backend CPU per request and peak RSS.
//   backends  tsgi under each protocol of `protocols` (fastcgi keepalive, uwsgi),
//             node:http behind proxy_pass keepalive (the baseline), PHP-FPM and
//             uWSGI-python when installed; the Express workload runs the same
//             Express app under tsgi and on node:http
//   workloads see `workloads` below (bench/real/app.js serves them)
// Writes docs/bench-real.json, docs/bench-real.svg and the generated section
// of docs/performance.md (unless --no-write); --from FILE only regenerates
// the SVG and the section from a JSON written before.
// Usage: node bench/real.js [--rounds 3] [--seconds 3] [--nodes 24] [--only id,id]
//        [--quick] [--no-write] [--from docs/bench-real.json]
import { spawn, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { nodeBinary } from './matrix.js';
import { realMarkdown, realSvg } from './real/report.js';
import { cleanup, cpuSeconds, freePort, measure, need, nginxConf, processTree, root, runDir, start, startNginx } from './web.js';

/**
 * The protocols tsgi is measured under: the `tsgi` command, and the nginx
 * location body reaching `upstream` (a keepalive upstream when `keepalive`).
 * Adding one is one line here.
 */
export const protocols = {
  fastcgi: { keepalive: true, location: (up) => `include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass ${up};` },
  uwsgi: { keepalive: false, location: (up) => `include /etc/nginx/uwsgi_params; uwsgi_pass ${up};` },
  scgi: { keepalive: false, location: (up) => `include /etc/nginx/scgi_params; scgi_param PATH_INFO $document_uri; scgi_pass ${up};` },
};

const KiB = 1024;
const MiB = 1024 * KiB;
/**
 * The workloads. app: which app serves it (real: bench/real/app.js and its
 * twins; express: bench/real/express.cjs); body: a POST body of that many
 * bytes (wrk, bench/real/post.lua); slow: that many slow readers held open
 * meanwhile (bench/real/slow-readers.cjs); async: only for servers that do not
 * block a worker per request; bound: the connections/latency bound is shown.
 */
export const workloads = [
  { id: 'await-256', name: '10 ms await, 256 connections', path: '/await', c: 256, async: true, bound: 0.010 },
  { id: 'await-1024', name: '10 ms await, 1,024 connections', path: '/await', c: 1024, async: true, bound: 0.010 },
  { id: 'json', name: '1 KiB JSON, 64 connections', path: '/json', c: 64 },
  { id: 'json-slow', name: '1 KiB JSON, 64 connections, 1,000 slow readers open', path: '/json', c: 64, slow: 1000, same: 'json' },
  { id: 'bytes-256k', name: '256 KiB response, 16 connections', path: `/bytes/${256 * KiB}`, c: 16 },
  { id: 'bytes-1m', name: '1 MiB response, 16 connections', path: `/bytes/${MiB}`, c: 16 },
  { id: 'bytes-64m', name: '64 MiB response, 4 connections', path: `/bytes/${64 * MiB}`, c: 4 },
  { id: 'post-16k', name: '16 KiB POST, 32 connections', path: '/post', c: 32, body: 16 * KiB },
  { id: 'post-1m', name: '1 MiB POST, 8 connections', path: '/post', c: 8, body: MiB },
  { id: 'express', name: 'Express: router, JSON body, 5 middleware; POST, 64 connections', path: '/api/items', c: 64, body: 200, json: true, app: 'express' },
];

/** The backends run under each Node binary: [id, name, via, app, cmd(node, socket)]. */
function nodeBackends() {
  const tsgi = (proto, app) => (n, s) => [n, [join(root, 'bin/tsgi.cjs'), proto, join(root, app), '--socket', s, '--chmod', '666', '--log-level', 'warn']];
  const rows = [
    { id: 'node-http', name: 'node:http', via: 'proxy-ka', app: 'real', baseline: true, cmd: (n, s) => [n, [join(root, 'bench/real/http.cjs'), s]] },
    { id: 'express-node', name: 'Express on node:http', via: 'proxy-ka', app: 'express', baseline: true, cmd: (n, s) => [n, [join(root, 'bench/real/express.cjs'), s]] },
  ];
  for (const proto of Object.keys(protocols)) {
    rows.push({ id: `tsgi-${proto}`, name: `tsgi ${proto}`, via: proto, app: 'real', cmd: tsgi(proto, 'bench/real/app.js') });
    rows.push({ id: `express-${proto}`, name: `Express on tsgi ${proto}`, via: proto, app: 'express', cmd: tsgi(proto, 'bench/real/express.cjs') });
  }
  return rows;
}

/** PHP-FPM and uWSGI-python rows when installed (each skip is a note). */
function otherBackends(dir, notes) {
  const rows = [];
  const fpm = existsSync('/usr/sbin') ? readdirSync('/usr/sbin').find((f) => /^php-fpm[\d.]*$/.test(f)) : undefined;
  if (fpm) {
    const conf = join(dir, 'php-fpm.conf');
    // One static worker per Node process would starve a blocking server: 4 workers, as a small pool would have.
    writeFileSync(conf, `[global]\npid = ${dir}/php-fpm.pid\nerror_log = ${dir}/php-fpm.log\ndaemonize = no\n` +
      `[bench]\nlisten = ${dir}/php.sock\nlisten.mode = 0666\npm = static\npm.max_children = 4\n`);
    rows.push({ id: 'php-fpm', name: 'PHP-FPM (4 workers)', via: 'fastcgi-close', app: 'real', blocking: true, socket: join(dir, 'php.sock'),
      extra: `fastcgi_param SCRIPT_FILENAME ${join(root, 'bench/real/app.php')};`, cmd: () => [`/usr/sbin/${fpm}`, ['-F', '-R', '-y', conf]] });
  } else notes.push('PHP-FPM not installed (apt-get install php-fpm): its rows skipped');
  if (spawnSync('sh', ['-c', 'uwsgi --plugin python3 --version']).status === 0) {
    rows.push({ id: 'uwsgi-python', name: 'uWSGI python3 (4 processes)', via: 'uwsgi', app: 'real', blocking: true,
      cmd: (s) => ['uwsgi', ['--plugin', 'python3', '--socket', s, '--chmod-socket=666', '--wsgi-file', join(root, 'bench/real/app.py'),
        '--processes', '4', '--disable-logging', '--need-app', '--buffer-size', '32768']] });
  } else notes.push('uWSGI with the python3 plugin not installed (apt-get install uwsgi uwsgi-plugin-python3): its rows skipped');
  return rows;
}

function location(row, up, socket) {
  if (row.via === 'proxy-ka') return `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://${up};`;
  if (row.via === 'fastcgi-close') return `include /etc/nginx/fastcgi_params; ${row.extra ?? ''} fastcgi_pass unix:${socket};`;
  return protocols[row.via].location(protocols[row.via].keepalive ? up : `unix:${socket}`);
}

/** Peak RSS (VmHWM) of pids summed, in MiB; reset first with reset=true (clear_refs 5, Linux ≥ 4.0). */
function peakRss(pids, reset = false) {
  let kib = 0;
  for (const pid of pids) {
    try {
      if (reset) writeFileSync(`/proc/${pid}/clear_refs`, '5');
      else kib += Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch { /* exited, or not ours to reset */ }
  }
  return kib / 1024;
}

/** Sleeps synchronously (measure() runs wrk synchronously between these hooks). */
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function slowReaders(port, n, path) {
  const child = spawn(process.execPath, [join(root, 'bench/real/slow-readers.cjs'), String(port), String(n), path, '/dev/null'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const ready = `/proc/${child.pid}/fd`;
  // ready once the child holds n sockets (it never reads from them)
  for (let i = 0; i < 200; i++) {
    sleep(50);
    try { if (readdirSync(ready).length >= n) break; } catch { break; }
  }
  sleep(500); // let nginx and the backend settle what the slow readers asked for
  return child;
}

/** Defaults of the command line; --quick: 1 round of 1 s, no warm-up, a smoke run. */
export const defaults = { rounds: '3', seconds: '3', nodes: '24', only: '', warmup: '1', quick: false, 'no-write': false, from: '' };

export async function runReal(options) {
  const opt = { ...defaults, ...options };
  if (opt.quick) Object.assign(opt, { rounds: '1', seconds: '1', warmup: '0' });
  const [rounds, seconds] = [Number(opt.rounds), Number(opt.seconds)];
  need('nginx', 'wrk', 'curl');
  const notes = [];
  const nodes = opt.nodes.split(',').map((m) => nodeBinary(m) ?? (notes.push(`Node ${m} not found: its rows skipped`), null)).filter(Boolean);
  const chosen = opt.only ? workloads.filter((w) => opt.only.split(',').includes(w.id)) : workloads;
  const dir = runDir();
  const backends = [];
  let servers = '';
  const launch = async (row, node, key, cmd, socket) => {
    const child = await start(key, ...cmd, () => existsSync(socket));
    if (row.blocking) await new Promise((r) => setTimeout(r, 300)); // a master forks its workers
    const port = await freePort();
    const up = key.replace(/\W/g, '_');
    servers += `  upstream ${up} { server unix:${socket}; keepalive 64; }\n` +
      `  server { listen 127.0.0.1:${port}; client_max_body_size 2m; location / { ${location(row, up, socket)} } }\n`;
    backends.push({ ...row, cmd: undefined, key, node: node?.label ?? null, port, pids: () => (row.blocking ? processTree(child.pid) : [child.pid]) });
  };
  for (const node of nodes) {
    for (const row of nodeBackends()) {
      if (!chosen.some((w) => (w.app ?? 'real') === row.app)) continue;
      const socket = join(dir, `${row.id}-${node.label}.sock`);
      await launch(row, node, `${row.id}@${node.label}`, row.cmd(node.bin, socket), socket);
    }
  }
  for (const row of otherBackends(dir, notes)) {
    const socket = row.socket ?? join(dir, `${row.id}.sock`);
    await launch(row, null, row.id, row.cmd(socket), socket);
  }
  for (const n of notes) console.log(`note: ${n}`);
  await startNginx(dir, nginxConf(dir, servers));

  const targets = [];
  for (const w of chosen) {
    for (const b of backends) {
      if ((w.app ?? 'real') !== b.app || (w.async && b.blocking)) continue;
      const env = { ...process.env, BODY_BYTES: String(w.body ?? 0), BODY_JSON: w.json ? '1' : '0' };
      let slow = null;
      targets.push({
        workload: w, backend: b, name: `${w.id} ${b.key}`, url: `http://127.0.0.1:${b.port}${w.path}`, checkUrl: `http://127.0.0.1:${b.port}/hello`,
        connections: w.c, env, wrk: [...(w.body ? ['-s', join(root, 'bench/real/post.lua')] : []), '--timeout', '30s'],
        cpu: () => cpuSeconds(b.pids()),
        before: () => { if (w.slow) slow = slowReaders(b.port, w.slow, `/bytes/${64 * KiB}`); peakRss(b.pids(), true); },
        after: () => { const rss = peakRss(b.pids()); if (slow) { try { process.kill(-slow.pid, 'SIGKILL'); } catch {} slow = null; } return { rss }; },
      });
    }
  }
  console.log(`${targets.length} runs per round, ${rounds} rounds x ${seconds}s; nodes ${nodes.map((n) => n.version).join(', ')}`);
  const t0 = Date.now();
  const results = measure(targets, { rounds, seconds, connections: 16, warmup: Number(opt.warmup),
    onRound: (r) => console.log(`  round ${r + 1}/${rounds} done (${Math.round((Date.now() - t0) / 1000)} s)`) });
  if (process.env.TSGI_BENCH_KEEP) console.log(`kept ${dir}`); else cleanup(dir);
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const rows = targets.map((t, i) => ({
    workload: t.workload.id, backend: t.backend.id, node: t.backend.node, name: t.backend.name, via: t.backend.via, baseline: !!t.backend.baseline,
    rps: results[i].rps, p99: results[i].p99, cpu: results[i].cpu, rss: med(results[i].rounds.rss), errors: results[i].rounds.errors.join('; '), rounds: results[i].rounds,
  }));
  const nginxVersion = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '');
  return {
    generated: new Date().toISOString(),
    command: `node ${relative(root, process.argv[1])} ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown',
      note: 'A 2-core machine shared with other jobs while this ran: only ratios measured side by side in this one run mean anything.' },
    settings: { rounds, seconds, nginx: `${nginxVersion}, 1 worker`, statistic: 'median of interleaved rounds', slowPath: `/bytes/${64 * KiB}` },
    nodes: nodes.map(({ label, version }) => ({ label, version })),
    workloads: chosen.map(({ id, name, c, bound, same }) => ({ id, name, connections: c, bound: bound ? c / bound : null, same: same ?? null })),
    notes, rows,
  };
}

const START = '<!-- bench-real:start -->';
const END = '<!-- bench-real:end -->';

/** Writes the JSON (unless only regenerating), the SVG and docs/performance.md's generated section. */
export function writeReal(result, json) {
  if (json) writeFileSync(join(root, 'docs/bench-real.json'), `${JSON.stringify(result, null, 1)}\n`);
  writeFileSync(join(root, 'docs/bench-real.svg'), realSvg(result));
  const file = join(root, 'docs/performance.md');
  const doc = readFileSync(file, 'utf8');
  const [a, b] = [doc.indexOf(START), doc.indexOf(END)];
  if (a < 0 || b < a) throw new Error(`docs/performance.md has no ${START} … ${END} section`);
  const section = [START, '<!-- generated by `npm run bench:real` from docs/bench-real.json: edit bench/real/report.js, not this text -->', '',
    realMarkdown(result).trimEnd(), '', '![req/s of every backend and workload, as a ratio to node:http](bench-real.svg)', ''].join('\n');
  writeFileSync(file, doc.slice(0, a) + section + doc.slice(b));
  console.log('wrote docs/bench-real.json, docs/bench-real.svg and the bench:real section of docs/performance.md');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const options = Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, { type: typeof v === 'boolean' ? 'boolean' : 'string', default: v }]));
  const opt = parseArgs({ options }).values;
  if (opt.from) {
    writeReal(JSON.parse(readFileSync(join(root, opt.from), 'utf8')), false);
  } else {
    const result = await runReal(opt);
    console.log(`\n${realMarkdown(result)}`);
    if (!opt['no-write']) writeReal(result, true);
  }
  process.exit(0);
}
