/**
 * O1, O2: the master's account of its workers' requests. Each worker's
 * report is checked before it counts (P13: shape, sizes, and counters that
 * never go back: a worker that lies is replaced), the latest one of each
 * live worker is kept, and a worker's last counts move into the pool's
 * "gone" totals when it exits, so the pool's counters never go back across
 * reloads, recycling, crashes or kills. (A worker killed outright loses what
 * it served since its last report: the master asks every second.)
 */
import { DURATION_BUCKETS, MAX_FLIGHT, MAX_PATH, STATUS_CLASSES, type StatsReport } from '../worker-stats.js';
import { shown } from './worker-channel.js';
import type { Worker } from './worker.js';

/** Summable totals of finished requests. */
export interface Totals {
  req: number[];
  bin: number;
  bout: number;
  hist: number[];
  sum: number;
}

const zero = (): Totals => ({ req: STATUS_CLASSES.map(() => 0), bin: 0, bout: 0, hist: [...DURATION_BUCKETS.map(() => 0), 0], sum: 0 });
const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const real = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 2 ** 53;
const counts = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every(count);
const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;

/** P13: checks a `stats` message; the report (rebuilt: nothing else of it is kept), or why it is refused. */
export function checkStats(m: Record<string, unknown>): StatsReport | string {
  const { req, bin, bout, hist, sum, n, flight, rss, elu } = m;
  if (!counts(req, STATUS_CLASSES.length) || !counts(hist, DURATION_BUCKETS.length + 1) || !count(bin) || !count(bout) || !real(sum) ||
    !count(n) || !count(rss) || !real(elu) || elu > 1.0001) return `a malformed stats report: ${shown(m)}`;
  if (!Array.isArray(flight) || flight.length > MAX_FLIGHT || flight.length > n) return `a stats report with a malformed in-flight list: ${shown(flight)}`;
  const list: StatsReport['flight'] = [];
  for (const f of flight as unknown[]) {
    const e = f as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || !text(e.m, 32) || !text(e.p, MAX_PATH) || !real(e.age)) return `a stats report with a malformed in-flight request: ${shown(f)}`;
    // Shown to operators (a terminal): printable ASCII only, as in log lines.
    list.push({ m: e.m.replace(/[^\x20-\x7e]/g, '?'), p: e.p.replace(/[^\x20-\x7e]/g, '?'), age: e.age });
  }
  return { t: 'stats', req: [...req], bin, bout, hist: [...hist], sum, n, flight: list, rss, elu: Math.min(1, elu) };
}

/** Whether `next` keeps every counter of `prev` (a worker's counters only grow). */
function grows(prev: Totals, next: Totals): boolean {
  return next.bin >= prev.bin && next.bout >= prev.bout && next.sum >= prev.sum &&
    next.req.every((v, i) => v >= prev.req[i]!) && next.hist.every((v, i) => v >= prev.hist[i]!);
}

function add(into: Totals, t: Totals): void {
  for (let i = 0; i < into.req.length; i++) into.req[i]! += t.req[i]!;
  for (let i = 0; i < into.hist.length; i++) into.hist[i]! += t.hist[i]!;
  into.bin += t.bin;
  into.bout += t.bout;
  into.sum += t.sum;
}

/** Why a worker went, as `tsgi_worker_deaths_total{cause}` says it. */
export function deathCause(w: Worker): string {
  if (w.state === 'booting') return 'boot-failure';
  if (w.state !== 'retiring') return 'crash';
  switch (w.reason) {
    case 'crashed': return 'crash';
    case 'untrusted': return 'untrusted';
    case 'timeout': return 'timeout';
    case 'reload': case 'failed reload': return 'reload';
    case 'max-requests': return 'max-requests';
    case 'stop': return 'stop';
    default: return 'scale-down';
  }
}

/** The pool's counters: live workers' latest reports plus the totals of the ones gone. */
export class PoolStats {
  readonly #live = new Map<Worker, StatsReport>();
  /** Workers whose account is closed: a report that comes later is not counted (it is in the totals already). */
  readonly #closed = new WeakSet<Worker>();
  readonly #gone = zero();
  /** Workers started, and deaths by cause. */
  starts = 0;
  readonly deaths = new Map<string, number>();

  /** A worker was forked. */
  started(): void {
    this.starts++;
  }

  /** A checked report; a reason when it sets a counter back (P13: the worker is then replaced). */
  update(w: Worker, s: StatsReport): string | null {
    if (this.#closed.has(w)) return null;
    const prev = this.#live.get(w);
    if (prev !== undefined && !grows(prev, s)) return `a stats report whose counters went back: ${shown(s.req)}`;
    this.#live.set(w, s);
    return null;
  }

  /** A worker exited: its last counts stay in the pool's totals. */
  died(w: Worker, cause: string): void {
    if (this.#closed.has(w)) return;
    this.#closed.add(w);
    const s = this.#live.get(w);
    if (s !== undefined) add(this.#gone, s);
    this.#live.delete(w);
    this.deaths.set(cause, (this.deaths.get(cause) ?? 0) + 1);
  }

  /** A live worker's latest report, if it sent one. */
  of(w: Worker): StatsReport | undefined {
    return this.#live.get(w);
  }

  /** The pool's totals: every worker ever, live or gone. */
  totals(): Totals {
    const t = zero();
    add(t, this.#gone);
    for (const s of this.#live.values()) add(t, s);
    return t;
  }
}
