/**
 * The master process (`--workers N`): binds the listening sockets once and
 * supervises N workers that accept on them directly. It is never on a
 * request's path. It replaces workers that die (with backoff, so that a crash
 * loop cannot spin), recycles them (`--max-requests`), kills the ones whose
 * event loop is stuck (`--timeout`), and answers gunicorn's signals: HUP
 * reloads with no downtime, TERM/INT stop gracefully (twice: at once),
 * TTIN/TTOU add or remove a worker, USR1 reopens the log files.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Socket } from 'node:net';
import { dirname, resolve } from 'node:path';
import { log } from '../contract/log.js';
import { checkPrivileges } from '../server/privileges.js';
import { bindSocket, inherited, type BoundSocket } from '../server/bind.js';
import { systemdFds } from '../server/listen.js';
import { detach } from '../server/handoff.js';
import { openLogs, reopenLogs, writePid, type MasterMessage, type WorkerInfo } from './serve.js';
import { checkMessage, discard, guardChannel, readBoard } from './worker-channel.js';
import { parseAppSpec } from './load-app.js';
import { watchTree } from './watch-tree.js';
import { opt, type Settings } from './settings.js';
import { UsageError } from './options.js';

/** A new worker that fails to boot this many times in a row (outside a reload) stops the master. */
const BOOT_FAILURES = 3;

interface Worker {
  readonly id: number;
  readonly generation: number;
  readonly child: ChildProcess;
  state: 'booting' | 'ready' | 'retiring';
  lastPong: number;
  inFlight: string[];
  /** Why it is going away, when the master decided it. */
  reason?: string;
  /** The worker it replaces, retired once this one is ready. */
  replaces?: Worker;
  /** A replacement for it is booting (--max-requests). */
  recycling?: boolean;
  /** Told to retire handing its idle connections back (P11): the only time it may send one. */
  handingOff?: boolean;
  /** It sent something malformed (P13): nothing more from it is acted on. */
  distrusted?: boolean;
}

/** --max-workers when not given: four per CPU, and never below the --workers asked for (P13). */
export function defaultMaxWorkers(workers: number): number {
  return Math.max(4 * availableParallelism(), workers);
}

/** Runs the master until it is stopped; `reread` loads the settings again (SIGHUP). */
export async function runMaster(first: Settings, version: string, reread: () => Promise<Settings>): Promise<void> {
  let s = first;
  // P13: the pool has a ceiling, whatever SIGTTIN or a reloaded config asks for.
  const maxWorkers = (): number => opt<number>(s.values, 'max-workers') ?? defaultMaxWorkers(s.workers);
  if (s.workers > maxWorkers()) throw new UsageError(`--workers ${s.workers} is more than --max-workers ${maxWorkers()}`, s.command);
  // --user/--group are checked here, once, rather than by every worker failing to boot.
  checkPrivileges(opt(s.values, 'user'), opt(s.values, 'group'));
  const logFiles = openLogs(s.values, false); // the workers write the access log; the master creates (and reopens) it for them
  const fds = systemdFds();
  // The pid file before the bind, so that a refused one (P12) leaves no socket file behind.
  const removePid = writePid(s.values);
  let sockets: BoundSocket[];
  try {
    sockets = fds.length > 0 ? fds.map(inherited) : [await bindSocket(s.listen)];
  } catch (err) {
    removePid();
    throw err;
  }
  const workers = new Set<Worker>();
  let target = s.workers;
  let generation = 1;
  let reloading: number | null = null;
  /** A reload asked for while one was under way: run once that one is over. */
  let reloadAgain: string | null = null;
  const afterReload = (): void => {
    const why = reloadAgain;
    reloadAgain = null;
    if (why !== null) void reload(why);
  };
  let bootFailures = 0;
  let stopping = false;
  let exitCode = 0;
  const crashes: number[] = [];
  const timeoutMs = (opt<number>(s.values, 'timeout') ?? 0) * 1000;

  log('info', `tsgi ${version} on Node ${process.version}: ${s.command} ${s.app} on ${sockets.map((x) => x.address.text).join(', ')}, ` +
    `${target} worker${target === 1 ? '' : 's'}, master pid ${process.pid}`);

  const name = (w: Worker): string => `worker ${w.id} (pid ${w.child.pid}, generation ${w.generation})`;
  const live = (gen: number): Worker[] => [...workers].filter((w) => w.generation === gen && w.state !== 'retiring');

  const spawnWorker = (id: number, gen: number, replaces?: Worker): Worker => {
    const max = opt<number>(s.values, 'max-requests') ?? 0;
    const jitter = opt<number>(s.values, 'max-requests-jitter') ?? 0;
    const board = timeoutMs > 0 ? 3 + sockets.length : undefined;
    const info: WorkerInfo = {
      id, generation: gen, fds: sockets.length, multiprocess: target > 1, maxRequests: max > 0 ? max + Math.floor(Math.random() * (jitter + 1)) : 0,
      ...(board !== undefined ? { boardFd: board } : {}),
    };
    const child = fork(process.argv[1]!, process.argv.slice(2), {
      env: { ...process.env, TSGI_WORKER: JSON.stringify(info) },
      // R4: the workers pace their body buffers with V8's gc(), exposed by an ordinary start-up flag (gc-pacer.ts).
      execArgv: process.execArgv.includes('--expose-gc') ? process.execArgv : [...process.execArgv, '--expose-gc'],
      // The listening sockets become the worker's fd 3, 4, …; then the in-flight board's pipe.
      stdio: ['ignore', 'inherit', 'inherit', ...sockets.map((x) => x.fd), ...(board !== undefined ? ['pipe' as const] : []), 'ipc'],
    });
    const w: Worker = { id, generation: gen, child, state: 'booting', lastPong: Date.now(), inFlight: [], ...(replaces ? { replaces } : {}) };
    if (board !== undefined) {
      readBoard(child.stdio[board] as NodeJS.ReadableStream, (list) => { if (!w.distrusted) w.inFlight = list; }, (why) => untrusted(w, why));
    }
    workers.add(w);
    guardChannel(child, (why) => untrusted(w, why));
    child.on('message', (m: unknown, handle: unknown) => onMessage(w, m, handle));
    child.on('exit', (code, signal) => onExit(w, code, signal));
    child.on('error', (err) => log('error', `${name(w)}: ${err.message}`));
    return w;
  };

  /**
   * Retires a worker. With `handoff` (P11: others serve on), a ready worker is
   * asked to hand its idle connections back instead of closing them.
   */
  const retire = (w: Worker, reason: string, handoff = false): void => {
    if (w.state === 'retiring') return;
    const ready = w.state === 'ready';
    w.state = 'retiring';
    w.reason = reason;
    if (handoff && ready && !w.distrusted && w.child.connected) {
      w.handingOff = true;
      w.child.send({ t: 'stop', handoff: true } satisfies MasterMessage, (err) => { if (err) w.child.kill('SIGTERM'); });
    } else {
      // A signal, not a message: a worker still loading its app has no message handler yet
      // (and SIGTERM's default action is then the right one).
      w.child.kill('SIGTERM');
    }
    // A worker that does not finish within the grace period is killed.
    setTimeout(() => { if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL'); }, s.gracefulMs + 1000).unref();
  };

  /** P13: a worker sent something malformed: it is logged and replaced, and the master carries on. */
  const untrusted = (w: Worker, why: string): void => {
    if (w.distrusted) return;
    w.distrusted = true;
    w.inFlight = [];
    // What it sent is quoted in the reason: only printable ASCII of it reaches the log (no forged lines).
    log('error', `${name(w)} sent ${why.slice(0, 300).replace(/[^\x20-\x7e]/g, '?')}; replacing it`);
    if (w.state !== 'retiring' && !stopping) {
      const wasLive = w.state === 'ready' || w.state === 'booting';
      w.state = 'retiring';
      w.reason = 'untrusted';
      if (wasLive && w.generation === generation) replace(w.id, w.generation);
    }
    w.child.kill('SIGTERM');
    setTimeout(() => { if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL'); }, s.gracefulMs + 1000).unref();
  };

  /** P11: the next worker to take a handed-off connection: a ready one of the serving generation. */
  let turn = 0;
  const taker = (from: Worker): Worker | undefined => {
    const ready = live(generation).filter((x) => x.state === 'ready' && x !== from && !x.distrusted && x.child.connected);
    return ready.length === 0 ? undefined : ready[turn++ % ready.length];
  };

  /** P11: passes a connection a retiring worker gave up to a worker that serves on. */
  const handOn = (from: Worker, socket: Socket, l: number, data: string): void => {
    // This process must not read from it either (Node started reading when the socket arrived).
    const extra = detach(socket);
    const to = taker(from);
    if (extra === null || to === undefined) {
      log('warn', `${name(from)} handed back a connection and ${to === undefined ? 'no worker is ready to take it' : 'it cannot be passed on'}: closing it`);
      socket.destroy();
      return;
    }
    const rest = extra.length === 0 ? data : Buffer.concat([Buffer.from(data, 'base64'), extra]).toString('base64');
    to.child.send({ t: 'adopt', l, data: rest } satisfies MasterMessage, socket, {}, (err) => {
      if (err) log('warn', `could not pass a connection to ${name(to)}: ${err.message}`);
      // Once sent, this copy has no handle left: destroying it closes nothing, and tells Node it is gone.
      socket.destroy();
    });
  };

  const onMessage = (w: Worker, raw: unknown, handle: unknown): void => {
    if (w.distrusted) { discard(handle); return; }
    const m = checkMessage(raw, handle, sockets.length);
    if (typeof m === 'string') { discard(handle); untrusted(w, m); return; }
    switch (m.t) {
      case 'handoff':
        if (!w.handingOff) { discard(handle); untrusted(w, 'a connection it was not asked to hand back'); return; }
        handOn(w, handle as Socket, m.l, m.data);
        return;
      case 'ready':
        w.state = w.state === 'retiring' ? 'retiring' : 'ready';
        w.lastPong = Date.now();
        bootFailures = 0;
        log('info', `${name(w)} ready`);
        if (w.replaces) retire(w.replaces, 'max-requests', true);
        if (reloading === w.generation && live(w.generation).every((x) => x.state === 'ready') && live(w.generation).length >= target) {
          log('info', `reload: generation ${w.generation} serving`);
          generation = w.generation; // first: the old workers hand their connections to this one
          for (const old of workers) if (old.generation < w.generation) retire(old, 'reload', true);
          reloading = null;
          afterReload();
        }
        return;
      case 'pong':
        w.lastPong = Date.now();
        if (timeoutMs === 0) w.inFlight = m.inFlight; // with --timeout, the board is fresher
        return;
      case 'retire':
        if (w.state !== 'ready' || stopping) return;
        if (w.recycling) return;
        log('info', `${name(w)} served ${m.served} requests (--max-requests): replacing it`);
        // It keeps serving until its replacement is ready: no request is refused meanwhile.
        w.recycling = true;
        spawnWorker(w.id, w.generation, w);
        return;
      case 'fatal':
        log('error', `${name(w)}: ${m.error}${m.inFlight.length ? `; it was running: ${m.inFlight.join('; ')}` : ''}; replacing it`);
        if (w.state !== 'retiring' && !stopping) {
          // Its replacement boots while it finishes what it has in flight.
          w.state = 'retiring';
          w.reason = 'crashed';
          replace(w.id, w.generation);
        }
        return;
    }
  };
  const onExit = (w: Worker, code: number | null, signal: NodeJS.Signals | null): void => {
    workers.delete(w);
    const how = signal !== null ? `killed by ${signal}` : `exited with status ${code}`;
    if (stopping) {
      if (workers.size === 0) finish(exitCode);
      return;
    }
    if (w.state === 'booting') {
      log('error', `${name(w)} failed to boot (${how}); its error is above`);
      if (reloading === w.generation) {
        reloading = null;
        for (const x of workers) if (x.generation === w.generation) retire(x, 'failed reload');
        log('error', `reload failed: generation ${generation} keeps serving`);
        afterReload();
        return;
      }
      if (++bootFailures >= BOOT_FAILURES && ![...workers].some((x) => x.state === 'ready')) {
        log('error', `the app failed to boot ${bootFailures} times in a row; stopping`);
        stopAll(1);
        return;
      }
    } else if (w.state === 'retiring') {
      const replaced = w.reason === 'crashed' || w.reason === 'untrusted';
      if (!replaced) log('info', `${name(w)} ${how} (${w.reason ?? 'retired'})`);
      if (!replaced && w.reason !== 'timeout') return;
    } else {
      log('error', `${name(w)} ${how}${w.inFlight.length ? `; it was running: ${w.inFlight.join('; ')}` : ''}; replacing it`);
    }
    if (w.reason === 'crashed' || w.reason === 'untrusted') return; // its replacement was started when it misbehaved
    if (w.generation !== generation || live(generation).length >= target) return;
    replace(w.id, generation);
  };

  /** Starts a worker in place of one that died. Backoff: the first deaths are replaced at once; a loop of them slows down (up to 10 s). */
  const replace = (id: number, gen: number): void => {
    const now = Date.now();
    crashes.push(now);
    while (crashes.length > 0 && crashes[0]! < now - 30_000) crashes.shift();
    const delay = crashes.length <= 2 ? 0 : Math.min(10_000, 250 * 2 ** (crashes.length - 3));
    if (delay > 0) log('warn', `${crashes.length} worker deaths in 30 s: next start in ${delay} ms`);
    setTimeout(() => { if (!stopping) spawnWorker(id, gen); }, delay);
  };

  const reload = async (why: string): Promise<void> => {
    if (stopping) return;
    if (reloading !== null) {
      log('info', `${why}: a reload is under way; another follows it`);
      reloadAgain = why;
      return;
    }
    try {
      const next = await reread();
      const cap = opt<number>(next.values, 'max-workers') ?? defaultMaxWorkers(next.workers);
      if (next.workers > cap) throw new Error(`--workers ${next.workers} is more than --max-workers ${cap}`);
      s = next;
      target = s.workers;
    } catch (err) {
      log('error', `${why}: the config cannot be read, nothing changed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const gen = generation + 1;
    reloading = gen;
    log('info', `${why}: starting generation ${gen} (${target} worker${target === 1 ? '' : 's'})`);
    for (let id = 1; id <= target; id++) spawnWorker(id, gen);
  };

  let listening = true;
  /**
   * P11: on a stop the listening sockets close at once, so that the web
   * server's new connections are refused (it can try another backend)
   * instead of waiting in a backlog no worker accepts from any more, to be
   * reset when the master exits.
   */
  const closeListeners = (): void => {
    if (!listening) return;
    listening = false;
    for (const x of sockets) x.close();
  };
  let finishing = false;
  const finish = (code: number): void => {
    if (finishing) return;
    finishing = true;
    closeListeners();
    removePid();
    log('info', `master ${process.pid} stopped`);
    process.exit(code);
  };
  const stopAll = (code: number, now = false): void => {
    stopping = true;
    exitCode = code;
    closeListeners();
    if (workers.size === 0) { finish(code); return; }
    for (const w of workers) {
      if (now) w.child.kill('SIGKILL');
      else if (w.state !== 'retiring') retire(w, 'stop');
    }
    if (now) finish(code);
  };

  let signals = 0;
  const onStop = (sig: string): void => {
    if (++signals > 1) {
      log('warn', `${sig} again: stopping now`);
      stopAll(0, true);
      return;
    }
    log('info', `${sig}: stopping; workers finish their requests (up to ${s.gracefulMs / 1000} s; ${sig} again stops at once)`);
    stopAll(0);
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', () => void reload('SIGHUP'));
  process.on('SIGTTIN', () => {
    if (stopping) return;
    if (target >= maxWorkers()) { log('warn', `SIGTTIN: already at --max-workers ${maxWorkers()}`); return; }
    target++;
    log('info', `SIGTTIN: ${target} workers`);
    const used = new Set(live(generation).map((w) => w.id));
    let id = 1;
    while (used.has(id)) id++;
    spawnWorker(id, generation);
  });
  process.on('SIGTTOU', () => {
    if (target <= 1) { log('warn', 'SIGTTOU: already down to one worker'); return; }
    target--;
    const last = live(generation).sort((a, b) => b.id - a.id)[0];
    log('info', `SIGTTOU: ${target} workers`);
    if (last) retire(last, 'SIGTTOU', true);
  });
  // P13: the master outlives whatever a worker makes Node's IPC code throw in it (its
  // messages are parsed in this process); a fault of the master itself is logged the same way.
  process.on('uncaughtException', (err) => {
    log('error', `master: uncaught exception (it keeps running): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  });
  process.on('SIGUSR1', () => {
    reopenLogs(logFiles);
    for (const w of workers) w.child.kill('SIGUSR1');
  });

  // Heartbeat: every worker answers a ping from its event loop; one stuck longer than --timeout is killed.
  const beat = setInterval(() => {
    const now = Date.now();
    for (const w of workers) {
      if (w.state === 'booting' || !w.child.connected) continue;
      if (timeoutMs > 0 && w.state === 'ready' && now - w.lastPong > timeoutMs) {
        log('error', `${name(w)} has not answered for ${((now - w.lastPong) / 1000).toFixed(1)} s (--timeout ${timeoutMs / 1000}): its event loop is stuck; killing it` +
          `${w.inFlight.length ? `; it was running: ${w.inFlight.join('; ')}` : ''}`);
        w.state = 'retiring';
        w.reason = 'timeout';
        w.child.kill('SIGKILL');
        continue;
      }
      w.child.send({ t: 'ping' });
    }
  }, timeoutMs > 0 ? Math.max(100, Math.min(1000, timeoutMs / 4)) : 1000);
  beat.unref();

  if (s.values.reload === true) {
    // --reload (development): a changed file under the app's directory starts a new generation.
    const dir = dirname(resolve(parseAppSpec(s.app).path));
    let pending: ReturnType<typeof setTimeout> | undefined;
    // tsgi's own files (logs, pid) may live there too: writing them must not reload.
    const own = new Set(['access-log', 'error-log', 'pid'].map((k) => opt<string>(s.values, k)).filter((p): p is string => p !== undefined && p !== '-').map((p) => resolve(p)));
    // Every directory watched, not every file: an atomic save (a new inode) stays seen (watch-tree.ts).
    watchTree(dir, (file) => {
      clearTimeout(pending);
      pending = setTimeout(() => void reload(`${file} changed`), 150);
    }, (file) => /(^|\/)(node_modules|\.git)(\/|$)/.test(file) || own.has(resolve(dir, file)));
    log('info', `--reload: watching ${dir}`);
  }

  for (let id = 1; id <= target; id++) spawnWorker(id, generation);
}
