/**
 * The master process (`--workers N`): it binds the listening sockets once and
 * supervises N workers that accept on them directly; it is never on a
 * request's path. One method per job: spawn, reap, replace (with backoff),
 * recycle (`--max-requests`), murder the stuck (`--timeout`), reload, stop,
 * and one handler per signal (HUP, TERM/INT, TTIN/TTOU, USR1). It reads no
 * settings: the CLI hands it plain values and callbacks (options.ts).
 */
import { fork } from 'node:child_process';
import type { Socket } from 'node:net';
import { log } from '../../contract/log.js';
import { checkPrivileges } from '../privileges.js';
import { bindSocket, inherited, type BoundSocket } from '../bind.js';
import { systemdFds } from '../listen.js';
import { detach } from '../handoff.js';
import type { MasterMessage, WorkerInfo } from './messages.js';
import { checkMessage, discard, guardChannel, readBoard } from './worker-channel.js';
import { Backoff, Worker } from './worker.js';
import type { ArbiterOptions, PoolSettings } from './options.js';
import { Operations } from './operations.js';
import type { PoolControl, PoolView } from './pool-view.js';
import type { Duplex } from 'node:stream';
import { logSlow, SlowRequests, StackPipe, stackThenKill } from './stacks.js';
import { decideScale, initialScaleState } from './autoscale.js';

/** A new worker that fails to boot this many times in a row (outside a reload) stops the master. */
const BOOT_FAILURES = 3;

/** The master of a pool of workers: `Arbiter.start()`, then `run()`; it ends the process when it stops. */
export class Arbiter implements PoolControl {
  private readonly workers = new Set<Worker>();
  private readonly backoff = new Backoff();
  private pool: PoolSettings;
  /** How many workers the serving generation should have (--workers, moved by TTIN/TTOU). */
  private target: number;
  /** The generation that serves; a reload starts the next one. */
  private generation = 1;
  /** The generation a reload is starting, if one is under way. */
  private reloading: number | null = null;
  /** A reload asked for while one was under way: run once that one is over. */
  private reloadAgain: string | null = null;
  private bootFailures = 0;
  /** Running, then stopping (the listeners are closed), then finished (the process exits). */
  private phase: 'running' | 'stopping' | 'finished' = 'running';
  private exitCode = 0;
  /** TERM/INT received: a second one stops at once. */
  private stopSignals = 0;
  /** P11: round-robin over the workers that take handed-off connections. */
  private turn = 0;
  /** O1–O3: /metrics and the control socket, when asked for. */
  private ops: Operations | null = null;
  /** O5: what the autoscaler remembers between samples. */
  private scaleState = initialScaleState;

  /**
   * Checks the run user, opens the logs, writes the pid file, binds, and
   * takes the signals; `run()` then starts the workers.
   */
  static async start(o: ArbiterOptions): Promise<Arbiter> {
    checkPrivileges(o.user, o.group);
    const reopenLogs = o.openLogs(); // the workers write the access log; the master creates (and reopens) it for them
    const fds = systemdFds();
    // P12: the pid file before the bind, so that a refused one leaves no socket file behind.
    const removePid = o.writePid();
    let sockets: BoundSocket[];
    try {
      sockets = fds.length > 0 ? fds.map(inherited) : [await bindSocket(o.listen)];
    } catch (err) {
      removePid();
      throw err;
    }
    const a = new Arbiter(o, sockets, removePid, reopenLogs);
    // O5: the autoscaler reads the workers' stats reports, which the operating side asks for.
    if (o.metrics !== undefined || o.control !== undefined || o.pool.scale !== undefined) {
      const ops = new Operations(a, o);
      try { await ops.open(); } catch (err) { for (const x of sockets) x.close(); removePid(); throw err; }
      a.ops = ops;
    }
    log('info', `tsgi ${o.version} on Node ${process.version}: ${o.command} ${o.app} on ${sockets.map((x) => x.address.text).join(', ')}, ` +
      `${a.target} worker${a.target === 1 ? '' : 's'}, master pid ${process.pid}`);
    a.handleSignals();
    // Heartbeat: every worker answers a ping from its event loop; one stuck longer than --timeout is killed.
    setInterval(() => a.murder(), o.timeoutMs > 0 ? Math.max(100, Math.min(1000, o.timeoutMs / 4)) : 1000).unref();
    setInterval(() => a.autoscale(), 1000).unref();
    return a;
  }

  private constructor(private readonly o: ArbiterOptions, private readonly sockets: BoundSocket[], private readonly removePid: () => void, private readonly reopenLogs: () => void) {
    this.pool = o.pool;
    this.target = o.pool.workers;
  }

  /** Starts the first generation's workers. */
  run(): void {
    for (let id = 1; id <= this.target; id++) this.spawn(id, this.generation);
  }

  private get stopping(): boolean { return this.phase !== 'running'; }

  /** The workers of generation `gen` that are not going away. */
  private live(gen: number): Worker[] {
    return [...this.workers].filter((w) => w.generation === gen && w.state !== 'retiring');
  }

  /** Forks worker `id` of generation `gen` on the listening sockets. */
  private spawn(id: number, gen: number, replaces?: Worker): Worker {
    const { maxRequests: max, maxRequestsJitter: jitter } = this.pool;
    const sockets = this.sockets;
    // O4: with --timeout or --slow-log, the in-flight board and the stack pipe follow the sockets.
    const watched = this.o.timeoutMs > 0 || (this.o.slowLogMs ?? 0) > 0;
    const board = watched ? 3 + sockets.length : undefined;
    const stack = watched ? 4 + sockets.length : undefined;
    const info: WorkerInfo = {
      id, generation: gen, fds: sockets.length, multiprocess: this.target > 1 || (this.pool.scale?.max ?? 0) > 1, maxRequests: max > 0 ? max + Math.floor(Math.random() * (jitter + 1)) : 0,
      ...(board !== undefined ? { boardFd: board } : {}), ...(this.ops !== null ? { stats: true } : {}),
      ...(stack !== undefined ? { stackFd: stack } : {}),
    };
    const child = fork(process.argv[1]!, process.argv.slice(2), {
      env: { ...process.env, TSGI_WORKER: JSON.stringify(info) },
      // R4: the workers pace their body buffers with V8's gc(), exposed by an ordinary start-up flag (gc-pacer.ts).
      execArgv: process.execArgv.includes('--expose-gc') ? process.execArgv : [...process.execArgv, '--expose-gc'],
      // The listening sockets become the worker's fd 3, 4, …; then the in-flight board's pipe.
      stdio: ['ignore', 'inherit', 'inherit', ...sockets.map((x) => x.fd), ...(board !== undefined ? ['pipe' as const, 'pipe' as const] : []), 'ipc'],
    });
    const w = new Worker(id, gen, child, replaces);
    if (board !== undefined) {
      readBoard(child.stdio[board] as NodeJS.ReadableStream, (list) => { if (!w.distrusted) w.inFlight = list; }, (why) => this.distrust(w, why));
      w.stacks = new StackPipe(child.stdio[stack!] as Duplex, (why) => this.distrust(w, why));
      if ((this.o.slowLogMs ?? 0) > 0) w.slow = new SlowRequests(this.o.slowLogMs! / 1000);
    }
    this.workers.add(w);
    this.ops?.started();
    guardChannel(child, (why) => this.distrust(w, why));
    child.on('message', (m: unknown, handle: unknown) => this.onMessage(w, m, handle));
    child.on('exit', (code, signal) => this.reap(w, code, signal));
    child.on('error', (err) => log('error', `${w.name}: ${err.message}`));
    return w;
  }

  /**
   * Retires a worker. With `handoff` (P11: others serve on), a ready worker is
   * asked to hand its idle connections back instead of closing them.
   */
  private retire(w: Worker, reason: string, handoff = false): void {
    if (w.state === 'retiring') return;
    const ready = w.state === 'ready';
    w.state = 'retiring';
    w.reason = reason;
    if (handoff && ready && w.reachable) {
      w.handingOff = true;
      w.child.send({ t: 'stop', handoff: true } satisfies MasterMessage, (err) => { if (err) w.child.kill('SIGTERM'); });
    } else {
      // A signal, not a message: a worker still loading its app has no message handler yet
      // (and SIGTERM's default action is then the right one).
      w.child.kill('SIGTERM');
    }
    w.killAfter(this.pool.gracefulMs + 1000);
  }

  /** P13: a worker sent something malformed: it is logged and replaced, and the master carries on. */
  private distrust(w: Worker, why: string): void {
    if (w.distrusted) return;
    w.distrusted = true;
    w.inFlight = [];
    // What it sent is quoted in the reason: only printable ASCII of it reaches the log (no forged lines).
    log('error', `${w.name} sent ${why.slice(0, 300).replace(/[^\x20-\x7e]/g, '?')}; replacing it`);
    if (w.state !== 'retiring' && !this.stopping) {
      const wasLive = w.state === 'ready' || w.state === 'booting';
      w.state = 'retiring';
      w.reason = 'untrusted';
      if (wasLive && w.generation === this.generation) this.replace(w.id, w.generation);
    }
    w.child.kill('SIGTERM');
    w.killAfter(this.pool.gracefulMs + 1000);
  }

  /** P13: every message is checked before it is acted on; one that fails the check ends the trust. */
  private onMessage(w: Worker, raw: unknown, handle: unknown): void {
    if (w.distrusted) { discard(handle); return; }
    const m = checkMessage(raw, handle, this.sockets.length);
    if (typeof m === 'string') { discard(handle); this.distrust(w, m); return; }
    switch (m.t) {
      case 'handoff':
        if (!w.handingOff) { discard(handle); this.distrust(w, 'a connection it was not asked to hand back'); return; }
        this.handOn(w, handle as Socket, m.l, m.data);
        return;
      case 'ready':
        this.onReady(w);
        return;
      case 'stats': {
        const why = this.ops === null ? 'a stats report it was not asked for' : this.ops.message(w, m);
        if (why !== null) this.distrust(w, why);
        return;
      }
      case 'pong':
        w.lastPong = Date.now();
        if (w.stacks === undefined) w.inFlight = m.inFlight; // with a board, the board is fresher
        if (m.rss !== undefined) this.checkMemory(w, m.rss);
        return;
      case 'retire':
        this.recycle(w, `served ${m.served} requests (--max-requests)`);
        return;
      case 'fatal':
        log('error', `${w.name}: ${m.error}${m.inFlight.length ? `; it was running: ${m.inFlight.join('; ')}` : ''}; replacing it`);
        if (w.state !== 'retiring' && !this.stopping) {
          // Its replacement boots while it finishes what it has in flight.
          w.state = 'retiring';
          w.reason = 'crashed';
          this.replace(w.id, w.generation);
        }
        return;
    }
  }

  /** A worker is serving: the one it replaces retires; the last of a reload's generation takes over. */
  private onReady(w: Worker): void {
    w.state = w.state === 'retiring' ? 'retiring' : 'ready';
    w.lastPong = Date.now();
    this.bootFailures = 0;
    log('info', `${w.name} ready`);
    if (w.replaces) this.retire(w.replaces, w.replaces.reason ?? 'recycled', true);
    const next = this.live(w.generation);
    if (this.reloading === w.generation && next.every((x) => x.state === 'ready') && next.length >= this.target) {
      log('info', `reload: generation ${w.generation} serving`);
      this.generation = w.generation; // first: the old workers hand their connections to this one
      for (const old of this.workers) if (old.generation < w.generation) this.retire(old, 'reload', true);
      this.reloading = null;
      this.afterReload();
    }
  }

  /** `--max-requests`, `--max-memory` (O6): the worker keeps serving until its replacement is ready, so no request is refused meanwhile. */
  private recycle(w: Worker, why: string): void {
    if (w.state !== 'ready' || this.stopping) return;
    if (w.recycling) return;
    log('info', `${w.name} ${why}: replacing it`);
    w.recycling = true;
    w.reason = why.includes('--max-memory') ? 'max-memory' : 'max-requests';
    this.spawn(w.id, w.generation, w);
  }

  /** P11: passes a connection a retiring worker gave up to a ready worker of the serving generation. */
  private handOn(from: Worker, socket: Socket, l: number, data: string): void {
    // This process must not read from it either (Node started reading when the socket arrived).
    const extra = detach(socket);
    const ready = this.live(this.generation).filter((x) => x.state === 'ready' && x !== from && x.reachable);
    const to = ready.length === 0 ? undefined : ready[this.turn++ % ready.length];
    if (extra === null || to === undefined) {
      log('warn', `${from.name} handed back a connection and ${to === undefined ? 'no worker is ready to take it' : 'it cannot be passed on'}: closing it`);
      socket.destroy();
      return;
    }
    to.adopt(socket, l, extra.length === 0 ? data : Buffer.concat([Buffer.from(data, 'base64'), extra]).toString('base64'));
  }

  /** A worker exited: says why, and starts another in its place when the pool is short. */
  private reap(w: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(w);
    this.ops?.died(w);
    const how = signal !== null ? `killed by ${signal}` : `exited with status ${code}`;
    if (this.stopping) {
      if (this.workers.size === 0) this.finish(this.exitCode);
      return;
    }
    if (w.state === 'booting') {
      log('error', `${w.name} failed to boot (${how}); its error is above`);
      if (this.reloading === w.generation) {
        this.reloading = null;
        for (const x of this.workers) if (x.generation === w.generation) this.retire(x, 'failed reload');
        log('error', `reload failed: generation ${this.generation} keeps serving`);
        this.afterReload();
        return;
      }
      if (++this.bootFailures >= BOOT_FAILURES && ![...this.workers].some((x) => x.state === 'ready')) {
        log('error', `the app failed to boot ${this.bootFailures} times in a row; stopping`);
        this.stop(1);
        return;
      }
    } else if (w.state === 'retiring') {
      const replaced = w.reason === 'crashed' || w.reason === 'untrusted';
      if (!replaced) log('info', `${w.name} ${how} (${w.reason ?? 'retired'})`);
      if (!replaced && w.reason !== 'timeout') return;
    } else {
      log('error', `${w.name} ${how}${w.inFlight.length ? `; it was running: ${w.inFlight.join('; ')}` : ''}; replacing it`);
    }
    if (w.reason === 'crashed' || w.reason === 'untrusted') return; // its replacement was started when it misbehaved
    if (w.generation !== this.generation || this.live(this.generation).length >= this.target) return;
    this.replace(w.id, this.generation);
  }

  /** Starts a worker in place of one that died, after the backoff's delay. */
  private replace(id: number, gen: number): void {
    const { delay, deaths } = this.backoff.next();
    if (delay > 0) log('warn', `${deaths} worker deaths in 30 s: next start in ${delay} ms`);
    setTimeout(() => { if (!this.stopping) this.spawn(id, gen); }, delay);
  }

  /**
   * Starts the next generation with the settings read again; the current one
   * serves until every new worker is ready (no downtime), and keeps serving
   * if the new one fails to boot or the settings cannot be read.
   */
  async reload(why: string): Promise<void> {
    if (this.stopping) return;
    if (this.reloading !== null) {
      log('info', `${why}: a reload is under way; another follows it`);
      this.reloadAgain = why;
      return;
    }
    try {
      const next = await this.o.reread();
      const top = next.scale?.max ?? next.workers;
      if (top > next.maxWorkers) throw new Error(`--workers ${top} is more than --max-workers ${next.maxWorkers}`);
      this.pool = next;
      // O5: an adaptive pool keeps the size it reached, within the new bounds.
      this.target = next.scale !== undefined ? Math.min(Math.max(this.target, next.scale.min), next.scale.max) : next.workers;
    } catch (err) {
      log('error', `${why}: the config cannot be read, nothing changed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const gen = this.generation + 1;
    this.reloading = gen;
    log('info', `${why}: starting generation ${gen} (${this.target} worker${this.target === 1 ? '' : 's'})`);
    for (let id = 1; id <= this.target; id++) this.spawn(id, gen);
  }

  private afterReload(): void {
    const why = this.reloadAgain;
    this.reloadAgain = null;
    if (why !== null) void this.reload(why);
  }

  /**
   * Stops every worker (gracefully, or with `now` at once) and then the
   * master. P11: the listening sockets close first, so that the web server's
   * new connections are refused (it can try another backend) instead of
   * waiting in a backlog no worker accepts from any more, to be reset when
   * the master exits.
   */
  private stop(code: number, now = false): void {
    if (this.phase === 'running') {
      this.phase = 'stopping';
      for (const x of this.sockets) x.close();
    }
    this.exitCode = code;
    if (this.workers.size === 0) { this.finish(code); return; }
    for (const w of this.workers) {
      if (now) w.child.kill('SIGKILL');
      else if (w.state !== 'retiring') this.retire(w, 'stop');
    }
    if (now) this.finish(code);
  }

  /** The last step of a stop: the pid file goes, and the process exits. */
  private finish(code: number): void {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    this.ops?.close();
    this.removePid();
    log('info', `master ${process.pid} stopped`);
    process.exit(code);
  }

  /** O1–O3: the pool as /metrics and the control socket see it. */
  view(): PoolView {
    return { generation: this.generation, reloading: this.reloading, target: this.target, maxWorkers: this.pool.maxWorkers,
      autoscale: this.pool.scale ? `${this.pool.scale.min}:${this.pool.scale.max}` : null, gracefulMs: this.pool.gracefulMs, stopping: this.stopping, workers: [...this.workers] };
  }

  /** O3 `tsgi stop`: as SIGTERM. */
  requestStop(why: string): void {
    this.handleStop(why);
  }

  /** O3 `tsgi scale N`: as TTIN/TTOU until the serving generation has `n` workers. */
  scale(n: number, why: string): string | null {
    if (this.stopping) return 'the master is stopping';
    if (n > this.pool.maxWorkers) return `${n} is more than --max-workers ${this.pool.maxWorkers}`;
    if (n < 1) return 'a pool has one worker at least';
    while (this.target < n) this.handleTtin(why);
    while (this.target > n) this.handleTtou(why);
    return null;
  }

  /** O6 `--max-memory`: a worker past it is recycled like one at --max-requests. */
  private checkMemory(w: Worker, rss: number): void {
    w.rss = rss;
    const mib = this.o.maxMemoryMiB ?? 0;
    if (mib > 0 && rss > mib * 1024 * 1024) this.recycle(w, `uses ${(rss / 1024 / 1024).toFixed(0)} MiB (--max-memory ${mib})`);
  }

  /**
   * O5: one sample of the serving generation's load (the workers' latest
   * stats reports) to the policy (autoscale.ts); a step it decides is taken
   * as `tsgi scale` takes one (a shrink hands connections on, P11), logged
   * in one line.
   */
  private autoscale(): void {
    const b = this.pool.scale;
    if (b === undefined || this.ops === null || this.stopping || this.reloading !== null) { this.scaleState = initialScaleState; return; }
    const live = this.live(this.generation);
    const workers = live.flatMap((w) => {
      const r = w.state === 'ready' ? this.ops!.stats.of(w) : undefined;
      return r === undefined ? [] : [{ elu: r.elu, inFlight: r.n }];
    });
    const d = decideScale(this.scaleState, { at: performance.now(), target: this.target, booting: live.filter((w) => w.state === 'booting').length, workers }, b);
    this.scaleState = d.state;
    if (d.to === null || d.to > this.pool.maxWorkers) return;
    log('info', `autoscale: ${d.why}: from ${this.target} to ${d.to} workers`);
    while (this.target < d.to) this.grow();
    while (this.target > d.to) this.shrink();
  }

  /** Kills the workers whose event loop is stuck (`--timeout`), logs slow requests' stacks (O4), and pings the others. */
  private murder(): void {
    const now = Date.now();
    const t = this.o.timeoutMs;
    for (const w of this.workers) {
      if (w.state === 'booting' || !w.child.connected) continue;
      if (w.slow && !w.distrusted) logSlow(w, w.slow.due(w.inFlight, now), this.o.slowLogMs!);
      if (t > 0 && w.state === 'ready' && now - w.lastPong > t) {
        w.state = 'retiring';
        w.reason = 'timeout';
        const head = `${w.name} has not answered for ${((now - w.lastPong) / 1000).toFixed(1)} s (--timeout ${t / 1000}): its event loop is stuck; killing it` +
          `${w.inFlight.length ? `; it was running: ${w.inFlight.join('; ')}` : ''}`;
        // O4: its stack first (the stack thread answers while the main thread spins), then the kill.
        void stackThenKill(w, head);
        continue;
      }
      w.child.send({ t: 'ping' } satisfies MasterMessage);
    }
  }

  /** One handler per signal, gunicorn's set. */
  private handleSignals(): void {
    process.on('SIGTERM', () => this.handleStop('SIGTERM'));
    process.on('SIGINT', () => this.handleStop('SIGINT'));
    process.on('SIGHUP', () => void this.reload('SIGHUP'));
    process.on('SIGTTIN', () => this.handleTtin());
    process.on('SIGTTOU', () => this.handleTtou());
    // P13: the master outlives whatever a worker makes Node's IPC code throw in it (its
    // messages are parsed in this process); a fault of the master itself is logged the same way.
    process.on('uncaughtException', (err) => {
      log('error', `master: uncaught exception (it keeps running): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    });
    process.on('SIGUSR1', () => this.handleUsr1());
  }

  /** TERM/INT: a graceful stop; the second one stops at once. */
  private handleStop(sig: string): void {
    if (++this.stopSignals > 1) {
      log('warn', `${sig} again: stopping now`);
      this.stop(0, true);
      return;
    }
    log('info', `${sig}: stopping; workers finish their requests (up to ${this.pool.gracefulMs / 1000} s; ${sig} again stops at once)`);
    this.stop(0);
  }

  /** TTIN: one worker more, up to --max-workers (P13). */
  private handleTtin(sig = 'SIGTTIN'): void {
    if (this.stopping) return;
    const max = this.pool.maxWorkers;
    if (this.target >= max) { log('warn', `${sig}: already at --max-workers ${max}`); return; }
    log('info', `${sig}: ${this.target + 1} workers`);
    this.grow();
  }

  /** One worker more in the serving generation (the callers check the ceiling). */
  private grow(): void {
    this.target++;
    const used = new Set(this.live(this.generation).map((w) => w.id));
    let id = 1;
    while (used.has(id)) id++;
    this.spawn(id, this.generation);
  }

  /** TTOU: one worker fewer, never below one; the one that goes hands its connections on (P11). */
  private handleTtou(sig = 'SIGTTOU'): void {
    if (this.target <= 1) { log('warn', `${sig}: already down to one worker`); return; }
    log('info', `${sig}: ${this.target - 1} workers`);
    this.shrink(sig);
  }

  /** One worker fewer: the highest-numbered retires, handing its connections on (P11). */
  private shrink(why = 'autoscale'): void {
    this.target--;
    const last = this.live(this.generation).sort((a, b) => b.id - a.id)[0];
    if (last) this.retire(last, why, true);
  }

  /** USR1: the master reopens the log files (it creates them anew as root, P12), then each worker does. */
  private handleUsr1(): void {
    this.reopenLogs();
    for (const w of this.workers) w.child.kill('SIGUSR1');
  }
}
