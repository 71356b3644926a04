// logging(), timing() and compose(): exact log lines and headers through the engine.
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import { formatLogLine, setLogger } from '../../src/contract/log.js';
import type { App, Header } from '../../src/contract/types.js';
import { compose, type Middleware } from '../../src/middleware/compose.js';
import { logging } from '../../src/middleware/logging.js';
import { timing } from '../../src/middleware/timing.js';
import { validate } from '../../src/middleware/validate.js';
import { b, run, tick } from '../helpers.js';

process.env.TZ = 'UTC';
const TEXT: Header[] = [['Content-Type', 'text/plain']];
const WHEN = new Date(Date.UTC(2026, 9, 10, 13, 55, 36));
const VARS = {
  REMOTE_ADDR: '203.0.113.9', REMOTE_USER: 'frank', REQUEST_URI: '/a?b=1', PATH_INFO: '/a', QUERY_STRING: 'b=1',
  HTTP_REFERER: 'http://ref.example/', HTTP_USER_AGENT: 'Agent "x" \\ caf\xe9',
};

/** A logging() layer with a fake clock: each call of now() advances 1.5 ms. */
function logged(format?: 'combined' | 'json'): { layer: Middleware; lines: string[] } {
  const lines: string[] = [];
  let t = 100;
  const layer = logging({ ...(format ? { format } : {}), write: (l) => lines.push(l), now: () => (t += 1.5), date: () => WHEN });
  return { layer, lines };
}

describe('logging()', () => {
  it('writes one Apache combined line, escaped, with the duration in microseconds', async () => {
    const { layer, lines } = logged();
    await run(validate(layer((_e, s) => { s('200 OK', TEXT); return [b('hello')]; })), VARS);
    expect(lines).toEqual([
      '203.0.113.9 - frank [10/Oct/2026:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 200 5 "http://ref.example/" "Agent \\"x\\" \\\\ caf\\xe9" 1500',
    ]);
  });

  it('a request line cannot forge a log line: quotes, CR and LF are escaped', async () => {
    const { layer, lines } = logged();
    await run(layer((_e, s) => { s('404 Not Found', TEXT); return []; }), { REQUEST_URI: '/x" 200 1 "-" "-"\r\nforged' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"GET /x\\" 200 1 \\"-\\" \\"-\\"\\x0d\\x0aforged HTTP/1.1" 404 - "-" "-" 1500');
  });

  it('is written when the body ends, counting streamed chunks and write() data', async () => {
    const { layer, lines } = logged('json');
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const app: App = (_e, s) => {
      const write = s('200 OK', TEXT);
      write(b('12345'));
      return (async function* () { await gate; yield b('678'); })();
    };
    const p = run(layer(app), VARS);
    await tick(10);
    expect(lines).toEqual([]);
    release();
    await p;
    expect(JSON.parse(lines[0]!)).toEqual({
      time: '2026-10-10T13:55:36.000Z', remote_addr: '203.0.113.9', remote_user: 'frank', method: 'GET', uri: '/a?b=1',
      protocol: 'HTTP/1.1', status: 200, bytes: 8, duration_us: 1500, referer: 'http://ref.example/', user_agent: 'Agent "x" \\ caf\xe9',
    });
  });

  it('an app that throws is logged as the 500 the client got, and the error still reaches the gateway', async () => {
    const { layer, lines } = logged('json');
    const r = await run(layer(() => { throw new Error('boom'); }));
    expect(r.sink.text).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ status: 500, bytes: 0, error: 'boom' });
    const { layer: l2, lines: l2lines } = logged();
    await run(l2(async () => { throw new Error('later'); }));
    expect(l2lines[0]).toMatch(/" 500 - "-" "-" 1500$/);
  });

  it('C18 an app that sends its head with write(b\'\') and then throws is logged with the status the client got, cut off', async () => {
    const { layer, lines } = logged('json');
    const r = await run(layer((_e, s) => { s('200 OK', TEXT)(b('')); throw new Error('after the head'); }));
    expect(r.sink.events).toEqual(['head 200 OK 0', 'abort']);
    expect(JSON.parse(lines[0]!)).toMatchObject({ status: 200, bytes: 0, error: 'after the head' });
    // The same after an await: the head went out before the Promise rejected.
    const { layer: l2, lines: l2lines } = logged('json');
    const r2 = await run(l2(async (_e, s) => { s('200 OK', TEXT)(b('')); await tick(1); throw new Error('later'); }));
    expect(r2.sink.events).toEqual(['head 200 OK 0', 'abort']);
    expect(JSON.parse(l2lines[0]!)).toMatchObject({ status: 200, bytes: 0, error: 'later' });
  });

  it('C19 a body chunk that is not bytes is logged as the 500 the gateway sent', async () => {
    const { layer, lines } = logged('json');
    const r = await run(layer((_e, s) => { s('200 OK', TEXT); return ['text' as unknown as Uint8Array]; }));
    expect(r.sink.text).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ status: 500 });
  });

  it('logs an app that returns no body as a 500', async () => {
    const { layer, lines } = logged('json');
    const r = await run(layer((_e, s) => { s('200 OK', TEXT); return 'oops' as never; }));
    expect(r.sink.text).toMatch(/^Status: 500 /);
    expect(JSON.parse(lines[0]!)).toMatchObject({ status: 500, error: 'the app returned no iterable body' });
  });

  it('without an open access log, writes to tsgi\'s log at level info: never to wsgi.errors (FastCGI stderr)', async () => {
    const logged: string[] = [];
    setLogger((level, message) => logged.push(`${level}: ${message}`));
    try {
      const r = await run(logging()((_e, s) => { s('204 No Content', []); return []; }), { REMOTE_ADDR: '::1' });
      expect(r.errors).toBe('');
    } finally {
      setLogger((level, message) => process.stderr.write(`${formatLogLine(level, message)}\n`));
    }
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^info: ::1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/ HTTP\/1\.1" 204 - "-" "-" \d+$/);
  });
});

describe('timing()', () => {
  it('adds Server-Timing and X-Response-Time for the time to startResponse, after the app\'s headers', async () => {
    let t = 10;
    const r = await run(validate(timing({ now: () => (t += 2.5) })((_e, s) => { s('200 OK', TEXT); return [b('x')]; })));
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nServer-Timing: app;dur=2.500\r\nX-Response-Time: 2.500ms\r\nContent-Length: 1\r\n\r\nx');
  });

  it('either header can be turned off; the metric name must be a token', async () => {
    const r = await run(timing({ responseTime: false, metric: 'total', now: () => 0 })((_e, s) => { s('200 OK', TEXT); return []; }));
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nServer-Timing: total;dur=0.000\r\nContent-Length: 0\r\n\r\n');
    expect(() => timing({ metric: 'a b' })).toThrow(GatewayError);
  });

  it("leaves the app's header list as the app made it", async () => {
    const headers: Header[] = [['Content-Type', 'text/plain']];
    await run(timing()((_e, s) => { s('200 OK', headers); return []; }));
    expect(headers).toEqual([['Content-Type', 'text/plain']]);
  });
});

describe('compose()', () => {
  it('applies layers outermost first', async () => {
    const order: string[] = [];
    const tag = (name: string): Middleware => (app) => (env, s) => { order.push(name); return app(env, s); };
    await run(compose((_e, s) => { order.push('app'); s('200 OK', TEXT); return []; }, tag('a'), tag('b'), tag('c')));
    expect(order).toEqual(['a', 'b', 'c', 'app']);
  });

  it('refuses a layer that is not a middleware, naming it', () => {
    expect(() => compose((_e, s) => { s('200 OK', TEXT); return []; }, 'x' as unknown as Middleware)).toThrow(/layer #1/);
    expect(() => compose(undefined as unknown as App)).toThrow(GatewayError);
  });
});
