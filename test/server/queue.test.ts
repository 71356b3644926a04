// O7: the bounded queue past --max-concurrent, over real sockets. Causal, not
// timed: the first request holds the only slot until the test releases it;
// the test waits until the server reports the next one waiting.
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import type { App } from '../../src/contract/types.js';
import { encodeRecord } from '../../src/protocol/fastcgi/records.js';
import { encodeHeader } from '../../src/protocol/scgi.js';
import { encodePacket } from '../../src/protocol/uwsgi.js';
import { serveFastCgi } from '../../src/server/fastcgi.js';
import { serveHttp, type HttpServer } from '../../src/server/http.js';
import { serveScgi } from '../../src/server/scgi.js';
import type { SocketServer } from '../../src/server/socket-server.js';
import { serveUwsgi } from '../../src/server/uwsgi.js';
import { FcgiClient, GET, parseResponse, requestBytes } from '../fcgi-client.js';
import { waitUntil } from '../timing.js';

const stderr = captureStderr();
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/**
 * An app whose request for `/hold` keeps its slot until `release()`; every
 * call is recorded by path, so a request that never ran is seen not to have.
 */
function holdingApp(): { app: App; calls: string[]; release: () => void; held: () => boolean } {
  const calls: string[] = [];
  let release: (() => void) | undefined;
  const app: App = (environ, start) => {
    const path = String(environ.PATH_INFO);
    calls.push(path);
    start('200 OK', [['Content-Type', 'text/plain']]);
    if (path !== '/hold') return [b(`ran ${path}`)];
    return (async function* () {
      await new Promise<void>((r) => { release = r; });
      yield b('held');
    })();
  };
  return { app, calls, release: () => release!(), held: () => release !== undefined };
}

type Serve = typeof serveFastCgi | typeof serveUwsgi | typeof serveScgi;

async function serve(fn: Serve, app: App, queueTimeoutMs: number): Promise<{ srv: SocketServer; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-queue-test-'));
  const path = join(dir, 'app.sock');
  const srv = await fn(app, { socket: path, maxRequests: 1, queueTimeoutMs });
  cleanups.push(async () => { await srv.close(2000); rmSync(dir, { recursive: true, force: true }); });
  return { srv, path };
}

async function fcgi(path: string): Promise<FcgiClient> {
  const c = await FcgiClient.connect(path);
  cleanups.push(() => c.close());
  return c;
}

const fcgiGet = (path: string): Record<string, string> => ({ ...GET, SCRIPT_NAME: '', PATH_INFO: path });

/** A uwsgi or SCGI exchange: one connection, the whole reply up to the close. */
interface Exchange { socket: Socket; reply: Promise<string> }

function exchange(path: string, bytes: Buffer): Exchange {
  const socket = connect(path);
  cleanups.push(() => socket.destroy());
  const got: Buffer[] = [];
  const reply = new Promise<string>((resolve) => {
    socket.on('data', (d) => got.push(d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(got).toString('latin1')));
  });
  socket.write(bytes);
  return { socket, reply };
}

const vars = (path: string): [string, string][] => [['REQUEST_METHOD', 'GET'], ['PATH_INFO', path], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['SERVER_NAME', 't'], ['SERVER_PORT', '80']];
const uwsgiReq = (path: string): Buffer => encodePacket(vars(path));
const scgiReq = (path: string): Buffer => encodeHeader(vars(path));

const waiting = (srv: SocketServer, n: number): Promise<void> => waitUntil(() => srv.queueStats().waiting === n, `${n} request(s) waiting`);

describe('O7 FastCGI: past the request limit a request waits for a slot', () => {
  it('O7 FastCGI a request past the limit waits and is served once the slot frees', async () => {
    const h = holdingApp();
    const { srv, path } = await serve(serveFastCgi, h.app, 60_000);
    const a = await fcgi(path);
    a.send(requestBytes(1, fcgiGet('/hold')));
    await waitUntil(h.held, 'the first request holding its slot');
    const c = await fcgi(path);
    c.send(requestBytes(1, fcgiGet('/next')));
    await waiting(srv, 1);
    expect(h.calls).toEqual(['/hold']);
    h.release();
    expect(parseResponse((await a.reply(1)).stdout).body.toString()).toBe('held');
    const r = parseResponse((await c.reply(1)).stdout);
    expect(r.status).toBe('200 OK');
    expect(r.body.toString()).toBe('ran /next');
    expect(h.calls).toEqual(['/hold', '/next']);
    expect(srv.queueStats()).toMatchObject({ queued: 1, timedOut: 0, dropped: 0, waiting: 0 });
  });

  it('O7 FastCGI with the slot never freed, a waiting request gets 503 with Retry-After at the queue timeout, unrun', async () => {
    const h = holdingApp();
    const { srv, path } = await serve(serveFastCgi, h.app, 300);
    const a = await fcgi(path);
    a.send(requestBytes(1, fcgiGet('/hold')));
    await waitUntil(h.held, 'the first request holding its slot');
    const c = await fcgi(path);
    const reply = await c.request(1, fcgiGet('/next'));
    const r = parseResponse(reply.stdout);
    expect(r.status).toBe('503 Service Unavailable');
    expect(r.headers).toContainEqual(['Retry-After', '1']);
    expect(reply.protocolStatus).toBe(0);
    expect(h.calls).toEqual(['/hold']);
    expect(srv.queueStats()).toMatchObject({ queued: 1, timedOut: 1, waiting: 0 });
    await stderr.until(/GET \/next: no request slot free after \d+ ms \(maxRequests 1, queue timeout 300 ms\); answered 503/);
    h.release();
    expect(parseResponse((await a.reply(1)).stdout).body.toString()).toBe('held');
  });

  it('O7 FastCGI a waiting request the web server aborts (FCGI_ABORT_REQUEST) is never run', async () => {
    const h = holdingApp();
    const { srv, path } = await serve(serveFastCgi, h.app, 60_000);
    const a = await fcgi(path);
    a.send(requestBytes(1, fcgiGet('/hold')));
    await waitUntil(h.held, 'the first request holding its slot');
    const c = await fcgi(path);
    c.send(requestBytes(1, fcgiGet('/gone'), { keep: true }));
    await waiting(srv, 1);
    c.send(encodeRecord(2, 1));
    const end = await c.reply(1);
    expect(end.stdout.length).toBe(0);
    expect(srv.queueStats()).toMatchObject({ waiting: 0, dropped: 1 });
    h.release();
    await a.reply(1);
    // The connection lives on, and the slot is free for the next request.
    expect(parseResponse((await c.request(2, fcgiGet('/after'), { keep: true })).stdout).body.toString()).toBe('ran /after');
    expect(h.calls).toEqual(['/hold', '/after']);
  });

  it('O7 FastCGI a waiting request whose connection closes is never run; the next in line is', async () => {
    const h = holdingApp();
    const { srv, path } = await serve(serveFastCgi, h.app, 60_000);
    const a = await fcgi(path);
    a.send(requestBytes(1, fcgiGet('/hold')));
    await waitUntil(h.held, 'the first request holding its slot');
    const gone = await fcgi(path);
    gone.send(requestBytes(1, fcgiGet('/gone')));
    await waiting(srv, 1);
    const next = await fcgi(path);
    next.send(requestBytes(1, fcgiGet('/next')));
    await waiting(srv, 2);
    // nginx closes its upstream connection when its client leaves.
    gone.socket.end();
    await waitUntil(() => srv.queueStats().dropped === 1, 'the request dropped');
    h.release();
    expect(parseResponse((await next.reply(1)).stdout).body.toString()).toBe('ran /next');
    expect(h.calls).toEqual(['/hold', '/next']);
  });
});

for (const [name, fn, req, line] of [
  ['uwsgi', serveUwsgi, uwsgiReq, 'HTTP/1.1 503 Service Unavailable\r\n'],
  ['SCGI', serveScgi, scgiReq, 'Status: 503 Service Unavailable\r\n'],
] as const) {
  describe(`O7 ${name}: past the request limit a connection's request waits for a slot`, () => {
    it(`O7 ${name} a request past the limit waits and is served once the slot frees`, async () => {
      const h = holdingApp();
      const { srv, path } = await serve(fn, h.app, 60_000);
      const a = exchange(path, req('/hold'));
      await waitUntil(h.held, 'the first request holding its slot');
      const c = exchange(path, req('/next'));
      await waiting(srv, 1);
      expect(h.calls).toEqual(['/hold']);
      h.release();
      expect(await a.reply).toMatch(/\r\n\r\nheld$/);
      expect(await c.reply).toMatch(/200 OK\r\n[^]*\r\n\r\nran \/next$/);
      expect(h.calls).toEqual(['/hold', '/next']);
    });

    it(`O7 ${name} with the slot never freed, a waiting request gets 503 at the queue timeout, unrun`, async () => {
      const h = holdingApp();
      const { srv, path } = await serve(fn, h.app, 300);
      const a = exchange(path, req('/hold'));
      await waitUntil(h.held, 'the first request holding its slot');
      const reply = await exchange(path, req('/next')).reply;
      expect(reply.startsWith(line)).toBe(true);
      expect(reply).toContain('\r\nRetry-After: 1\r\n');
      expect(h.calls).toEqual(['/hold']);
      expect(srv.queueStats()).toMatchObject({ timedOut: 1, waiting: 0 });
      await stderr.until(/GET \/next: no request slot free after \d+ ms/);
      h.release();
      expect(await a.reply).toMatch(/held$/);
    });

    it(`O7 ${name} a waiting request whose web server closes the connection is never run`, async () => {
      const h = holdingApp();
      const { srv, path } = await serve(fn, h.app, 60_000);
      const a = exchange(path, req('/hold'));
      await waitUntil(h.held, 'the first request holding its slot');
      const gone = exchange(path, req('/gone'));
      await waiting(srv, 1);
      gone.socket.end();
      await waitUntil(() => srv.queueStats().dropped === 1, 'the request dropped');
      expect(await gone.reply).toBe('');
      h.release();
      expect(await a.reply).toMatch(/held$/);
      expect(await exchange(path, req('/after')).reply).toMatch(/ran \/after$/);
      expect(h.calls).toEqual(['/hold', '/after']);
    });
  });
}

/** One HTTP/1.1 request on its own connection; the reply up to the close. */
function httpExchange(port: number, path: string): Exchange {
  const socket = connect(port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  const got: Buffer[] = [];
  const reply = new Promise<string>((resolve) => {
    socket.on('data', (d) => got.push(d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(got).toString('latin1')));
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
  return { socket, reply };
}

async function serveH(app: App, queueTimeoutMs: number): Promise<HttpServer> {
  const srv = await serveHttp(app, { port: 0, maxRequests: 1, queueTimeoutMs, accessLog: false });
  cleanups.push(() => srv.close(2000));
  return srv;
}

describe('O7 HTTP (dev server): past the request limit a request waits for a slot', () => {
  it('O7 HTTP a request past the limit waits and is served once the slot frees', async () => {
    const h = holdingApp();
    const srv = await serveH(h.app, 60_000);
    const a = httpExchange(srv.port, '/hold');
    await waitUntil(h.held, 'the first request holding its slot');
    const c = httpExchange(srv.port, '/next');
    await waitUntil(() => srv.queueStats().waiting === 1, '1 request waiting');
    expect(h.calls).toEqual(['/hold']);
    h.release();
    expect(await a.reply).toMatch(/held/);
    expect(await c.reply).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*ran \/next/);
    expect(h.calls).toEqual(['/hold', '/next']);
  });

  it('O7 HTTP with the slot never freed, a waiting request gets 503 at the queue timeout, unrun; with no queue at once', async () => {
    for (const timeout of [300, 0]) {
      const h = holdingApp();
      const srv = await serveH(h.app, timeout);
      const a = httpExchange(srv.port, '/hold');
      await waitUntil(h.held, 'the first request holding its slot');
      const reply = await httpExchange(srv.port, '/next').reply;
      expect(reply).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
      expect(reply).toMatch(/\r\nRetry-After: 1\r\n/i);
      expect(h.calls).toEqual(['/hold']);
      await stderr.until(/GET \/next: no request slot free/);
      h.release();
      expect(await a.reply).toMatch(/held/);
    }
  });

  it('O7 HTTP a waiting request whose client leaves is never run', async () => {
    const h = holdingApp();
    const srv = await serveH(h.app, 60_000);
    const a = httpExchange(srv.port, '/hold');
    await waitUntil(h.held, 'the first request holding its slot');
    const gone = httpExchange(srv.port, '/gone');
    await waitUntil(() => srv.queueStats().waiting === 1, '1 request waiting');
    gone.socket.destroy();
    await waitUntil(() => srv.queueStats().dropped === 1, 'the request dropped');
    h.release();
    expect(await a.reply).toMatch(/held/);
    expect(await httpExchange(srv.port, '/after').reply).toMatch(/ran \/after/);
    expect(h.calls).toEqual(['/hold', '/after']);
  });
});

describe('O7 the queue timer', () => {
  it('O7 a queue timeout past setTimeout\'s range is kept to it (no overflow, no early 503)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => { warnings.push(w.name); };
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));
    const h = holdingApp();
    const { srv, path } = await serve(serveFastCgi, h.app, 10 * 2 ** 31);
    const a = await fcgi(path);
    a.send(requestBytes(1, fcgiGet('/hold')));
    await waitUntil(h.held, 'the first request holding its slot');
    const c = await fcgi(path);
    c.send(requestBytes(1, fcgiGet('/next')));
    await waiting(srv, 1);
    // An overflowing delay makes Node warn (TimeoutOverflowWarning, on the next tick) and fire after 1 ms.
    await new Promise((r) => setImmediate(r));
    expect(warnings).not.toContain('TimeoutOverflowWarning');
    expect(srv.queueStats().timedOut).toBe(0);
    h.release();
    expect(parseResponse((await c.reply(1)).stdout).body.toString()).toBe('ran /next');
  });
});
