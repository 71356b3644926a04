import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import type { App, Environ, StartResponse } from '../../src/contract/types.js';
import { LIVE_HIGH_WATER, type LiveBody } from '../../src/gateway/body-stream.js';
import { serveHttp, type HttpServer } from '../../src/server/http.js';
import { waitUntil } from '../timing.js';
import { openRaw } from '../integration/http-client.js';

captureStderr();

/** A side channel from the app to the test: what the app has seen so far. */
interface Seen { chunks: number; bytes: number; live: LiveBody | null; error: string }


describe('X3 streaming request bodies on the dev server', () => {
  let srv: HttpServer;
  let seen: Seen;
  let gate: Promise<void> = Promise.resolve();
  let slow = false;
  const app: App = async function* (environ: Environ, start: StartResponse) {
    const hash = createHash('sha256');
    const input = environ['tsgi.input'] as AsyncIterable<Uint8Array>;
    seen.live = input as LiveBody;
    try {
      if (environ.PATH_INFO === '/sync') {
        environ['wsgi.input'].read();
      }
      for await (const chunk of input) {
        seen.chunks++;
        seen.bytes += chunk.length;
        hash.update(chunk);
        if (seen.chunks === 1) await gate;
        if (slow) await new Promise((r) => setTimeout(r, 0));
      }
    } catch (err) {
      seen.error = (err as Error).message;
      start('500 Internal Server Error', [['Content-Type', 'text/plain']]);
      yield Buffer.from(seen.error);
      return;
    }
    start('200 OK', [['Content-Type', 'text/plain']]);
    yield Buffer.from(`${seen.bytes} ${hash.digest('hex')}`);
  } as unknown as App;

  beforeAll(async () => {
    srv = await serveHttp(app, { port: 0, streamBodies: true, maxBodyBytes: 1 << 20, accessLog: false });
  });
  afterAll(async () => { await srv.close(); });

  const head = (len: number | 'chunked', path = '/'): string =>
    `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${len === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${len}`}\r\n\r\n`;

  it('X3 the app sees the first chunk before the client sends the rest (Content-Length and chunked)', async () => {
    for (const framing of ['length', 'chunked'] as const) {
      seen = { chunks: 0, bytes: 0, live: null, error: '' };
      const first = Buffer.alloc(1000, 'a');
      const rest = Buffer.alloc(3000, 'b');
      const { socket, response } = openRaw(srv.port);
      if (framing === 'length') socket.write(head(4000) + first.toString('latin1'));
      else socket.write(`${head('chunked')}${first.length.toString(16)}\r\n${first.toString('latin1')}\r\n`);
      // Causal: the rest is only sent once the app has reported the first bytes.
      await waitUntil(() => seen.bytes >= 1000, 'the app to see the first chunk');
      expect(seen.live!.settled).toBe(false);
      if (framing === 'length') socket.end(rest);
      else socket.end(`${rest.length.toString(16)}\r\n${rest.toString('latin1')}\r\n0\r\n\r\n`);
      const text = await response;
      const want = createHash('sha256').update(first).update(rest).digest('hex');
      expect(text.startsWith('HTTP/1.1 200 OK\r\n'), text).toBe(true);
      expect(text.endsWith(`\r\n4000 ${want}`) || text.includes(`4000 ${want}`)).toBe(true);
    }
  });

  it('X3 back-pressure: a slow app keeps the bytes the server holds bounded by the high-water mark', async () => {
    seen = { chunks: 0, bytes: 0, live: null, error: '' };
    let release!: () => void;
    gate = new Promise((r) => { release = r; });
    slow = true;
    const total = 1 << 20; // the limit; the app reads a macrotask per chunk, far slower than loopback
    const { socket, response } = openRaw(srv.port);
    socket.write(head(total));
    // Not end(): a half-close would let node:http end the connection while the app still reads.
    socket.write(Buffer.alloc(total, 'z'));
    // The app holds its first chunk until the server has buffered a high-water mark.
    await waitUntil(() => seen.live !== null && seen.live.buffered >= LIVE_HIGH_WATER, 'the server to buffer a high-water mark');
    release();
    const text = await response;
    slow = false;
    gate = Promise.resolve();
    expect(text.includes(`${total} ${createHash('sha256').update(Buffer.alloc(total, 'z')).digest('hex')}`), `${text.slice(0, 300)} ${seen.error} ${seen.bytes} peak ${seen.live!.peakBuffered}`).toBe(true);
    // One socket read past the mark at most: the server stopped reading while the app lagged.
    expect(seen.live!.peakBuffered).toBeLessThanOrEqual(LIVE_HIGH_WATER + 65536);
  });

  it('X3 a streamed body past maxBodyBytes fails the app\'s read with ERR_LIMIT_BODY and the connection closes', async () => {
    seen = { chunks: 0, bytes: 0, live: null, error: '' };
    const { socket, response } = openRaw(srv.port);
    socket.write(`${head('chunked')}`);
    const piece = Buffer.alloc(65536, 'q');
    for (let i = 0; i < 20; i++) socket.write(`${piece.length.toString(16)}\r\n${piece.toString('latin1')}\r\n`);
    socket.end('0\r\n\r\n');
    await response;
    await waitUntil(() => seen.error !== '', 'the app to see the limit');
    expect(seen.error).toBe(`request body exceeds the limit of ${1 << 20} bytes`);
    expect(seen.bytes).toBeLessThanOrEqual(1 << 20);
  });

  it('X3 a client that stalls and leaves mid-body fails the app\'s read', async () => {
    seen = { chunks: 0, bytes: 0, live: null, error: '' };
    const { socket } = openRaw(srv.port);
    socket.write(head(5000) + 'x'.repeat(100));
    await waitUntil(() => seen.bytes === 100, 'the app to see the first bytes');
    socket.destroy();
    await waitUntil(() => seen.error !== '', 'the app to see the client leave');
    expect(seen.error).toBe('the client closed the connection during the body');
  });

  it('X3 under streamBodies a synchronous wsgi.input read is refused with the fix in the message', async () => {
    seen = { chunks: 0, bytes: 0, live: null, error: '' };
    const { socket, response } = openRaw(srv.port);
    socket.end(head(3, '/sync') + 'abc');
    const text = await response;
    expect(seen.error).toMatch(/the request body is streamed .*environ\['tsgi.input'\]/);
    expect(text.startsWith('HTTP/1.1 500')).toBe(true);
  });
});

describe('X3 tsgi.input without streamBodies', () => {
  it('X3 wsgi.input apps are unchanged, and tsgi.input gives the spooled body', async () => {
    const app: App = (environ, start) => {
      const sync = Buffer.from(environ['wsgi.input'].read());
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        const parts: Uint8Array[] = [];
        for await (const c of environ['tsgi.input'] as AsyncIterable<Uint8Array>) parts.push(c);
        yield Buffer.from(`${sync.toString()}|${Buffer.concat(parts).length}`);
      })();
    };
    const srv = await serveHttp(app, { port: 0, accessLog: false });
    try {
      const { socket, response } = openRaw(srv.port);
      socket.end('POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello');
      const text = await response;
      // The synchronous read took the whole body, so the async one finds nothing left.
      expect(text.endsWith('hello|0') || text.includes('hello|0')).toBe(true);
    } finally { await srv.close(); }
  });

  it('X3 without streamBodies tsgi.input yields the spooled body whole, and an empty one for a GET', async () => {
    const app: App = (environ, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        const parts: Uint8Array[] = [];
        for await (const c of environ['tsgi.input'] as AsyncIterable<Uint8Array>) parts.push(c);
        const body = Buffer.concat(parts);
        yield Buffer.from(`${environ.REQUEST_METHOD} ${body.length} ${createHash('sha256').update(body).digest('hex')}`);
      })();
    };
    const srv = await serveHttp(app, { port: 0, accessLog: false });
    try {
      const big = Buffer.alloc(3 * 1024 * 1024 + 7, 'k'); // past memoryBodyBytes: spooled to a file
      for (const [method, body] of [['POST', big], ['GET', Buffer.alloc(0)]] as const) {
        const { socket, response } = openRaw(srv.port);
        socket.write(Buffer.concat([Buffer.from(`${method} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${body.length > 0 ? `Content-Length: ${body.length}\r\n` : ''}\r\n`), body]));
        const text = await response;
        expect(text.includes(`${method} ${body.length} ${createHash('sha256').update(body).digest('hex')}`), text.slice(-120)).toBe(true);
      }
    } finally { await srv.close(); }
  });
});

describe('X3 SCGI with streamBodies', () => {
  it('X3 the app sees the first part of an SCGI body before the rest is sent, then all of it', async () => {
    const { serveScgi } = await import('../../src/server/scgi.js');
    let n = 0;
    const srv = await serveScgi((async function* (environ: Environ, start: StartResponse) {
      for await (const c of environ['tsgi.input'] as AsyncIterable<Uint8Array>) n += c.length;
      start('200 OK', [['Content-Type', 'text/plain']]);
      yield Buffer.from(`got ${n}`);
    }) as unknown as App, { port: 0, host: '127.0.0.1', streamBodies: true });
    try {
      const port = Number(srv.address.text.split(':').pop());
      const hdr = Buffer.from('CONTENT_LENGTH\u0000500000\u0000SCGI\u00001\u0000REQUEST_METHOD\u0000POST\u0000', 'latin1');
      const { socket, response } = openRaw(port);
      socket.write(Buffer.concat([Buffer.from(`${hdr.length}:`), hdr, Buffer.from(','), Buffer.alloc(100_000, 97)]));
      await waitUntil(() => n >= 100_000, 'the app to see the first part');
      socket.write(Buffer.alloc(400_000, 98));
      expect(await response).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\ngot 500000');
    } finally { await srv.close(); }
  });
});
