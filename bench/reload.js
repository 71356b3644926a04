// npm run bench:reload — zero drop (P11) under the scenario that used to lose
// requests: tsgi --workers 2 behind nginx with keepalive upstream connections
// (`keepalive 16`), wrk -c16 POSTing 2 KB bodies, for FastCGI
// (fastcgi_keep_conn on), uwsgi (nginx opens a connection per request) and
// the dev HTTP server (proxy_pass, HTTP/1.1 keepalive, nginx letting idle
// connections go after 4 s, before the dev server's own 5 s), each through:
//   - N SIGHUPs, one every 250 ms (one that comes during a reload runs after it)
//   - --max-requests 50 (+ jitter 10) for S seconds
// Prints, per run, the POSTs answered, the non-2xx answers, wrk's socket
// errors, and nginx's error-log lines: "upstream prematurely closed" and any
// other upstream error. Zero-drop means 0 in every column but the first.
// Usage: node bench/reload.js [reloads=100] [seconds=8] [interval-ms=250]   (TSGI_ROOT: another checkout to measure)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, freePort, need, nginxConf, root as here, runDir, startNginx } from './web.js';

need('nginx', 'wrk');
const [reloads = 100, seconds = 8, interval = 250] = process.argv.slice(2).map(Number);
const root = process.env.TSGI_ROOT ?? here;
const dir = runDir();
const app = join(here, 'test/fixtures/worker-app.js');
const lua = join(dir, 'post.lua');
writeFileSync(lua, 'wrk.method = "POST"\nwrk.body = string.rep("x", 2048)\nwrk.headers["Content-Type"] = "application/octet-stream"\n');

const PASS = {
  fastcgi: 'include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass tsgi;',
  uwsgi: 'include /etc/nginx/uwsgi_params; uwsgi_pass tsgi;',
  http: 'proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://tsgi;',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** tsgi PROTO --workers 2 …, with its log kept to wait on. */
function tsgi(proto, listen, extra) {
  const child = spawn(process.execPath, [join(root, 'bin/tsgi.cjs'), proto, app, ...listen, '--workers', '2', ...extra], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const count = (re) => log.split('\n').filter((l) => re.test(l)).length;
  const until = async (re, n, what) => {
    for (const end = Date.now() + 30_000; count(re) < n;) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`tsgi: no ${what}:\n${log.slice(-3000)}`);
      await sleep(10);
    }
  };
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 35_000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(t);
    }
  };
  return { child, until, stop, log: () => log };
}

/** wrk -c16 POSTing until `done` resolves (then SIGINT: wrk prints its summary). */
function postLoad(port, done) {
  const child = spawn('wrk', ['-t1', '-c16', '-d3600s', '-s', lua, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  void done.then(() => child.kill('SIGINT'));
  return new Promise((resolve) => child.on('exit', () => {
    const s = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    resolve({
      requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
      non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
      socketErrors: s ? s.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    });
  }));
}

async function run(proto, scenario) {
  const sub = join(dir, `${proto}-${scenario}`);
  await import('node:fs').then((fs) => fs.mkdirSync(sub, { mode: 0o755 }));
  const port = await freePort();
  const back = await freePort();
  const sock = join(sub, 'app.sock');
  const listen = proto === 'http' ? ['--port', String(back)] : ['--socket', sock, '--chmod', '666'];
  const extra = scenario === 'max-requests' ? ['--max-requests', '50', '--max-requests-jitter', '10'] : [];
  const t = tsgi(proto, listen, ['--log-level', 'info', ...extra]);
  await t.until(/\) ready/, 2, 'workers ready');
  const upstream = proto === 'http' ? `127.0.0.1:${back}` : `unix:${sock}`;
  const nginx = await startNginx(sub, nginxConf(sub, `
  upstream tsgi { server ${upstream}; keepalive 16;${proto === 'http' ? ' keepalive_timeout 4s;' : ''} }
  server { listen 127.0.0.1:${port}; location / { ${PASS[proto]} } }`));
  let finish;
  const done = new Promise((r) => { finish = r; });
  const load = postLoad(port, done);
  const started = Date.now();
  try {
    await sleep(500);
    if (scenario === 'reload') {
      // One SIGHUP every `interval` ms: a SIGHUP that comes while a reload is under way is run once that
      // one is over (several such make one more), so generations overlap as under an impatient operator.
      for (let i = 1; i <= reloads; i++) {
        t.child.kill('SIGHUP');
        await sleep(interval);
      }
      // Then until the last asked-for reload has its generation serving.
      const serving = () => t.log().split('\n').filter((l) => /reload: generation \d+ serving/.test(l)).length;
      for (let n = -1; n !== serving() || /another follows it\n[^\n]*$/.test(t.log());) { n = serving(); await sleep(1500); }
    } else {
      await sleep(seconds * 1000);
    }
  } finally {
    finish();
  }
  const r = await load;
  const secs = (Date.now() - started) / 1000;
  await t.stop();
  nginx.kill('SIGTERM');
  await new Promise((res) => nginx.once('exit', res));
  const errors = existsSync(join(sub, 'error.log')) ? readFileSync(join(sub, 'error.log'), 'utf8').split('\n') : [];
  const premature = errors.filter((l) => /prematurely closed/.test(l)).length;
  const other = errors.filter((l) => /\[(error|crit|alert|emerg)\]/.test(l) && !/prematurely closed/.test(l)).length;
  const recycled = t.log().split('(--max-requests): replacing it').length - 1;
  const generations = t.log().split('\n').filter((l) => /reload: generation \d+ serving/.test(l)).length;
  const name = scenario === 'reload' ? `${reloads} SIGHUPs (${generations} new generations)` : `--max-requests 50, ${seconds} s (${recycled} recycles)`;
  const lines = errors.filter((l) => /\[(error|crit|alert|emerg)\]/.test(l)).map((l) => l.replace(/^\S+ \S+ /, '').replace(/, client: .*$/, ''));
  return { proto, scenario: name, secs, ...r, premature, other, lines };
}

const rows = [];
try {
  for (const proto of (process.env.BENCH_PROTOCOLS ?? 'fastcgi,uwsgi,http').split(',')) {
    for (const scenario of (process.env.BENCH_SCENARIOS ?? 'reload,max-requests').split(',')) {
      const row = await run(proto, scenario);
      rows.push(row);
      console.error(`${proto} ${row.scenario}: ${row.requests} POSTs, ${row.non2xx} non-2xx, ${row.premature} prematurely closed`);
    }
  }
} finally {
  cleanup(dir);
}
console.log(`\ntsgi ${root === here ? '' : `(${root}) `}--workers 2 behind nginx (keepalive 16), wrk -c16 POST 2 KB, Node ${process.version}\n`);
console.log('| protocol | scenario | seconds | POSTs | non-2xx | socket errors | "prematurely closed" | other upstream errors |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.proto} | ${r.scenario} | ${r.secs.toFixed(1)} | ${r.requests} | ${r.non2xx} | ${r.socketErrors} | ${r.premature} | ${r.other} |`);
for (const r of rows) for (const l of r.lines.slice(0, 5)) console.log(`${r.proto} ${r.scenario}: ${l}`);
if (rows.some((r) => r.non2xx || r.socketErrors || r.premature || r.other)) process.exitCode = 1;
