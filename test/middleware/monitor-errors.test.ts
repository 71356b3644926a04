// monitor() and debugErrors(): the figures after known traffic, in JSON and
// Prometheus text; the debug page, and that it is off unless asked for.
import { describe, expect, it } from 'vitest';
import type { App, Header } from '../../src/contract/types.js';
import { ERROR_BODY } from '../../src/gateway/engine.js';
import { debugErrors } from '../../src/middleware/errors.js';
import { monitor } from '../../src/middleware/monitor.js';
import { validate } from '../../src/middleware/validate.js';
import { b, run } from '../helpers.js';

const TEXT: Header[] = [['Content-Type', 'text/plain']];
const routes: App = (env, s) => {
  if (env.PATH_INFO === '/boom') throw new Error('boom');
  if (env.PATH_INFO === '/missing') { s('404 Not Found', TEXT); return [b('no')]; }
  s('200 OK', TEXT);
  return [b('ok')];
};
const body = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);

describe('monitor()', () => {
  it('counts requests, errors and statuses, with nearest-rank latency percentiles, as JSON', async () => {
    let t = 0;
    const durations = [10, 20, 30, 40];
    let i = 0;
    // Each request: now() at the start returns t, at the end t + its duration.
    const now = (): number => { const v = t; if (i % 2 === 0) t += durations[(i / 2) | 0] ?? 0; i++; return v; };
    const layer = monitor({ now });
    const app = validate(layer(routes));
    for (const p of ['/', '/missing', '/boom', '/']) await run(app, { PATH_INFO: p });
    const r = await run(app, { PATH_INFO: '/_monitor' });
    expect(r.sink.text).toMatch(/^Status: 200 OK\r\nContent-Type: application\/json\r\nCache-Control: no-store\r\nContent-Length: \d+\r\n\r\n/);
    const stats = JSON.parse(body(r.sink.text));
    expect(stats).toMatchObject({
      requests: 4, errors: 1, inFlight: 0,
      status: { '1xx': 0, '2xx': 2, '3xx': 0, '4xx': 1, '5xx': 1 },
      latencyMs: { p50: 20, p95: 40, p99: 40, samples: 4 },
    });
    expect(stats.memory.rss).toBeGreaterThan(1 << 20);
    expect(layer.metrics.requests).toBe(4);
  });

  it('serves Prometheus text at <path>/metrics and with ?format=prometheus', async () => {
    const layer = monitor({ path: '/metrics-here', now: () => 0 });
    const app = layer(routes);
    await run(app);
    await run(app, { PATH_INFO: '/boom' });
    for (const vars of <Array<Record<string, string>>>[{ PATH_INFO: '/metrics-here/metrics' }, { PATH_INFO: '/metrics-here', QUERY_STRING: 'format=prometheus' }]) {
      const r = await run(app, vars);
      expect(r.sink.text).toMatch(/^Status: 200 OK\r\nContent-Type: text\/plain; version=0\.0\.4; charset=utf-8\r\n/);
      const text = body(r.sink.text);
      expect(text).toContain('\n# TYPE tsgi_requests_total counter\ntsgi_requests_total{status="1xx"} 0\ntsgi_requests_total{status="2xx"} 1\n');
      expect(text).toContain('tsgi_requests_total{status="5xx"} 1\n');
      expect(text).toContain('\ntsgi_request_errors_total 1\n');
      expect(text).toContain('\ntsgi_requests_in_flight 0\n');
      expect(text).toContain('\ntsgi_request_duration_seconds{quantile="0.5"} 0\n');
      expect(text).toContain('\ntsgi_request_duration_seconds_count 2\n');
      expect(text).toMatch(/\nprocess_resident_memory_bytes \d+\n/);
    }
  });

  it('counts a request as in flight until its body is closed', async () => {
    const layer = monitor();
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const slow = layer((_e, s) => (async function* () { s('200 OK', TEXT); await gate; yield b('done'); })());
    const p = run(slow);
    await new Promise((r) => setTimeout(r, 5));
    expect(layer.metrics.inFlight).toBe(1);
    release();
    await p;
    expect(layer.metrics.inFlight).toBe(0);
  });
});

describe('debugErrors()', () => {
  const E500 = `Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\n${ERROR_BODY.toString('latin1')}`;
  const failing: App = () => { throw new Error('bad <script>alert(1)</script>'); };

  it('is off unless asked for: the app is returned as it is, and errors stay the gateway\'s plain 500', async () => {
    expect(debugErrors()(failing)).toBe(failing);
    expect((await run(debugErrors({ enabled: false })(failing))).sink.text).toBe(E500);
  });

  it('when enabled, an error before the response starts becomes an HTML page with the escaped message and stack', async () => {
    const r = await run(validate(debugErrors({ enabled: true })(failing)), { PATH_INFO: '/p<q>' });
    expect(r.sink.text).toMatch(/^Status: 500 Internal Server Error\r\nContent-Type: text\/html; charset=utf-8\r\nContent-Length: \d+\r\nCache-Control: no-store\r\n\r\n<!doctype html>/);
    expect(r.sink.text).toContain('<h1>Error: bad &lt;script&gt;alert(1)&lt;/script&gt;</h1>');
    expect(r.sink.text).toContain('<p>GET /p&lt;q&gt;</p>');
    expect(r.sink.text).toMatch(/<pre>Error: bad &lt;script&gt;[^<]*\n\s+at /);
    expect(r.sink.text).not.toContain('<script>');
    const secret = await run(debugErrors({ enabled: true })(failing), { HTTP_COOKIE: 'sid=s3cr3t', HTTP_AUTHORIZATION: 'Basic czNjcjN0', HTTP_X_OK: 'shown' });
    expect(secret.sink.text).toContain('<tr><th>HTTP_COOKIE</th><td>[hidden]</td></tr>');
    expect(secret.sink.text).toContain('<tr><th>HTTP_X_OK</th><td>shown</td></tr>');
    expect(secret.sink.text).not.toMatch(/s3cr3t|czNjcjN0/);
    expect(r.errors).toContain('Error: bad <script>');
  });

  it('covers rejected promises and a body that fails before its first chunk, after startResponse', async () => {
    const rejected = await run(debugErrors({ enabled: true })(async () => { throw new Error('async'); }));
    expect(rejected.sink.text).toContain('<h1>Error: async</h1>');
    const early = await run(validate(debugErrors({ enabled: true })((_e, s) => (function* () { s('200 OK', TEXT); throw new Error('in body'); })())));
    expect(early.sink.text).toMatch(/^Status: 500 Internal Server Error\r\nContent-Type: text\/html/);
    expect(early.sink.text).toContain('<h1>Error: in body</h1>');
  });

  it('an error after the first chunk cannot change the response: it is cut off as without the layer', async () => {
    const late = await run(debugErrors({ enabled: true })((_e, s) => (function* () { s('200 OK', TEXT); yield b('partial'); throw new Error('late'); })()));
    expect(late.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npartial');
    expect(late.sink.events).toContain('abort');
  });
});
