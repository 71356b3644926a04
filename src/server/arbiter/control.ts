/**
 * O2, O3: the master's control socket. A unix socket of mode 0600 from the
 * first instant (P12), owned by the user who started the master (root,
 * before the workers drop privileges): only that user (and root) may
 * connect, never the workers' run user, so a compromised app cannot steer
 * its own pool. One request per connection: a line of JSON
 * (`{"cmd":"status"}`, `{"cmd":"scale","n":3}`), at most MAX_LINE bytes,
 * within IDLE_MS; one line of JSON back (`{"ok":true,…}` or
 * `{"ok":false,"error":"…"}`) once the outcome is known.
 */
import * as net from 'node:net';
import { log } from '../../contract/log.js';
import { listen } from '../listen.js';
import type { PoolControl, PoolView } from './pool-view.js';
import type { PoolStats } from './pool-stats.js';
import { STATUS_CLASSES } from '../worker-stats.js';

/** Longest request line, and how long a client may take to send it. */
const MAX_LINE = 4096;
const IDLE_MS = 10_000;
/** How often an outcome is looked at while a client waits for it. */
const POLL_MS = 100;

type Reply = Record<string, unknown>;

/** The running control socket. */
export interface ControlServer {
  readonly path: string;
  close(): void;
}

/** What the control socket answers with; `collect` refreshes the workers' reports first. */
export interface ControlDeps {
  readonly pool: PoolControl;
  readonly stats: PoolStats;
  collect(): Promise<void>;
}

/** `tsgi status --json`: the pool and each worker, as the master knows them now. */
export function statusOf(view: PoolView, stats: PoolStats, started: number): Reply {
  const totals = stats.totals();
  const workers = [...view.workers].sort((a, b) => a.generation - b.generation || a.id - b.id).map((w) => {
    const s = stats.of(w);
    return {
      id: w.id, pid: w.child.pid ?? null, generation: w.generation, state: w.state,
      requests: s === undefined ? null : s.req.reduce((a, b) => a + b, 0),
      inFlight: s?.n ?? null,
      requestsInFlight: (s?.flight ?? []).map((f) => ({ method: f.m, path: f.p, age: Math.round(f.age * 1000) / 1000 })),
      rss: s?.rss ?? null,
      elu: s === undefined ? null : Math.round(s.elu * 10000) / 10000,
    };
  });
  return {
    ok: true,
    master: { pid: process.pid, uptime: Math.round((Date.now() - started) / 1000), generation: view.generation, reloading: view.reloading, target: view.target, maxWorkers: view.maxWorkers, autoscale: view.autoscale ?? null, stopping: view.stopping },
    requests: Object.fromEntries(STATUS_CLASSES.map((c, i) => [c, totals.req[i]!])),
    workers,
  };
}

/** Waits until `done` says something (a reply), or `ms` have passed (then `late`). */
async function until(ms: number, done: () => Reply | null, late: () => Reply): Promise<Reply> {
  const end = Date.now() + ms;
  for (;;) {
    const r = done();
    if (r !== null) return r;
    if (Date.now() > end) return late();
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
}

const fail = (error: string): Reply => ({ ok: false, error });

/** Carries out one command; the reply says what happened. */
async function command(d: ControlDeps, req: Record<string, unknown>, started: number): Promise<Reply> {
  const { pool } = d;
  const v = pool.view();
  // How long an outcome may take: every new worker booting, the old ones finishing (--graceful-timeout).
  const wait = v.gracefulMs + 60_000;
  switch (req.cmd) {
    case 'status':
      await d.collect();
      return statusOf(pool.view(), d.stats, started);
    case 'reload': {
      if (v.stopping) return fail('the master is stopping');
      const before = v.generation;
      await pool.reload('tsgi reload');
      return until(wait, () => {
        const now = pool.view();
        if (now.reloading !== null) return null;
        return now.generation > before
          ? { ok: true, message: `reloaded: generation ${now.generation} serving (${now.workers.filter((w) => w.generation === now.generation && w.state === 'ready').length} workers)` }
          : fail(`reload failed: generation ${now.generation} keeps serving (the master's error log says why)`);
      }, () => fail(`reload still under way after ${wait / 1000} s`));
    }
    case 'stop':
      if (v.stopping) return fail('the master is already stopping');
      pool.requestStop('tsgi stop');
      return { ok: true, message: `stopping: master ${process.pid} and ${v.workers.length} worker(s) finish their requests (up to ${v.gracefulMs / 1000} s)`, pid: process.pid };
    case 'scale': {
      const n = req.n;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) return fail('scale needs a number of workers, 1 or more');
      if (v.stopping) return fail('the master is stopping');
      if (v.reloading !== null) return fail(`a reload is under way (generation ${v.reloading}); scale once it is over`);
      const refused = pool.scale(n, 'tsgi scale');
      if (refused !== null) return fail(refused);
      return until(wait, () => {
        const now = pool.view();
        const gen = now.workers.filter((w) => w.generation === now.generation);
        const ready = gen.filter((w) => w.state === 'ready').length;
        if (now.target !== n) return fail(`the pool was set to ${now.target} workers meanwhile`);
        return ready === n && !gen.some((w) => w.state === 'booting') ? { ok: true, message: `${n} worker${n === 1 ? '' : 's'} ready (generation ${now.generation})` } : null;
      }, () => fail(`scale ${n}: not reached within ${wait / 1000} s (the master's error log says why)`));
    }
    default:
      return fail(`unknown command ${typeof req.cmd === 'string' ? JSON.stringify(req.cmd.slice(0, 40)) : `of type ${typeof req.cmd}`}: expected status, reload, stop or scale`);
  }
}

/** Listens on `path` (mode 0600 from the first instant) and answers commands. */
export async function serveControl(path: string, d: ControlDeps): Promise<ControlServer> {
  const started = Date.now();
  const server = net.createServer((sock) => {
    let buf = '';
    let done = false;
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    sock.on('error', () => { /* the client went away: nothing to answer */ });
    const answer = (r: Reply, end = true): void => {
      done = true;
      sock.setTimeout(0);
      if (sock.destroyed) return;
      sock.write(`${JSON.stringify(r)}\n`);
      if (end) sock.end();
    };
    sock.on('data', (chunk: Buffer) => {
      if (done) return;
      buf += chunk.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_LINE) { answer(fail(`a request longer than ${MAX_LINE} bytes`)); sock.destroy(); }
        return;
      }
      done = true;
      let req: unknown;
      try { req = JSON.parse(Buffer.from(buf.slice(0, nl), 'latin1').toString('utf8')); } catch { req = null; }
      if (typeof req !== 'object' || req === null || Array.isArray(req)) { answer(fail('a request is one line of JSON: {"cmd":"status"}')); return; }
      const cmd = (req as Reply).cmd;
      const n = (req as Reply).n;
      log(cmd === 'status' ? 'debug' : 'info', `control socket: ${typeof cmd === 'string' ? cmd.replace(/[^\x20-\x7e]/g, '?').slice(0, 40) : '?'}${cmd === 'scale' && typeof n === 'number' ? ` ${n}` : ''}`);
      command(d, req as Reply, started).then(
        // After `stop` the connection stays open: the client sees it close when the master is gone.
        (r) => answer(r, !(cmd === 'stop' && r.ok === true)),
        (err: unknown) => answer(fail(err instanceof Error ? err.message : String(err))),
      );
    });
  });
  server.maxConnections = 16;
  const { cleanup } = await listen(net, server, { socket: path, chmod: '600' });
  return { path, close: () => { server.close(); cleanup(); } };
}
