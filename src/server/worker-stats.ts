/**
 * O1, O2: what one worker counts of its requests, for its master's
 * `/metrics` and `tsgi status`. The worker keeps plain running totals (a
 * few additions per finished request, no allocation) and sends them whole
 * when the master asks; the master checks each report before it uses it
 * (P13, arbiter/pool-stats.ts) and adds the totals of the workers that are
 * gone, so that the pool's counters never go back.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { requestLine } from '../contract/access-log.js';
import type { Environ } from '../contract/types.js';

/** Upper bounds of the request-duration histogram, in seconds (Prometheus' defaults). */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Status classes counted: 1xx … 5xx, then anything else (a request that failed before its status). */
export const STATUS_CLASSES: readonly string[] = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'];
/** Most in-flight requests a report names (the count is exact; the list is for people). */
export const MAX_FLIGHT = 16;
/** Longest method and path a report carries for one of them. */
export const MAX_PATH = 256;

/** A request in flight, as `tsgi status` shows it. */
export interface FlightEntry {
  /** Method. */
  m: string;
  /** Path and query (escaped as in the access log, cut to MAX_PATH). */
  p: string;
  /** Running for, in seconds. */
  age: number;
}

/** One worker's report to its master (the IPC message `stats`). */
export interface StatsReport {
  t: 'stats';
  /** Finished requests by status class (STATUS_CLASSES order). */
  req: number[];
  /** Request body bytes (as declared by Content-Length) and response bytes (head's body chunk and body). */
  bin: number;
  bout: number;
  /** Finished requests per DURATION_BUCKETS bucket, not cumulative, the last one past the largest bound. */
  hist: number[];
  /** Sum of the durations, seconds. */
  sum: number;
  /** Requests in flight (exact), and the first MAX_FLIGHT of them. */
  n: number;
  flight: FlightEntry[];
  /** Resident set size, bytes. */
  rss: number;
  /** Event-loop utilization (0…1) since the previous report. */
  elu: number;
}

/** A request still running, as the tracker holds it. */
export interface RunningRequest {
  readonly environ: Environ;
  /** performance.now() when it started. */
  readonly started: number;
}

/** The running totals of this process. */
export class WorkerStats {
  readonly #req = new Array<number>(STATUS_CLASSES.length).fill(0);
  readonly #hist = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  #bin = 0;
  #bout = 0;
  #sum = 0;
  #elu: EventLoopUtilization = performance.eventLoopUtilization();

  /** Counts one finished request: its status (0: none was sent), body bytes both ways and duration in ms. */
  observe(status: number, bytesIn: number, bytesOut: number, ms: number): void {
    const c = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 5;
    this.#req[c]!++;
    this.#bin += bytesIn;
    this.#bout += bytesOut;
    const s = ms / 1000;
    this.#sum += s;
    let b = 0;
    while (b < DURATION_BUCKETS.length && s > DURATION_BUCKETS[b]!) b++;
    this.#hist[b]!++;
  }

  /** The report the master asked for; `running` are the requests in flight now. */
  report(running: ReadonlySet<RunningRequest>): StatsReport {
    const now = performance.now();
    const flight: FlightEntry[] = [];
    for (const r of running) {
      if (flight.length === MAX_FLIGHT) break;
      const line = requestLine(r.environ);
      const sp = line.indexOf(' ');
      flight.push({ m: line.slice(0, Math.min(sp, 32)), p: line.slice(sp + 1, sp + 1 + MAX_PATH), age: Math.max(0, (now - r.started) / 1000) });
    }
    const elu = performance.eventLoopUtilization(this.#elu);
    this.#elu = performance.eventLoopUtilization();
    return {
      t: 'stats', req: [...this.#req], bin: this.#bin, bout: this.#bout, hist: [...this.#hist], sum: this.#sum,
      n: running.size, flight, rss: process.memoryUsage.rss(), elu: Number.isFinite(elu.utilization) ? elu.utilization : 0,
    };
  }
}

/** Request body bytes as declared (a missing or odd Content-Length counts 0). */
export function declaredLength(environ: Environ): number {
  const n = Number(environ.CONTENT_LENGTH);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}
