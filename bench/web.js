// Shared by the web-server benchmarks (bench/matrix.js, bench/fastcgi.js,
// bench/uwsgi.js, bench/profile.js, bench/workers.js): start nginx and backends, load each
// target with wrk, interleaved, and report req/s, p99 latency and the
// backend's CPU time per request.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

export function need(...names) {
  for (const n of names) {
    if (spawnSync('sh', ['-c', `command -v ${n}`]).status !== 0) {
      console.error(`bench: ${n} is not installed (apt-get install ${n})`);
      process.exit(2);
    }
  }
}

export function runDir() {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-'));
  chmodSync(dir, 0o755); // nginx workers run as an unprivileged user
  return dir;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

const children = [];
process.on('exit', () => { for (const c of children) try { process.kill(-c.pid, 'SIGKILL'); } catch {} });
process.on('SIGINT', () => process.exit(130));

/** Starts a process in its own group; resolves once `ready()` holds. */
export async function start(name, cmd, args, ready, options = {}) {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'], ...options });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  children.push(child);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${err}`);
    if (await ready()) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not start: ${err}`);
}

export function nginxConf(dir, servers) {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/cb; fastcgi_temp_path ${dir}/ft; proxy_temp_path ${dir}/pt;
  uwsgi_temp_path ${dir}/ut; scgi_temp_path ${dir}/st;
${servers}
}
`;
}

export async function startNginx(dir, conf) {
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  return start('nginx', 'nginx', ['-p', dir, '-c', file, '-e', join(dir, 'error.log')], () => existsSync(join(dir, 'nginx.pid')));
}

function stat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/**
 * utime+stime of a process, in seconds (its threads included), or of a list
 * of processes (a master and its workers) summed. Children that have exited
 * and been waited for count too (cutime+cstime).
 */
export function cpuSeconds(pid) {
  if (Array.isArray(pid)) return pid.reduce((sum, p) => sum + cpuSeconds(p), 0);
  const f = stat(pid);
  // fields 14-17 of proc(5), in clock ticks (USER_HZ = 100)
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** CPU seconds of every process in process group `pgid` still alive (a master and its workers). */
export function groupCpuSeconds(pgid) {
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[2] is the process group; a child's CPU is counted in cutime/cstime (f[13], f[14]) once it has exited and been waited for.
      if (Number(f[2]) === pgid) total += (Number(f[11]) + Number(f[12]) + (Number(name) === pgid ? Number(f[13]) + Number(f[14]) : 0)) / 100;
    } catch { /* exited meanwhile */ }
  }
  return total;
}

/** utime and stime of a process apart, in seconds: user-space work and kernel work (system calls). */
export function cpuSplit(pid) {
  const f = stat(pid);
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
}

/** A process and its live descendants (e.g. php-fpm's master and workers). */
export function processTree(pid) {
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { parent.set(Number(d), Number(stat(d)[1])); } catch {}
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [p, pp] of parent) if (pp === tree[i]) tree.push(p);
  return tree;
}

/** One wrk run; `extra` are more wrk arguments (e.g. a Lua script), `env` its environment. */
export function wrk(url, seconds, connections, extra = [], env = process.env) {
  const r = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...extra, url], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const m = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99 = m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN;
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? (/Socket errors: (.*)/.exec(out)?.[1] ?? '');
  if (errors) console.error(`  ${url}: ${errors.trim()} errors/non-2xx`);
  return { requests, rps, p99, errors: errors.trim() };
}

export const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/**
 * targets: [{ name, url, pid, cpu? }] (cpu: the backend's CPU seconds so far, when it is more than one process). Each round runs every target once, in turn.
 * Returns and prints one row per target; ratios are to `targets[base]`.
 */
export function load(targets, { rounds, seconds, connections, base = 0 }) {
  const res = measure(targets, { rounds, seconds, connections }).map((r) => ({ ...r, all: r.rounds.rps }));
  const b = res[base];
  console.log(`\n${rounds} rounds x ${seconds}s, wrk -t1 -c${connections}, medians; ratios to "${b.name}"\n`);
  console.log('| target | req/s | p99 ms | backend CPU us/req | req/s ratio | CPU ratio |');
  console.log('|---|---|---|---|---|---|');
  for (const r of res) {
    console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(2)} | ${r.cpu.toFixed(1)} | ${(r.rps / b.rps).toFixed(2)}x | ${(r.cpu / b.cpu).toFixed(2)}x |`);
  }
  console.log('\nper-round req/s:');
  for (const r of res) console.log(`  ${r.name}: ${r.all.map((x) => x.toFixed(0)).join(' ')}`);
  return res;
}

/**
 * Checks that every target answers the hello body, warms each up, then runs
 * `rounds` rounds, each loading every target once in turn (so machine noise
 * hits all alike). targets: [{ name, url, pid (or a list of pids), cpu?,
 * checkUrl?, connections?, wrk?, env? }] (cpu: a function giving the backend's
 * CPU seconds so far, instead of pid; checkUrl: where the hello body is
 * checked, url by default; connections, wrk and env: this target's own wrk
 * connections, extra arguments and environment; before/after: called around
 * each run, after(w) returns more figures to keep, by name).
 * Returns per target the medians and every round's figures; `onRound(r)` is
 * called after each round.
 */
export function measure(targets, { rounds, seconds, connections, warmup = 1, onRound }) {
  const run = (t, s) => wrk(t.url, s, t.connections ?? connections, t.wrk, t.env);
  for (const t of targets) {
    const check = spawnSync('curl', ['-s', '-i', t.checkUrl ?? t.url], { encoding: 'utf8' });
    if (!/^HTTP\/1\.1 200/.test(check.stdout) || !check.stdout.includes('\r\n\r\nHello, world!\n')) {
      throw new Error(`${t.name}: unexpected answer ${JSON.stringify(check.stdout)}`);
    }
    if (warmup) run(t, warmup);
  }
  const rows = targets.map(() => ({ rps: [], p99: [], cpu: [], errors: [] }));
  for (let r = 0; r < rounds; r++) {
    targets.forEach((t, i) => {
      const cpu = t.cpu ?? (() => cpuSeconds(t.pid));
      t.before?.();
      const c0 = cpu();
      const w = run(t, seconds);
      const c1 = cpu();
      for (const [k, v] of Object.entries(t.after?.(w) ?? {})) (rows[i][k] ??= []).push(v);
      rows[i].rps.push(w.rps);
      rows[i].p99.push(w.p99);
      rows[i].cpu.push(((c1 - c0) / w.requests) * 1e6);
      if (w.errors) rows[i].errors.push(w.errors);
    });
    onRound?.(r);
  }
  return targets.map((t, i) => ({
    name: t.name, rps: median(rows[i].rps), p99: median(rows[i].p99), cpu: median(rows[i].cpu), rounds: rows[i],
  }));
}

export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}
