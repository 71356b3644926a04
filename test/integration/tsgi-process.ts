// Starts `tsgi …` as a real process (master and workers), reads its log,
// runs wrk against a port, and makes sure nothing is left behind: every
// process the master reported is gone once a test stops it.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { join } from 'node:path';
import { slow } from '../timing.js';
import { ROOT, STARTUP_MS, waitFor } from './servers.js';

export const BIN = join(ROOT, 'bin/tsgi.cjs');
export const WORKER_APP = join(ROOT, 'test/fixtures/worker-app.js');
/** The Node that runs tsgi in these tests (TSGI_TEST_NODE: another version's binary). */
export const NODE = process.env.TSGI_TEST_NODE ?? process.execPath;

export interface TsgiProcess {
  child: ChildProcess;
  log: () => string;
  /** Pids of the workers the master reported ready, in order. */
  readyPids: () => number[];
  /** Waits for `re` to appear in the log `count` times (by default as long as a start-up may take). */
  waitLog: (re: RegExp, what: string, count?: number, ms?: number) => Promise<void>;
  /** SIGTERM, then SIGKILL after `ms` (scaled by TSGI_TEST_SLOWNESS); resolves with the exit code, once no worker is left. */
  stop: (ms?: number) => Promise<number | null>;
  exited: Promise<number | null>;
}

/** Every tsgi started by a test, stopped in afterEach/afterAll. */
const started = new Set<TsgiProcess>();

/** `node bin/tsgi.cjs ARGS`. `node` picks another Node binary; `stdio` adds inherited fds (fd 3 on). */
export function startTsgi(args: string[], opts: { env?: Record<string, string>; node?: string; fds?: number[]; shell?: string } = {}): TsgiProcess {
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...(opts.fds ?? [])];
  const env = { PATH: process.env.PATH ?? '', ...opts.env };
  const child = opts.shell !== undefined
    ? spawn('/bin/sh', ['-c', opts.shell, 'sh', opts.node ?? NODE, BIN, ...args], { stdio, env, detached: true })
    : spawn(opts.node ?? NODE, [BIN, ...args], { stdio, env, detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const readyPids = (): number[] => [...out.matchAll(/worker \d+ \(pid (\d+), generation \d+\) ready/g)].map((m) => Number(m[1]));
  const allPids = (): number[] => [...new Set([...out.matchAll(/\(pid (\d+), generation/g)].map((m) => Number(m[1])))];
  const p: TsgiProcess = {
    child,
    log: () => out,
    readyPids,
    exited,
    waitLog: (re, what, count = 1, ms = STARTUP_MS) => waitFor(() => {
      const n = out.split('\n').filter((l) => re.test(l)).length;
      if (n < count && child.exitCode !== null) throw new Error(`tsgi exited (${child.exitCode}) before ${what}:\n${out}`);
      return n >= count;
    }, `${what}\n--- log ---\n${out}`, ms),
    stop: async (ms = 10_000) => {
      started.delete(p);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, slow(ms));
        await exited;
        clearTimeout(t);
      }
      // No worker outlives its master.
      await waitFor(() => allPids().every((pid) => !alive(pid)), 'every worker to exit');
      return child.exitCode;
    },
  };
  started.add(p);
  return p;
}

/** Stops whatever a test left running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((p) => p.stop()));
}

export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export interface WrkResult { requests: number; non2xx: number; socketErrors: number; output: string }

/** wrk against 127.0.0.1:port for `seconds`, bounded: a few connections, one thread. */
export function wrk(port: number, seconds: number, path = '/', connections = 8): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}${path}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('error', reject);
    child.on('exit', () => {
      const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? NaN);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
      const s = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
      const socketErrors = s ? Number(s[1]) + Number(s[2]) + Number(s[3]) + Number(s[4]) : 0;
      resolve({ requests, non2xx, socketErrors, output });
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GET over plain HTTP (node's fetch), status and text; a connection error becomes status 0. */
export async function httpGet(port: number, path: string): Promise<{ status: number; text: string }> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } });
    return { status: r.status, text: await r.text() };
  } catch (err) {
    return { status: 0, text: String(err) };
  }
}
