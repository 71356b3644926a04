// Starts real web servers (Apache, nginx, fcgiwrap) on loopback under a temp
// dir, from the config files in apache/ and nginx/. A missing binary skips the
// suite loudly, or fails it when TSGI_REQUIRE_SERVERS=1 (CI).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../timing.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const SEARCH = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];

/** Full path of an executable, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of SEARCH) {
    if (!dir) continue;
    const p = join(dir, name);
    try { accessSync(p, constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

/**
 * Whether the suite can run. Missing binaries: a loud warning and a skip, or,
 * with TSGI_REQUIRE_SERVERS=1, an error that fails the run.
 */
export function serversAvailable(suite: string, names: string[]): boolean {
  const missing = names.filter((n) => !which(n));
  if (missing.length === 0) return true;
  const msg = `${suite}: ${missing.join(', ')} not installed`;
  if (process.env.TSGI_REQUIRE_SERVERS === '1') throw new Error(`${msg}, and TSGI_REQUIRE_SERVERS=1 forbids skipping`);
  process.stderr.write(`\n!!!!!!!!\n!!! SKIPPING ${msg} (apt-get install nginx apache2 fcgiwrap)\n!!!!!!!!\n\n`);
  return false;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/**
 * Polls `check` until it returns true; fails after `ms`, scaled by TSGI_TEST_SLOWNESS (test/timing.ts).
 * The deadline only bounds how long a failure takes to show: it asserts nothing about speed.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  await waitUntil(check, what, ms, 25);
}

/**
 * How long a web server or tsgi may take to start listening. Tests start several at once
 * (nginx, Apache and tsgi's master and workers) on two busy cores: a generous bound, since
 * the wait ends as soon as the port answers.
 */
export const STARTUP_MS = 30_000;

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** A temp dir the web server's unprivileged user can read. */
export function runDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Writes a cgi-bin script that runs `tsgi cgi APP` with this repo's build. */
export function cgiScript(dir: string, name: string, app: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nexec ${process.execPath} ${ROOT}/bin/tsgi.cjs cgi ${app}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** The unprivileged user Apache switches to when started as root. */
export function serverUser(): { user: string; group: string } {
  if (process.getuid?.() !== 0) {
    const user = spawnSync('id', ['-un']).stdout.toString().trim();
    const group = spawnSync('id', ['-gn']).stdout.toString().trim();
    return { user, group };
  }
  return { user: 'www-data', group: 'www-data' };
}

/** Fails early, with the fix, when the server user cannot read the repo (e.g. a clone under /root). */
export function checkReadableBy(user: string, path: string): void {
  if (process.getuid?.() !== 0) return;
  const r = spawnSync('runuser', ['-u', user, '--', 'test', '-r', path]);
  if (r.status !== 0) {
    throw new Error(`${user} cannot read ${path}: Apache runs CGI scripts as ${user}. ` +
      'Give the directories above the repo o+x (chmod o+x), or clone it under a readable path.');
  }
}

export interface Running {
  child: ChildProcess;
  dir: string;
  log: () => string;
  stop: () => Promise<void>;
}

function track(child: ChildProcess, dir: string, logFile: string): Running {
  let output = '';
  child.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
  return {
    child,
    dir,
    log: () => output + (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      // Each server runs in its own process group (Apache prefork signals its whole group on shutdown).
      const kill = (sig: NodeJS.Signals): void => { try { process.kill(-child.pid!, sig); } catch { /* gone */ } };
      kill('SIGTERM');
      setTimeout(() => kill('SIGKILL'), 5000).unref();
    }),
  };
}

/** Apache with apache/NAME, with its ${TSGI_*} variables set. */
export async function startApache(conf: string, env: Record<string, string>): Promise<Running & { port: number }> {
  const port = await freePort();
  const dir = env.TSGI_RUN_DIR!;
  const { user, group } = serverUser();
  const child = spawn(which('apache2') ?? which('httpd')!, ['-f', join(ROOT, 'apache', conf), '-DFOREGROUND'], {
    detached: true,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TSGI_PORT: String(port), TSGI_USER: user, TSGI_GROUP: group, ...env },
  });
  return listening('apache', track(child, dir, join(dir, 'error.log')), port);
}

/** Waits until a started server accepts connections on `port`; fails with its log if it exits. */
async function listening(name: string, r: Running, port: number): Promise<Running & { port: number }> {
  await waitFor(async () => {
    if (r.child.exitCode !== null) throw new Error(`${name} exited: ${r.log()}`);
    return portOpen(port);
  }, `${name} to listen`, STARTUP_MS);
  return { ...r, port };
}

/** Renders nginx/NAME with @KEY@ placeholders and starts nginx on it. */
export async function startNginx(conf: string, vars: Record<string, string>): Promise<Running & { port: number }> {
  const port = await freePort();
  const dir = vars.RUN_DIR!;
  let text = readFileSync(join(ROOT, 'nginx', conf), 'utf8');
  for (const [k, v] of Object.entries({ PORT: String(port), ...vars })) text = text.replaceAll(`@${k}@`, v);
  if (/@[A-Z_]+@/.test(text)) throw new Error(`unfilled placeholder in nginx/${conf}: ${/@[A-Z_]+@/.exec(text)![0]}`);
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, text);
  const child = spawn(which('nginx')!, ['-p', dir, '-c', file, '-e', join(dir, 'error.log')], { detached: true, env: { PATH: process.env.PATH ?? '' } });
  return listening('nginx', track(child, dir, join(dir, 'error.log')), port);
}

/** fcgiwrap on a unix socket in `dir`. */
export async function startFcgiwrap(dir: string): Promise<Running & { socket: string }> {
  const socket = join(dir, 'fcgiwrap.sock');
  const child = spawn(which('fcgiwrap')!, ['-c', '4', '-s', `unix:${socket}`], { detached: true, env: { PATH: process.env.PATH ?? '' } });
  const r = track(child, dir, join(dir, 'fcgiwrap.log'));
  await waitFor(() => existsSync(socket), 'fcgiwrap socket', STARTUP_MS);
  chmodSync(socket, 0o666); // nginx workers run as an unprivileged user
  return { ...r, socket };
}
