// B7: a tsgi app served as a Node listener (on a real node:http server, and
// mounted inside Express) and as a fetch handler.
import { Buffer } from 'node:buffer';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/contract/types.js';
import { toFetchHandler } from '../../src/server/to-fetch-handler.js';
import { toNodeListener } from '../../src/server/to-node-listener.js';
import { tick } from '../helpers.js';

const echo: App = (environ, start) => {
  const body = environ['wsgi.input'].read();
  start('200 OK', [['Content-Type', 'application/json'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  return [Buffer.from(JSON.stringify({
    method: environ.REQUEST_METHOD, script: environ.SCRIPT_NAME, path: environ.PATH_INFO, query: environ.QUERY_STRING,
    host: environ.SERVER_NAME, port: environ.SERVER_PORT, scheme: environ['wsgi.url_scheme'], x: environ.HTTP_X_TEST ?? null, body: Buffer.from(body).toString('latin1'),
  }))];
};

const servers: Server[] = [];
afterEach(() => { for (const s of servers.splice(0)) s.close(); });
const listen = (s: Server): Promise<number> => new Promise((r) => { servers.push(s); s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)); });

describe('B7 the reverse bridges', () => {
  it('B7 toNodeListener serves an app on node:http: environ from the request, body, several Set-Cookie', async () => {
    const port = await listen(createServer(toNodeListener(echo)));
    const r = await fetch(`http://127.0.0.1:${port}/caf%E9?q=1`, { method: 'POST', body: 'hello', headers: { 'X-Test': 't' } });
    expect(r.status).toBe(200);
    expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await r.json()).toEqual({ method: 'POST', script: '', path: '/caf\xe9', query: 'q=1', host: '127.0.0.1', port: String(port), scheme: 'http', x: 't', body: 'hello' });
  });

  it('B7 toNodeListener mounted in Express: SCRIPT_NAME is the mount path', async () => {
    const app = express();
    app.use('/legacy', toNodeListener(echo));
    const port = await listen(createServer(app));
    const j = await (await fetch(`http://127.0.0.1:${port}/legacy/x/y?z`)).json() as Record<string, string>;
    expect([j.script, j.path, j.query]).toEqual(['/legacy', '/x/y', 'z']);
  });

  it('B7 toNodeListener streams with backpressure and fires tsgi.abort when the client goes away', async () => {
    let closed = false;
    const stream: App = (_environ, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return {
        async *[Symbol.asyncIterator]() { for (;;) { yield Buffer.alloc(16384, 46); await tick(1); } },
        close() { closed = true; },
      };
    };
    const port = await listen(createServer(toNodeListener(stream)));
    const ac = new AbortController();
    const r = await fetch(`http://127.0.0.1:${port}/`, { signal: ac.signal });
    const reader = r.body!.getReader();
    await reader.read();
    ac.abort();
    for (let i = 0; i < 100 && !closed; i++) await tick(10);
    expect(closed).toBe(true);
  });

  it('B7 toFetchHandler: a Request in, the app\'s Response out (status, Set-Cookie, body)', async () => {
    const handler = toFetchHandler(echo, { errors: () => {} });
    const r = await handler(new Request('https://example.org:8443/p%E9?x=1', { method: 'PUT', body: 'data', headers: { 'X-Test': 'v' } }));
    expect(r.status).toBe(200);
    expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await r.json()).toEqual({ method: 'PUT', script: '', path: '/p\xe9', query: 'x=1', host: 'example.org', port: '8443', scheme: 'https', x: 'v', body: 'data' });
  });

  it('B7 toFetchHandler streams the body as it is read, refuses a body over the limit with 413, and a cancelled body fires tsgi.abort', async () => {
    let closed = false;
    let made = 0;
    const stream: App = (_environ, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return {
        *[Symbol.iterator]() { for (;;) { made++; yield Buffer.from(`chunk ${made}\n`); } },
        close() { closed = true; },
      };
    };
    const r = await toFetchHandler(stream)(new Request('http://h/'));
    const reader = r.body!.getReader();
    await reader.read();
    await tick(10);
    const held = made;
    await reader.cancel();
    for (let i = 0; i < 50 && !closed; i++) await tick(5);
    expect(held).toBeLessThan(5);
    expect(closed).toBe(true);
    const big = await toFetchHandler(echo, { maxBodyBytes: 10 })(new Request('http://h/', { method: 'POST', body: 'x'.repeat(11) }));
    expect(big.status).toBe(413);
  });
});
