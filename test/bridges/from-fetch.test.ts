// The fetch bridge in process: fromFetch(handler) run by the engine against a
// recording sink. Values are captured in the handler and asserted outside it.
import { Buffer } from 'node:buffer';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { fromFetch, toRequest } from '../../src/bridges/from-fetch.js';
import { RecordingSink, makeEnviron, run, tick } from '../helpers.js';

const split = (text: string): { head: string; body: string } => {
  const i = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, i + 2), body: text.slice(i + 4) };
};

describe('fromFetch: the Request', () => {
  it('B5 the full URL from the environ: scheme, Host, the raw path and query (a raw byte percent-encoded as itself)', () => {
    const url = (vars: Record<string, string>): string => toRequest(makeEnviron(vars).environ).url;
    expect(url({ HTTP_HOST: 'example.org:8080', REQUEST_URI: '/caf%E9?x=%E9', PATH_INFO: '/caf\xe9', QUERY_STRING: 'x=%E9' })).toBe('http://example.org:8080/caf%E9?x=%E9');
    expect(url({ HTTP_HOST: 'example.org', REQUEST_URI: '/caf\xe9/a b' })).toBe('http://example.org/caf%E9/a%20b');
    expect(url({ SERVER_NAME: 'srv', SERVER_PORT: '8443', HTTPS: 'on', PATH_INFO: '/p', QUERY_STRING: 'q' })).toBe('https://srv:8443/p?q');
    expect(url({ SERVER_NAME: 'srv', SERVER_PORT: '443', HTTPS: 'on', PATH_INFO: '/p' })).toBe('https://srv/p');
    expect(url({ HTTP_HOST: 'h', SCRIPT_NAME: '/app', PATH_INFO: '/x', REQUEST_URI: '/app/x' })).toBe('http://h/x');
  });

  it('B5 method, headers (Content-Type and Content-Length restored) and the whole body', async () => {
    const body = Buffer.alloc(1024 * 1024, 3);
    let got: Record<string, unknown> = {};
    await run(fromFetch(async (req) => {
      const bytes = Buffer.from(await req.arrayBuffer());
      got = { method: req.method, type: req.headers.get('content-type'), len: req.headers.get('content-length'), x: req.headers.get('x-latin'), size: bytes.length, same: bytes.equals(body) };
      return new Response('ok');
    }), { REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/octet-stream', HTTP_X_LATIN: 'caf\xe9' }, { body });
    expect(got).toEqual({ method: 'POST', type: 'application/octet-stream', len: String(body.length), x: 'caf\xe9', size: body.length, same: true });
  });

  it('B5 the body is not read before the handler asks (streamed, never buffered first)', async () => {
    let pulled = 0;
    const { environ } = makeEnviron({ REQUEST_METHOD: 'PUT' }, Buffer.alloc(300_000, 1));
    const input = environ['wsgi.input'];
    const read = input.read.bind(input);
    input.read = (n?: number | null) => { pulled++; return read(n); };
    const req = toRequest(environ);
    await tick(5);
    const atStart = pulled;
    const reader = req.body!.getReader();
    await reader.read();
    const afterOne = pulled;
    await reader.cancel();
    expect(atStart).toBe(0);
    expect(afterOne).toBeLessThanOrEqual(2);
  });

  it('B5 signal aborts with tsgi.abort', async () => {
    let aborted = false;
    await run(fromFetch((req) => new Promise((resolve) => {
      // On a loaded machine the abort can come before the handler runs: the signal is then aborted already.
      const done = (): void => { aborted = true; resolve(new Response('late')); };
      if (req.signal.aborted) done();
      else req.signal.addEventListener('abort', done);
    })), {}, { during: (r) => setTimeout(() => r.controller.abort(new Error('gone')), 10) });
    expect(aborted).toBe(true);
  });
});

describe('fromFetch: the Response', () => {
  it('B6 status and reason, every header, several Set-Cookie; a whole body goes out in one write with its length', async () => {
    const r = await run(fromFetch(() => {
      const h = new Headers({ 'Content-Type': 'text/plain', Connection: 'close' });
      h.append('Set-Cookie', 'a=1; Path=/');
      h.append('Set-Cookie', 'b=2');
      return new Response('made', { status: 201, statusText: 'Made It', headers: h });
    }));
    expect(r.sink.text).toBe('Status: 201 Made It\r\ncontent-type: text/plain\r\nset-cookie: a=1; Path=/\r\nset-cookie: b=2\r\nContent-Length: 4\r\n\r\nmade');
    const d = await run(fromFetch({ fetch: () => new Response(null, { status: 204 }) }));
    expect(d.sink.text).toBe('Status: 204 No Content\r\nContent-Length: 0\r\n\r\n');
  });

  it('B6 a streamed body is read only as fast as the gateway takes it, and cancelled when the client goes away', async () => {
    const sink = new RecordingSink();
    let open!: () => void;
    sink.gate = new Promise((r) => { open = r; });
    let produced = 0;
    let cancelled: unknown;
    const p = run(fromFetch(() => new Response(new ReadableStream({
      pull(c) { produced++; c.enqueue(new Uint8Array(1000)); },
      cancel(reason) { cancelled = reason ?? true; },
    }, { highWaterMark: 0 }))), {}, { sink, during: (r) => setTimeout(() => r.controller.abort(new Error('gone')), 60) });
    await tick(30);
    const whileGated = produced;
    await p;
    open();
    expect(whileGated).toBeLessThan(6);
    expect(cancelled).toBeDefined();
  });

  it('B6 Hono: routes, JSON, 404 and an error handler through the bridge', async () => {
    const app = new Hono();
    app.get('/j', (c) => c.json({ a: 1 }, 202));
    app.get('/boom', () => { throw new Error('x'); });
    app.onError((_e, c) => c.text('broke', 500));
    const j = await run(fromFetch(app), { HTTP_HOST: 'h', PATH_INFO: '/j', REQUEST_URI: '/j' });
    const n = await run(fromFetch(app), { HTTP_HOST: 'h', PATH_INFO: '/nope', REQUEST_URI: '/nope' });
    const e = await run(fromFetch(app), { HTTP_HOST: 'h', PATH_INFO: '/boom', REQUEST_URI: '/boom' });
    expect(split(j.sink.text)).toEqual({ head: 'Status: 202 Accepted\r\ncontent-type: application/json\r\nContent-Length: 7\r\n', body: '{"a":1}' });
    expect(n.sink.text).toMatch(/^Status: 404 Not Found\r\n/);
    expect(split(e.sink.text).body).toBe('broke');
  });

  it('B6 a handler that returns no Response is an app error (500)', async () => {
    const r = await run(fromFetch((() => 'nope') as never));
    expect(r.sink.text).toMatch(/^Status: 500 /);
    expect(r.errors).toMatch(/must return a Response/);
  });
});
