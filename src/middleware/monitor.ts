/**
 * `monitor()`: request count, errors, requests in flight, latency
 * percentiles over the most recent requests, and memory, served at a path as
 * JSON, or as Prometheus text at `<path>/metrics` (or `?format=prometheus`).
 * Figures are per process: behind several processes, scrape each.
 */
import type { Environ } from '../contract/types.js';
import { finalStatus, observe, respond } from './body.js';
import type { Middleware } from './compose.js';
import { checkPrefix } from './paths.js';

/** Options of {@link monitor}. */
export interface MonitorOptions {
  /** Where the figures are served (default `/_monitor`). Protect it with auth() if it must not be public. */
  path?: string;
  /** How many recent request durations the percentiles are computed over (default 1024). */
  window?: number;
  /** Clock for tests: milliseconds, default performance.now(). */
  now?: () => number;
}

/** A snapshot of the figures (the JSON document). */
export interface MonitorStats {
  requests: number;
  errors: number;
  inFlight: number;
  status: Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx', number>;
  /** Milliseconds, over the last `window` requests (null before the first). */
  latencyMs: { p50: number | null; p95: number | null; p99: number | null; samples: number };
  memory: { rss: number; heapUsed: number };
  uptimeSeconds: number;
}

/** The figures one monitor() keeps. */
export class Metrics {
  requests = 0;
  errors = 0;
  inFlight = 0;
  readonly status = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  readonly #ring: Float64Array;
  #count = 0;
  #sumMs = 0;
  readonly #started = Date.now();

  constructor(window: number) {
    this.#ring = new Float64Array(window);
  }

  /** Records one finished request. */
  record(status: number, ms: number, failed: boolean): void {
    this.requests++;
    this.#sumMs += ms;
    if (failed || status >= 500) this.errors++;
    const cls = `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx` as keyof Metrics['status'];
    this.status[cls]++;
    this.#ring[this.#count++ % this.#ring.length] = ms;
  }

  /** Nearest-rank percentile of the recorded window. */
  #percentiles(): MonitorStats['latencyMs'] {
    const n = Math.min(this.#count, this.#ring.length);
    if (n === 0) return { p50: null, p95: null, p99: null, samples: 0 };
    const sorted = this.#ring.slice(0, n).sort();
    const at = (q: number): number => Math.round(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]! * 1000) / 1000;
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), samples: n };
  }

  snapshot(): MonitorStats {
    const mem = process.memoryUsage();
    return {
      requests: this.requests,
      errors: this.errors,
      inFlight: this.inFlight,
      status: { ...this.status },
      latencyMs: this.#percentiles(),
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
      uptimeSeconds: Math.round((Date.now() - this.#started) / 1000),
    };
  }

  /** Prometheus text exposition format 0.0.4. */
  prometheus(): string {
    const s = this.snapshot();
    const sec = (ms: number | null): string => (ms === null ? 'NaN' : String(ms / 1000));
    const lines = [
      '# HELP tsgi_requests_total Requests answered by this process.',
      '# TYPE tsgi_requests_total counter',
      ...Object.entries(s.status).map(([k, v]) => `tsgi_requests_total{status="${k}"} ${v}`),
      '# HELP tsgi_request_errors_total Requests that failed (5xx or an application error).',
      '# TYPE tsgi_request_errors_total counter',
      `tsgi_request_errors_total ${s.errors}`,
      '# HELP tsgi_requests_in_flight Requests being answered now.',
      '# TYPE tsgi_requests_in_flight gauge',
      `tsgi_requests_in_flight ${s.inFlight}`,
      '# HELP tsgi_request_duration_seconds Time from the request to the end of its response, over the recent window.',
      '# TYPE tsgi_request_duration_seconds summary',
      `tsgi_request_duration_seconds{quantile="0.5"} ${sec(s.latencyMs.p50)}`,
      `tsgi_request_duration_seconds{quantile="0.95"} ${sec(s.latencyMs.p95)}`,
      `tsgi_request_duration_seconds{quantile="0.99"} ${sec(s.latencyMs.p99)}`,
      `tsgi_request_duration_seconds_sum ${this.#sumMs / 1000}`,
      `tsgi_request_duration_seconds_count ${s.requests}`,
      '# HELP process_resident_memory_bytes Resident memory size in bytes.',
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${s.memory.rss}`,
      '# HELP nodejs_heap_used_bytes V8 heap in use, in bytes.',
      '# TYPE nodejs_heap_used_bytes gauge',
      `nodejs_heap_used_bytes ${s.memory.heapUsed}`,
      '',
    ];
    return lines.join('\n');
  }
}

/** Counts every request through it and serves the figures at `path`. */
export function monitor(options: MonitorOptions = {}): Middleware & { metrics: Metrics } {
  const path = checkPrefix(options.path ?? '/_monitor', 'monitor(): path');
  const window = options.window ?? 1024;
  if (!Number.isInteger(window) || window < 1) throw new RangeError('monitor(): window must be a positive integer');
  const now = options.now ?? (() => performance.now());
  const metrics = new Metrics(window);
  const serve = (environ: Environ, startResponse: Parameters<ReturnType<Middleware>>[1]): Uint8Array[] => {
    const prom = environ.PATH_INFO === `${path}/metrics` || /(?:^|&)format=prometheus(?:&|$)/.test(environ.QUERY_STRING);
    if (prom) return respond(startResponse, '200 OK', [['Content-Type', 'text/plain; version=0.0.4; charset=utf-8'], ['Cache-Control', 'no-store']], metrics.prometheus());
    return respond(startResponse, '200 OK', [['Content-Type', 'application/json'], ['Cache-Control', 'no-store']], `${JSON.stringify(metrics.snapshot())}\n`);
  };
  const layer = ((app) => {
    return (environ, startResponse) => {
      if (environ.PATH_INFO === path || environ.PATH_INFO === `${path}/metrics`) return serve(environ, startResponse);
      const t0 = now();
      metrics.inFlight++;
      return observe(app, (_env, seen) => {
        metrics.inFlight--;
        metrics.record(finalStatus(seen) || 500, now() - t0, seen.error !== undefined);
      })(environ, startResponse);
    };
  }) as Middleware & { metrics: Metrics };
  layer.metrics = metrics;
  return layer;
}
