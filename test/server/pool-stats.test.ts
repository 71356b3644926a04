// O1, P13: the master's side of the workers' reports, without processes:
// what a report must look like to count, the pool's totals across workers
// that go, and the exposition text.
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { checkStats, PoolStats } from '../../src/server/arbiter/pool-stats.js';
import { renderMetrics } from '../../src/server/arbiter/metrics.js';
import { Worker } from '../../src/server/arbiter/worker.js';
import type { PoolView } from '../../src/server/arbiter/pool-view.js';
import { WorkerStats, type StatsReport } from '../../src/server/worker-stats.js';

const worker = (id: number, pid: number): Worker => new Worker(id, 1, { pid, connected: true } as unknown as ChildProcess);

/** A report of a worker that finished `ok` 200s and `bad` 500s of 1 ms, 3 bytes each. */
function report(ok: number, bad: number): StatsReport {
  const s = new WorkerStats();
  for (let i = 0; i < ok; i++) s.observe(200, 0, 3, 1);
  for (let i = 0; i < bad; i++) s.observe(500, 10, 3, 1);
  return s.report(new Set());
}

const view = (workers: Worker[]): PoolView => ({ generation: 1, reloading: null, target: workers.length, maxWorkers: 8, gracefulMs: 30_000, stopping: false, workers });

describe('O1 P13 the workers\' reports', () => {
  it('P13 a report counts only in its exact shape: bounded lists, whole non-negative counts, printable request lines', () => {
    const good = report(2, 1);
    expect(checkStats({ ...good })).toEqual(good);
    expect(checkStats({ ...good, req: [1, 2, 3] })).toMatch(/^a malformed stats report/);
    expect(checkStats({ ...good, bin: -1 })).toMatch(/^a malformed stats report/);
    expect(checkStats({ ...good, bout: 1.5 })).toMatch(/^a malformed stats report/);
    expect(checkStats({ ...good, elu: 7 })).toMatch(/^a malformed stats report/);
    expect(checkStats({ ...good, sum: Infinity })).toMatch(/^a malformed stats report/);
    expect(checkStats({ ...good, n: 1, flight: [{ m: 'GET', p: '/', age: 1 }, { m: 'GET', p: '/', age: 1 }] })).toMatch(/^a stats report with a malformed in-flight list/);
    expect(checkStats({ ...good, n: 1, flight: [{ m: 'GET', p: 'x'.repeat(257), age: 1 }] })).toMatch(/^a stats report with a malformed in-flight request/);
    const shown = checkStats({ ...good, n: 1, flight: [{ m: 'GET', p: '/\x1b[2J\n', age: 1 }], extra: 'dropped' }) as StatsReport;
    expect(shown.flight).toEqual([{ m: 'GET', p: '/?[2J?', age: 1 }]);
    expect('extra' in shown).toBe(false);
  });

  it('O1 the pool\'s totals keep the counts of workers gone; a report that goes back is refused', () => {
    const pool = new PoolStats();
    const a = worker(1, 101);
    const b = worker(2, 102);
    expect(pool.update(a, report(3, 1))).toBe(null);
    expect(pool.update(b, report(2, 0))).toBe(null);
    expect(pool.totals().req).toEqual([0, 5, 0, 0, 1, 0]);
    pool.died(a, 'reload');
    expect(pool.totals().req).toEqual([0, 5, 0, 0, 1, 0]);
    expect(pool.update(b, report(1, 0))).toMatch(/^a stats report whose counters went back/);
    expect(pool.totals().req).toEqual([0, 5, 0, 0, 1, 0]);
    expect(pool.deaths.get('reload')).toBe(1);
    // A report that arrives once the account is closed is in the totals already: not counted again.
    expect(pool.update(a, report(9, 9))).toBe(null);
    pool.died(a, 'reload');
    expect(pool.totals().req).toEqual([0, 5, 0, 0, 1, 0]);
    expect(pool.deaths.get('reload')).toBe(1);
  });

  it('O1 the exposition: cumulative buckets, per-worker series labelled by pid, totals of workers gone', () => {
    const pool = new PoolStats();
    const a = worker(1, 101);
    const b = worker(2, 102);
    pool.started();
    pool.started();
    pool.update(a, report(3, 1));
    pool.update(b, report(2, 0));
    pool.died(a, 'crash');
    const text = renderMetrics(view([b]), pool);
    expect(text).toContain('# TYPE tsgi_requests_total counter\ntsgi_requests_total{class="1xx"} 0\ntsgi_requests_total{class="2xx"} 5\n');
    expect(text).toContain('tsgi_requests_total{class="5xx"} 1\n');
    expect(text).toContain('tsgi_request_duration_seconds_bucket{le="0.005"} 6\n');
    expect(text).toMatch(/\ntsgi_request_duration_seconds_bucket\{le="\+Inf"\} 6\ntsgi_request_duration_seconds_sum 0\.00(6|59+\d*|60+\d+)\ntsgi_request_duration_seconds_count 6\n/);
    expect(text).toContain('tsgi_request_body_bytes_total 10\ntsgi_response_body_bytes_total 18\n'.replace('\ntsgi_response', '\n# HELP tsgi_response_body_bytes_total Response body bytes sent.\n# TYPE tsgi_response_body_bytes_total counter\ntsgi_response'));
    expect(text).toContain('tsgi_worker_deaths_total{cause="crash"} 1\n');
    expect(text).toContain('tsgi_worker_starts_total 2\n');
    expect(text).toContain('tsgi_worker_requests_total{worker="2",pid="102",generation="1",class="2xx"} 2\n');
    expect(text).not.toContain('pid="101"');
    expect(text.endsWith('\n')).toBe(true);
  });
});
