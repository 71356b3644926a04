/**
 * O1–O3: the master's operating side, between the Arbiter and what
 * operators reach: it asks the workers for their reports (every second, and
 * before each scrape or status), keeps the pool's counts (pool-stats.ts),
 * and runs `/metrics` (metrics.ts) and the control socket (control.ts). The
 * Arbiter calls four hooks: started, message, died, close.
 */
import { log } from '../../contract/log.js';
import type { ListenOptions } from '../listen.js';
import type { StatsReport } from '../worker-stats.js';
import { serveControl, type ControlServer } from './control.js';
import type { MasterMessage } from './messages.js';
import { renderMetrics, serveMetrics, type MetricsServer } from './metrics.js';
import { deathCause, PoolStats } from './pool-stats.js';
import type { PoolControl } from './pool-view.js';
import type { Worker } from './worker.js';

/** How long a scrape or a status waits for the workers' fresh reports (a stuck one is shown as last reported). */
const COLLECT_MS = 500;
/** How often every worker is asked anyway (what a killed worker served since is lost). */
const REPORT_MS = 1000;

/** Where the operating side listens. */
export interface OperationsOptions {
  /** `--metrics`. */
  readonly metrics?: ListenOptions | undefined;
  /** The control socket's path. */
  readonly control?: string | undefined;
}

interface Pending { left: Set<Worker>; done: () => void }

/** The metrics, the status and the control socket of one master. */
export class Operations {
  readonly stats = new PoolStats();
  #metrics: MetricsServer | null = null;
  #control: ControlServer | null = null;
  #pending: Pending[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #collecting: Promise<void> | null = null;

  constructor(private readonly pool: PoolControl, private readonly o: OperationsOptions) {}

  /** Opens the sockets (a failure closes what was opened and throws). */
  async open(): Promise<void> {
    try {
      if (this.o.metrics !== undefined) {
        this.#metrics = await serveMetrics(this.o.metrics, async () => { await this.collect(); return renderMetrics(this.pool.view(), this.stats); });
        const at = this.#metrics.text;
        log('info', `metrics: ${at.startsWith('unix:') ? `/metrics on ${at}` : `http://${at}/metrics`}`);
      }
      if (this.o.control !== undefined) {
        this.#control = await serveControl(this.o.control, { pool: this.pool, stats: this.stats, collect: () => this.collect() });
        log('info', `control socket: ${this.#control.path} (tsgi status, reload, stop, scale N)`);
      }
    } catch (err) {
      this.close();
      throw err;
    }
    this.#timer = setInterval(() => { for (const w of this.#askable()) this.#ask(w); }, REPORT_MS);
    this.#timer.unref();
  }

  /** Closes both sockets (their files go). */
  close(): void {
    clearInterval(this.#timer);
    this.#metrics?.close();
    this.#control?.close();
    this.#metrics = this.#control = null;
  }

  /** A worker was forked. */
  started(): void {
    this.stats.started();
  }

  /** A checked `stats` report of `w`; a reason to distrust it, or null. */
  message(w: Worker, s: StatsReport): string | null {
    const why = this.stats.update(w, s);
    this.#answered(w);
    return why;
  }

  /**
   * A worker exited: its counts stay in the totals; its death is counted by
   * cause. Its exit can be seen before the last messages on its channel (the
   * final report of a graceful exit): the account is closed once the channel
   * has ended, so that report still counts, and nothing after it does.
   */
  died(w: Worker): void {
    const cause = deathCause(w);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      this.stats.died(w, cause);
      this.#answered(w);
    };
    if (!w.child.connected) { close(); return; }
    w.child.once('disconnect', close);
    setTimeout(close, 5000).unref(); // an end never seen does not keep the account open
  }

  /**
   * Asks every serving worker for a report and waits for them (at most
   * COLLECT_MS). Scrapes that arrive meanwhile share the round under way: a
   * flood of scrapes costs the workers one report each, not one per scrape.
   */
  collect(): Promise<void> {
    this.#collecting ??= this.#round().finally(() => { this.#collecting = null; });
    return this.#collecting;
  }

  #round(): Promise<void> {
    const ws = this.#askable();
    if (ws.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const p: Pending = { left: new Set(ws), done: resolve };
      this.#pending.push(p);
      setTimeout(() => { this.#pending = this.#pending.filter((x) => x !== p); resolve(); }, COLLECT_MS).unref();
      for (const w of ws) this.#ask(w);
    });
  }

  #askable(): Worker[] {
    return this.pool.view().workers.filter((w) => w.state !== 'booting' && w.reachable);
  }

  #ask(w: Worker): void {
    try {
      w.child.send({ t: 'stats' } satisfies MasterMessage, (err) => { if (err) this.#answered(w); });
    } catch {
      this.#answered(w);
    }
  }

  #answered(w: Worker): void {
    for (const p of this.#pending) {
      p.left.delete(w);
      if (p.left.size === 0) p.done();
    }
    this.#pending = this.#pending.filter((p) => p.left.size > 0);
  }
}
