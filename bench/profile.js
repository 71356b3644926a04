// npm run bench:profile — where a hello-world request's microseconds go on
// the FastCGI path. nginx (fastcgi_pass, keepalive upstream) in front of tsgi
// fastcgi, of the minimal FastCGI responder and (proxy_pass, keepalive) of
// node:http, each started with `node --cpu-prof`, under every Node binary
// asked for; each loaded once with wrk. The profiles' self time (idle left
// out) is mapped through dist/tsgi.cjs.map to tsgi's source files, grouped by
// what the code does, and divided by the requests served.
// Usage: node bench/profile.js [--seconds 8] [--nodes 24,20] [--connections 16] [--interval 250] [--keep DIR]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeBinary } from './matrix.js';
import { cleanup, cpuSeconds, cpuSplit, freePort, need, nginxConf, root, runDir, start, startNginx, wrk } from './web.js';

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' }, nodes: { type: 'string', default: '24,20' },
    connections: { type: 'string', default: '16' }, interval: { type: 'string', default: '250' }, keep: { type: 'string' },
  },
});
need('nginx', 'wrk', 'curl');

/** Where a source file's (or a Node built-in's) self time goes. */
const categories = [
  [/src\/protocol\/fastcgi\/params\.ts$/, 'params decode (FastCGI name-value pairs)'],
  [/src\/protocol\/fastcgi\/records\.ts$/, 'record framing (decode and encode)'],
  [/src\/(protocol\/(vars|uri|text)|contract\/mount|gateway\/(environ|intake|input|errors-stream|spool))\.ts$/, 'environ build (intake, vars, path split, wsgi.* keys, input)'],
  [/src\/(gateway\/(engine|abort|file-wrapper)|contract\/head)\.ts$/, 'engine (start_response, body loop, Content-Length)'],
  [/src\/contract\/log\.ts$/, 'logger'],
  [/src\/server\//, 'server (connection, request lifecycle, sink)'],
  [/src\/(gateway|contract|protocol)\//, 'other tsgi code (gateway, contract, protocol)'],
  [/bench\/(hello\.js|minimal-fastcgi\.cjs|backends\.cjs)$/, 'app or responder code'],
  [/^node:(net|internal\/(stream_base_commons|streams\/|net))|^node:stream/, 'Node socket and stream JS'],
  [/^node:_http|^node:internal\/http/, 'node:http parser and response JS'],
  [/^node:/, 'Node event loop JS (timers, ticks, events)'],
];
const writes = /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString|shutdown|close|readStart|readStop)$/;

function categorize(url, name) {
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)') return 'native: libuv, syscalls, V8 runtime ((program))';
  if (!url && writes.test(name)) return 'socket writes and reads (native)';
  for (const [re, c] of categories) if (re.test(url)) return c;
  return url ? `other: ${url.replace(root, '')}` : null; // null: a native helper, charged to its caller
}

/** Self time per category, and per function, in µs, from one .cpuprofile. */
export function analyze(file, map) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const where = new Map();
  const place = (id) => {
    if (where.has(id)) return where.get(id);
    const { callFrame: f } = byId.get(id);
    let url = f.url.replace(/^file:\/\//, '');
    let fn = f.functionName || '(anonymous)';
    if (url.endsWith('dist/tsgi.cjs') && map) {
      const e = map.findEntry(f.lineNumber, f.columnNumber);
      if (e?.originalSource) url = join(root, e.originalSource.replace(/^(\.\.\/)+/, ''));
    }
    let cat = categorize(url, fn);
    if (cat === null) {
      const p = parent.get(id);
      const up = p !== undefined && byId.get(p).callFrame.functionName !== '(root)' ? place(p) : { cat: 'native: libuv, syscalls, V8 runtime ((program))' };
      cat = up.cat;
      fn = `${fn} (from ${up.fn})`;
      url = up.url;
    }
    const r = { cat, fn, url };
    where.set(id, r);
    return r;
  };
  const cats = new Map();
  const fns = new Map();
  for (let i = 0; i < prof.samples.length - 1; i++) {
    const id = prof.samples[i];
    const name = byId.get(id).callFrame.functionName;
    if (name === '(idle)' || name === '(root)') continue;
    const dt = prof.timeDeltas[i + 1];
    const { cat, fn, url } = place(id);
    cats.set(cat, (cats.get(cat) ?? 0) + dt);
    const key = `${fn} ${url.replace(`${root}/`, '')}`;
    fns.set(key, (fns.get(key) ?? 0) + dt);
  }
  return { cats, fns };
}

const dir = runDir();
const profDir = opt.keep ?? join(dir, 'profiles');
mkdirSync(profDir, { recursive: true });
const seconds = Number(opt.seconds);
const connections = Number(opt.connections);
const nodes = opt.nodes.split(',').map((m) => nodeBinary(m) ?? (console.log(`note: Node ${m} not found, skipped`), null)).filter(Boolean);

const targets = [];
let servers = '';
for (const node of nodes) {
  for (const [id, script, args, via] of [
    ['tsgi-fastcgi', join(root, 'bin/tsgi.cjs'), (s) => ['fastcgi', join(root, 'bench/hello.js'), '--socket', s, '--chmod', '666', '--log-level', 'warn'], 'fastcgi'],
    ['minimal-fastcgi', join(root, 'bench/minimal-fastcgi.cjs'), (s) => [s], 'fastcgi'],
    ['node-http-ka', join(root, 'bench/backends.cjs'), (s) => ['http', s], 'proxy'],
  ]) {
    const key = `${id}-${node.label}`;
    const sock = join(dir, `${key}.sock`);
    const flags = ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${key}.cpuprofile`, '--cpu-prof-interval', opt.interval];
    const child = await start(key, node.bin, [...flags, script, ...args(sock)], () => existsSync(sock));
    const port = await freePort();
    const name = key.replace(/\W/g, '_');
    servers += `  upstream ${name} { server unix:${sock}; keepalive 64; }\n  server { listen 127.0.0.1:${port}; location / { ${via === 'fastcgi'
      ? `include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass ${name};`
      : `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://${name};`} } }\n`;
    targets.push({ key, node, id, child, url: `http://127.0.0.1:${port}/`, file: join(profDir, `${key}.cpuprofile`) });
  }
}
const nginx = await startNginx(dir, nginxConf(dir, servers));
for (const t of targets) {
  spawnSync('curl', ['-s', t.url]);
  const warm = wrk(t.url, 1, connections); // warm up: the JIT has optimized the hot path before the measured run
  const c0 = cpuSeconds(t.child.pid);
  const s0 = cpuSplit(t.child.pid);
  const w = wrk(t.url, seconds, connections);
  const s1 = cpuSplit(t.child.pid);
  t.cpu = ((cpuSeconds(t.child.pid) - c0) / w.requests) * 1e6;
  t.user = ((s1.user - s0.user) / w.requests) * 1e6;
  t.system = ((s1.system - s0.system) / w.requests) * 1e6;
  t.requests = warm.requests + w.requests + 1; // all the profile saw (the CPU figures: the measured run only)
  t.rps = w.rps;
}
nginx.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 300));
for (const t of targets) t.child.kill('SIGTERM');
await Promise.all(targets.map((t) => (t.child.exitCode !== null ? null : new Promise((r) => t.child.on('exit', r)))));
await new Promise((r) => setTimeout(r, 200));

const map = new SourceMap(JSON.parse(readFileSync(join(root, 'dist/tsgi.cjs.map'), 'utf8')));
console.log(`\nnginx -> backend, wrk -t1 -c${connections} -d${seconds}s once per backend, --cpu-prof-interval ${opt.interval} µs; ` +
  'self time per request, idle left out (profiler on: figures are higher than without it)\n');
const all = targets.map((t) => ({ ...t, ...analyze(t.file, map) }));
const catNames = [...new Set(all.flatMap((t) => [...t.cats.keys()]))]
  .sort((a, b) => Math.max(...all.map((t) => t.cats.get(b) ?? 0)) - Math.max(...all.map((t) => t.cats.get(a) ?? 0)));
console.log(`| µs per request | ${all.map((t) => `${t.id} (Node ${t.node.label})`).join(' | ')} |`);
console.log(`|---|${all.map(() => '---:|').join('')}`);
for (const c of catNames) console.log(`| ${c} | ${all.map((t) => ((t.cats.get(c) ?? 0) / t.requests).toFixed(1)).join(' | ')} |`);
const sum = (t) => [...t.cats.values()].reduce((a, b) => a + b, 0) / t.requests;
console.log(`| **sampled total** | ${all.map((t) => `**${sum(t).toFixed(1)}**`).join(' | ')} |`);
console.log(`| CPU µs/req from /proc (utime+stime) | ${all.map((t) => t.cpu.toFixed(1)).join(' | ')} |`);
console.log(`| of which user (utime) | ${all.map((t) => t.user.toFixed(1)).join(' | ')} |`);
console.log(`| of which kernel (stime: socket system calls, epoll) | ${all.map((t) => t.system.toFixed(1)).join(' | ')} |`);
console.log(`| req/s (profiler on) | ${all.map((t) => t.rps.toFixed(0)).join(' | ')} |`);
for (const t of all.filter((a) => a.id === 'tsgi-fastcgi')) {
  console.log(`\ntop functions by self time, tsgi fastcgi, Node ${t.node.label} (µs per request):`);
  for (const [fn, us] of [...t.fns].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(us / t.requests).toFixed(2).padStart(6)}  ${fn}`);
}
if (opt.keep) console.log(`\nprofiles kept in ${opt.keep}: ${readdirSync(opt.keep).join(', ')}`);
cleanup(dir);
process.exit(0);
