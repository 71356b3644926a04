/**
 * O1: the pool's metrics in Prometheus' text format, and the master's small
 * HTTP server for `/metrics`. The values come from other processes as
 * snapshots (pool-stats.ts), summed by the master: prom-client's metric
 * objects count what happens in their own process, so the text is written
 * here from the snapshots (a few dozen lines; the format is line-based).
 */
import { createServer, type Server } from 'node:http';
import * as net from 'node:net';
import { log } from '../../contract/log.js';
import { listen, type ListenOptions } from '../listen.js';
import { DURATION_BUCKETS, STATUS_CLASSES } from '../worker-stats.js';
import type { PoolStats } from './pool-stats.js';
import type { PoolView } from './pool-view.js';

type Labels = Record<string, string | number>;

/** Builds exposition text one family at a time. */
class Exposition {
  readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',');
    this.lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
  }
}

/** The whole `/metrics` text for the pool as it is now. */
export function renderMetrics(view: PoolView, stats: PoolStats): string {
  const e = new Exposition();
  const t = stats.totals();
  const live = view.workers;
  const reports = live.map((w) => ({ w, s: stats.of(w), labels: { worker: w.id, pid: w.child.pid ?? 0, generation: w.generation } }));

  e.family('tsgi_requests_total', 'counter', 'Requests finished by the pool, by status class (workers gone included).');
  STATUS_CLASSES.forEach((c, i) => e.sample('tsgi_requests_total', { class: c }, t.req[i]!));
  e.family('tsgi_requests_in_flight', 'gauge', 'Requests running in the pool now.');
  e.sample('tsgi_requests_in_flight', {}, reports.reduce((n, r) => n + (r.s?.n ?? 0), 0));
  e.family('tsgi_request_duration_seconds', 'histogram', 'Time from a request\'s start to the end of its response.');
  let cumulative = 0;
  DURATION_BUCKETS.forEach((le, i) => { cumulative += t.hist[i]!; e.sample('tsgi_request_duration_seconds_bucket', { le }, cumulative); });
  cumulative += t.hist[DURATION_BUCKETS.length]!;
  e.sample('tsgi_request_duration_seconds_bucket', { le: '+Inf' }, cumulative);
  e.sample('tsgi_request_duration_seconds_sum', {}, t.sum);
  e.sample('tsgi_request_duration_seconds_count', {}, cumulative);
  e.family('tsgi_request_body_bytes_total', 'counter', 'Request body bytes received (as declared by Content-Length).');
  e.sample('tsgi_request_body_bytes_total', {}, t.bin);
  e.family('tsgi_response_body_bytes_total', 'counter', 'Response body bytes sent.');
  e.sample('tsgi_response_body_bytes_total', {}, t.bout);

  e.family('tsgi_worker_starts_total', 'counter', 'Worker processes started.');
  e.sample('tsgi_worker_starts_total', {}, stats.starts);
  e.family('tsgi_worker_deaths_total', 'counter', 'Worker processes gone, by cause.');
  for (const [cause, n] of [...stats.deaths].sort()) e.sample('tsgi_worker_deaths_total', { cause }, n);
  e.family('tsgi_workers', 'gauge', 'Worker processes by state.');
  for (const state of ['booting', 'ready', 'retiring']) e.sample('tsgi_workers', { state }, live.filter((w) => w.state === state).length);
  e.family('tsgi_pool_generation', 'gauge', 'The generation that serves (a reload starts the next).');
  e.sample('tsgi_pool_generation', {}, view.generation);
  e.family('tsgi_pool_target_workers', 'gauge', 'Workers the serving generation should have.');
  e.sample('tsgi_pool_target_workers', {}, view.target);
  e.family('tsgi_pool_max_workers', 'gauge', 'The pool\'s ceiling (--max-workers).');
  e.sample('tsgi_pool_max_workers', {}, view.maxWorkers);
  e.family('tsgi_master_resident_memory_bytes', 'gauge', 'The master\'s resident set size.');
  e.sample('tsgi_master_resident_memory_bytes', {}, process.memoryUsage.rss());

  // Per worker: the series of a worker that is gone disappear; the pool's totals above keep its counts.
  const each = (name: string, type: 'counter' | 'gauge', help: string, value: (s: NonNullable<(typeof reports)[0]['s']>) => number): void => {
    e.family(name, type, help);
    for (const r of reports) if (r.s !== undefined) e.sample(name, r.labels, value(r.s));
  };
  e.family('tsgi_worker_requests_total', 'counter', 'Requests finished by this worker, by status class.');
  for (const r of reports) if (r.s !== undefined) STATUS_CLASSES.forEach((c, i) => e.sample('tsgi_worker_requests_total', { ...r.labels, class: c }, r.s!.req[i]!));
  each('tsgi_worker_requests_in_flight', 'gauge', 'Requests running in this worker now.', (s) => s.n);
  each('tsgi_worker_request_body_bytes_total', 'counter', 'Request body bytes received by this worker.', (s) => s.bin);
  each('tsgi_worker_response_body_bytes_total', 'counter', 'Response body bytes sent by this worker.', (s) => s.bout);
  each('tsgi_worker_event_loop_utilization', 'gauge', 'Share of time this worker\'s event loop was busy since the previous report (0 to 1).', (s) => s.elu);
  each('tsgi_worker_resident_memory_bytes', 'gauge', 'This worker\'s resident set size.', (s) => s.rss);
  return `${e.lines.join('\n')}\n`;
}

/** The running `/metrics` server. */
export interface MetricsServer {
  readonly text: string;
  close(): void;
}

/**
 * Serves `/metrics` on `where` (TCP, or a unix socket created with mode 0600
 * from the first instant: P12). `render` collects and writes the text. Only
 * GET and HEAD of `/metrics`; small limits, since anyone who can reach the
 * address can ask.
 */
export async function serveMetrics(where: ListenOptions, render: () => Promise<string>): Promise<MetricsServer> {
  const server: Server = createServer({ maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') { res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found: the metrics are at /metrics\n'); return; }
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('Method Not Allowed\n'); return; }
    render().then((body) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    }, (err: unknown) => {
      log('error', `/metrics: ${err instanceof Error ? err.message : String(err)}`);
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Internal Server Error\n');
    });
  });
  server.maxConnections = 64;
  server.maxHeadersCount = 64;
  const { address, cleanup } = await listen(net, server, where.socket !== undefined ? { socket: where.socket, chmod: '600' } : where);
  return { text: address.text, close: () => { server.close(); server.closeAllConnections(); cleanup(); } };
}
