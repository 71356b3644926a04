import { Buffer } from 'node:buffer';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import type { App } from '../../src/contract/types.js';
import { serveHttp, type HttpServer } from '../../src/server/http.js';
import * as apps from '../fixtures/apps.js';
import { waitUntil, within } from '../timing.js';

// Warnings and stack traces the tests below provoke: asserted, not printed.
const stderr = captureStderr();

/** Sends raw bytes and returns the raw response bytes (the server closes after one request). */
function raw(port: number, bytes: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    s.on('data', (d) => out.push(d));
    s.on('end', () => resolve(Buffer.concat(out)));
    s.on('error', reject);
    s.end(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; rawHeaders: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const out: Buffer[] = [];
      res.on('data', (d: Buffer) => out.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(out), rawHeaders: res.rawHeaders }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('dev HTTP server', () => {
  let srv: HttpServer;
  let closes = 0;
  const router: App = (environ, start) => {
    const name = (environ.PATH_INFO.split('/')[1] ?? '') as keyof typeof apps;
    if (name === ('counted' as string)) {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return Object.assign([Buffer.from('counted body')], { close: () => { closes++; } });
    }
    const app = apps[name] as App | undefined;
    if (!app) { start('404 Not Found', [['Content-Type', 'text/plain']]); return [Buffer.from('no such app\n')]; }
    return app(environ, start);
  };

  beforeAll(async () => {
    srv = await serveHttp(router, { port: 0, maxBodyBytes: 2 * 1024 * 1024, memoryBodyBytes: 64 * 1024, accessLog: false });
  });
  afterAll(async () => { await srv.close(); });

  it('C8 PATH_INFO is percent-decoded once into bytes-as-string; REQUEST_URI stays raw', async () => {
    const r = await raw(srv.port, 'GET /env/caf%E9/%252c?x=%41 HTTP/1.0\r\nHost: h\r\n\r\n');
    const env = JSON.parse(r.toString('latin1').split('\r\n\r\n')[1]!) as Record<string, string>;
    expect(env.PATH_INFO).toBe('/env/caf\xe9/%2c');
    expect(env.REQUEST_URI).toBe('/env/caf%E9/%252c?x=%41');
    expect(env.QUERY_STRING).toBe('x=%41');
    expect(env.SCRIPT_NAME).toBe('');
    expect(env.SERVER_PROTOCOL).toBe('HTTP/1.0');
  });

  it('C4 a latin-1 byte in a request header reaches the app as one character', async () => {
    const r = await raw(srv.port, Buffer.concat([Buffer.from('GET /env HTTP/1.0\r\nX-Name: caf'), Buffer.from([0xe9]), Buffer.from('\r\n\r\n')]));
    const env = JSON.parse(r.toString('latin1').split('\r\n\r\n')[1]!) as Record<string, string>;
    expect(env.HTTP_X_NAME).toBe('caf\xe9');
  });

  it('C7 headers become HTTP_*, repeated ones joined, no HTTP_CONTENT_*; C6 run_once false', async () => {
    const r = await raw(srv.port, 'POST /env HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Dup: a\r\nX-Dup: b\r\nCookie: a=1\r\nCookie: b=2\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc');
    const env = JSON.parse(r.toString('latin1').split('\r\n\r\n')[1]!) as Record<string, unknown>;
    expect(env).toMatchObject({ HTTP_X_DUP: 'a, b', HTTP_COOKIE: 'a=1; b=2', CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '3', REQUEST_METHOD: 'POST' });
    expect('HTTP_CONTENT_TYPE' in env || 'HTTP_CONTENT_LENGTH' in env).toBe(false);
    expect([env['wsgi.multithread'], env['wsgi.multiprocess'], env['wsgi.run_once']]).toEqual([false, false, false]);
  });

  it('C9 a POST of all 256 byte values is echoed unchanged (in memory and spooled to disk)', async () => {
    for (const size of [256, 1024 * 1024]) {
      const body = Buffer.alloc(size);
      for (let i = 0; i < size; i++) body[i] = (i * 7 + (i >> 8)) & 0xff;
      const r = await get(srv.port, '/echo', { 'Content-Type': 'application/octet-stream' }, 'POST', body);
      expect(r.status).toBe(200);
      expect(r.body.equals(body), `size ${size}`).toBe(true);
    }
  });

  it('C9 a chunked upload gets CONTENT_LENGTH set to its real length', async () => {
    const r = await raw(srv.port, 'POST /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    const text = r.toString('latin1');
    expect(text).toMatch(/X-Body-Length: 11\r\n/);
    expect(text.endsWith('hello world')).toBe(true);
  });

  it('S1 a body over the limit is answered 413 without running the app', async () => {
    const r = await raw(srv.port, `POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: ${3 * 1024 * 1024}\r\n\r\nabc`);
    expect(r.toString('latin1')).toMatch(/^HTTP\/1\.1 413 /);
    await stderr.until(/HTTP POST \/echo: [^\n]*body of 3145728 bytes exceeds the limit/);
  });

  it('C12 a latin-1 response header value arrives as the single byte 0xE9', async () => {
    const r = await raw(srv.port, 'GET /latin1Header HTTP/1.0\r\n\r\n');
    expect(r.includes(Buffer.from('X-Caf: caf\xe9\r\n', 'latin1'))).toBe(true);
  });

  it('C12 repeated response headers (Set-Cookie) reach the client as separate lines, in order', async () => {
    const app: App = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2; HttpOnly'], ['X-Order', 'last']]);
      return [Buffer.from('ok')];
    };
    const s = await serveHttp(app, { port: 0, accessLog: false });
    const r = await raw(s.port, 'GET / HTTP/1.0\r\n\r\n');
    await s.close();
    expect(r.toString('latin1')).toMatch(/\r\nSet-Cookie: a=1; Path=\/\r\nSet-Cookie: b=2; HttpOnly\r\nX-Order: last\r\n/);
  });

  it('C18 an app error gives a clean 500', async () => {
    const r = await get(srv.port, '/boom');
    expect(r.status).toBe(500);
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.body.toString()).toBe('A server error occurred.  Please contact the administrator.');
    await stderr.until(/the application raised an error: Error: secret-token-123 must not reach the client\n {4}at boom/);
  });

  it('C22 HEAD: the body is not sent, and close() is still called', async () => {
    const before = closes;
    const r = await raw(srv.port, 'HEAD /counted HTTP/1.0\r\n\r\n');
    const text = r.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/Content-Length: 12\r\n/);
    expect(text.endsWith('\r\n\r\n')).toBe(true);
    expect(closes).toBe(before + 1);
  });

  it('C17 a client that goes away mid-response stops the body and close() runs', async () => {
    const lines: string[] = [];
    const closed = new Promise<void>((resolve) => {
      const app: App = (environ, start) => {
        start('200 OK', [['Content-Type', 'text/plain']]);
        let i = 0;
        return {
          async *[Symbol.asyncIterator]() { for (;;) { yield Buffer.from(`line ${i++}\n`); await new Promise((r) => setTimeout(r, 10)); } },
          close() { lines.push(`closed after ${i}`); resolve(); },
        };
      };
      void serveHttp(app, { port: 0, accessLog: false }).then((s) => {
        const sock = connect(s.port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n'));
        sock.once('data', () => setTimeout(() => sock.destroy(), 30));
        void closed.then(() => s.close());
      });
    });
    await closed;
    expect(lines[0]).toMatch(/^closed after \d+$/);
  });

  it('C14 a streamed body is sent as it is produced (chunked, no Content-Length)', async () => {
    // The second chunk is produced only once the client has received the first,
    // so the test holds whether or not Node coalesces writes made in one tick.
    let seenA!: () => void;
    const aArrived = new Promise<void>((resolve) => { seenA = resolve; });
    const app: App = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () { yield Buffer.from('a'); yield Buffer.from(''); await aArrived; yield Buffer.from('b'); })();
    };
    const s = await serveHttp(app, { port: 0, accessLog: false });
    const r = await new Promise<string>((resolve, reject) => {
      let got = '';
      const sock = connect(s.port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n'));
      sock.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (/\r\n\r\n1\r\na\r\n/.test(got)) seenA();
      });
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
    });
    await s.close();
    expect(r).not.toMatch(/Content-Length/i);
    expect(r).toMatch(/Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n$/);
  });

  it('S6 close() lets an in-flight request finish', async () => {
    let running = false;
    let finish!: () => void;
    const release = new Promise<void>((r) => { finish = r; });
    const app: App = async (_e, start) => {
      running = true;
      await release;
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [Buffer.from('finished')];
    };
    const s = await serveHttp(app, { port: 0, accessLog: false });
    const pending = get(s.port, '/');
    await waitUntil(() => running, 'the request to reach the app');
    const closing = s.close();
    setTimeout(finish, 50); // the request finishes after close() began
    const r = await pending;
    await closing;
    expect(r.body.toString()).toBe('finished');
  });

  it('S2 a peer that does not speak HTTP costs only its own connection', async () => {
    const garbage = await raw(srv.port, Buffer.from([0x00, 0x01, 0x02, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]));
    expect(garbage.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
    const huge = await raw(srv.port, `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`);
    expect(huge.toString('latin1')).toMatch(/^HTTP\/1\.1 431 /);
    const ok = await get(srv.port, '/counted');
    expect(ok.body.toString()).toBe('counted body');
  });

  it('S3 a peer that stalls in its headers is timed out', async () => {
    const s = await serveHttp(() => [], { port: 0, headersTimeoutMs: 300, accessLog: false });
    // Within less than the default headers timeout (10 s): the 408 comes from headersTimeoutMs.
    const reply = await within(new Promise<string>((resolve) => {
      const sock = connect(s.port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: h\r\n')); // never finishes
      let got = '';
      sock.on('data', (d) => { got += d.toString('latin1'); });
      sock.on('close', () => resolve(got));
    }), 5000, 'the stalled connection to be answered 408 and closed', 9000);
    await s.close();
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('S4 a large response runs in bounded memory: the body is not pulled while the client does not read', async () => {
    let pulled = 0;
    const block = Buffer.alloc(64 * 1024, 0x61);
    const total = 512; // 32 MiB
    const app: App = (_e, start) => {
      start('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', String(block.length * total)]]);
      return (function* () { for (let i = 0; i < total; i++) { pulled++; yield block; } })();
    };
    const s = await serveHttp(app, { port: 0, accessLog: false });
    const sock = connect(s.port, '127.0.0.1');
    sock.pause();
    sock.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    await new Promise((r) => setTimeout(r, 400));
    const pulledWhilePaused = pulled;
    let bytes = 0;
    await new Promise<void>((resolve) => {
      sock.on('data', (d: Buffer) => { bytes += d.length; });
      sock.on('end', resolve);
      sock.resume();
    });
    await s.close();
    // Socket buffers hold a few MiB at most; without backpressure all 512 blocks would be pulled at once.
    expect(pulledWhilePaused).toBeLessThan(total / 4);
    expect(pulled).toBe(total);
    expect(bytes).toBeGreaterThan(block.length * total);
  });

  it('S4 a large upload is spooled to disk and read back intact', async () => {
    const body = Buffer.alloc(1536 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i ^ (i >> 9)) & 0xff;
    const r = await get(srv.port, '/echo', { 'Content-Type': 'application/octet-stream' }, 'POST', body);
    expect(r.headers['x-body-length']).toBe(String(body.length));
    expect(r.body.equals(body)).toBe(true);
  });
});
