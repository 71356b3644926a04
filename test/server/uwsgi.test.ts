// serveUwsgi over real sockets, with a raw client playing the web server.
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import { setLogger, type Level } from '../../src/contract/log.js';
import type { App } from '../../src/contract/types.js';
import { encodePacket } from '../../src/protocol/uwsgi.js';
import { serveUwsgi, type UwsgiOptions } from '../../src/server/uwsgi.js';

// Warnings and stack traces the tests below provoke: asserted, not printed.
const stderr = captureStderr();

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serve(app: App, opts: UwsgiOptions = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-uwsgi-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'app.sock');
  const srv = await serveUwsgi(app, { socket: path, ...opts });
  cleanups.push(() => srv.close());
  return path;
}

interface Exchange { bytes: Buffer; error?: string }

/** Sends `bytes`, reads until the server closes (or resets) the connection. */
function exchange(path: string, bytes: Buffer | Buffer[], ms = 10_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const got: Buffer[] = [];
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no close within ${ms} ms: ${Buffer.concat(got).toString('latin1').slice(0, 200)}`)); }, ms);
    s.on('data', (d) => got.push(d));
    s.on('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve({ bytes: Buffer.concat(got), error: err.code ?? err.message }); });
    s.on('close', () => { clearTimeout(timer); resolve({ bytes: Buffer.concat(got) }); });
    for (const part of Array.isArray(bytes) ? bytes : [bytes]) s.write(part);
  });
}

const GET: [string, string][] = [['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/'], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['SERVER_NAME', 't'], ['SERVER_PORT', '80']];
const hello: App = (_e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [b('Hello, world!\n')]; };
const envJson: App = (environ, start) => {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(environ)) if (typeof v === 'string') vars[k] = v;
  const body = environ['wsgi.input'].read();
  start('200 OK', [['Content-Type', 'application/json']]);
  return [b(JSON.stringify({ vars, body: Buffer.from(body).toString('latin1') }))];
};
function parsed(x: Exchange): { env: Record<string, string>; body: string } {
  const text = x.bytes.toString('latin1');
  const j = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
  return { env: j.vars, body: j.body };
}

function captureLog(): string[] {
  const lines: string[] = [];
  setLogger((level: Level, msg: string) => { lines.push(`${level}: ${msg}`); });
  cleanups.push(() => setLogger((level, msg) => process.stderr.write(`tsgi ${level}: ${msg}\n`)));
  return lines;
}

describe('uwsgi server', () => {
  it('UV1 U4 a GET gets an HTTP/1.1 status line, headers, the body, then the close; never chunked', async () => {
    const path = await serve(hello);
    const uv1 = Buffer.concat([Buffer.from('003e0000', 'hex'), Buffer.from('0e00', 'hex'), b('REQUEST_METHOD'), Buffer.from('0300', 'hex'), b('GET'),
      Buffer.from('0900', 'hex'), b('PATH_INFO'), Buffer.from('0100', 'hex'), b('/'), Buffer.from('0f00', 'hex'), b('SERVER_PROTOCOL'), Buffer.from('0800', 'hex'), b('HTTP/1.1')]);
    const r = await exchange(path, uv1);
    expect(r.bytes.toString('latin1')).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, world!\n');
  });

  it('U4 the status line follows SERVER_PROTOCOL: HTTP/1.0 when absent; a streamed body has no length and no chunking', async () => {
    const path = await serve((_e, start) => {
      start('404 Not Found', [['Content-Type', 'text/plain']]);
      return (function* () { yield b('a'); yield b('b'); })();
    });
    let r = await exchange(path, encodePacket([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/']]));
    expect(r.bytes.toString('latin1')).toBe('HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nab');
    r = await exchange(path, encodePacket([...GET.filter(([k]) => k !== 'SERVER_PROTOCOL'), ['SERVER_PROTOCOL', 'HTTP/2.0']]));
    expect(r.bytes.toString('latin1')).toBe('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nab');
  });

  it('UV2 U3 the body is CONTENT_LENGTH bytes after the vars; Transfer-Encoding changes nothing; bytes after are ignored', async () => {
    const path = await serve(envJson);
    const head = encodePacket([['REQUEST_METHOD', 'POST'], ['CONTENT_LENGTH', '5'], ['HTTP_TRANSFER_ENCODING', 'chunked']]);
    for (const pieces of [[Buffer.concat([head, b('helloEXTRA')])], [head.subarray(0, 3), head.subarray(3), b('he'), b('llo'), b('EXTRA')]]) {
      const { env, body } = parsed(await exchange(path, pieces));
      expect(body).toBe('hello');
      expect(env.CONTENT_LENGTH).toBe('5');
    }
  });

  it('UV4 U5 UV5 C3 repeated keys joined; empty CONTENT_TYPE/LENGTH dropped; U6 UWSGI_* never reach the app', async () => {
    const path = await serve(envJson);
    const { env } = parsed(await exchange(path, encodePacket([...GET, ['HTTP_X_DUP', 'a'], ['HTTP_X_DUP', 'b'], ['HTTP_COOKIE', 'a=1'], ['HTTP_COOKIE', 'b=2'],
      ['CONTENT_TYPE', ''], ['CONTENT_LENGTH', ''], ['UWSGI_FILE', '/tmp/x.py'], ['HTTP_X_BYTES', 'caf\xe9']])));
    expect(env.HTTP_X_DUP).toBe('a, b');
    expect(env.HTTP_COOKIE).toBe('a=1; b=2');
    expect('CONTENT_TYPE' in env || 'CONTENT_LENGTH' in env || 'UWSGI_FILE' in env).toBe(false);
    expect(env.HTTP_X_BYTES).toBe('caf\xe9');
  });

  it('U1 a 64 KiB vars block (large cookies) is accepted', async () => {
    const path = await serve(envJson);
    const cookie = 'k=' + 'v'.repeat(60_000);
    const { env } = parsed(await exchange(path, encodePacket([...GET, ['HTTP_COOKIE', cookie]])));
    expect(env.HTTP_COOKIE).toBe(cookie);
  });

  it('U8 F13 PATH_INFO is the whole path (stock uwsgi_params) and --mount splits it', async () => {
    const path = await serve(envJson, { mount: '/app' });
    let { env } = parsed(await exchange(path, encodePacket([...GET.filter(([k]) => k !== 'PATH_INFO'), ['PATH_INFO', '/app/x']])));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['/app', '/x']);
    ({ env } = parsed(await exchange(path, encodePacket([...GET.filter(([k]) => k !== 'PATH_INFO'), ['PATH_INFO', '/other']]))));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['', '/other']);
  });

  it('U7 U2 UV6 S2 malformed packets, other modifiers and HTTP clients cost their own connection, with a log line', async () => {
    const log = captureLog();
    const path = await serve(hello);
    const bad = [
      Buffer.from('0004000000000000', 'hex'),          // zero-length key
      Buffer.from('00060000010041090042', 'hex'),      // value runs past the block
      Buffer.from('05000000', 'hex'),                  // modifier1 5
      b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),          // UV6
    ];
    for (const bytes of bad) expect((await exchange(path, bytes)).bytes.length).toBe(0);
    expect(log.some((l) => /an HTTP client spoke to the uwsgi socket/.test(l) && /21573/.test(l))).toBe(true);
    expect(log.some((l) => /modifier1 5/.test(l))).toBe(true);
    expect(log.filter((l) => /malformed packet/.test(l))).toHaveLength(2);
    expect((await exchange(path, encodePacket(GET))).bytes.toString()).toMatch(/^HTTP\/1.1 200 OK/);
  });

  it('S1 a body over the limit gets 413; a bad CONTENT_LENGTH 400', async () => {
    const path = await serve(envJson, { maxBodyBytes: 1000 });
    let r = await exchange(path, encodePacket([...GET, ['CONTENT_LENGTH', '1001']]));
    expect(r.bytes.toString()).toMatch(/^HTTP\/1.1 413 Content Too Large\r\n/);
    r = await exchange(path, encodePacket([...GET, ['CONTENT_LENGTH', '-1']]));
    expect(r.bytes.toString()).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
    await stderr.until(/request body of 1001 bytes exceeds the limit of 1000 bytes[^]*CONTENT_LENGTH "-1" is not a number/);
  });

  it('S3 a peer that never sends its whole request is timed out', async () => {
    const path = await serve(hello, { readTimeoutMs: 200 });
    const t0 = Date.now();
    const r = await exchange(path, encodePacket([...GET, ['CONTENT_LENGTH', '10']]), 5000);
    expect(r.bytes.length).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    await stderr.until(/request not received within 200 ms/);
  });

  it('C18 C20 an error after the head cuts the connection off at once (a TCP one with a reset)', async () => {
    const failing: App = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (function* () { yield b('partial'); throw new Error('boom'); })();
    };
    const srv = await serveUwsgi(failing, { host: '127.0.0.1', port: 0 });
    cleanups.push(() => srv.close());
    const r = await new Promise<Exchange>((resolve) => {
      const s = connect(srv.address.port!, '127.0.0.1');
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('error', (err: NodeJS.ErrnoException) => resolve({ bytes: Buffer.concat(got), error: err.code ?? '' }));
      s.on('close', () => resolve({ bytes: Buffer.concat(got) }));
      s.write(encodePacket(GET));
    });
    expect(r.bytes.toString()).toMatch(/partial$/);
    // Over a unix socket (no reset possible) the connection is closed at once.
    const path = await serve(failing);
    expect((await exchange(path, encodePacket(GET))).bytes.toString()).toMatch(/partial$/);
    await stderr.until(/the application raised an error: Error: boom\n[^]*response cut off; resetting the connection[^]*the application raised an error: Error: boom\n[^]*response cut off; closing the connection/);
  });

  it('C18 an error before the head is a clean 500', async () => {
    const path = await serve(() => { throw new Error('secret'); });
    const r = await exchange(path, encodePacket(GET));
    expect(r.bytes.toString()).toMatch(/^HTTP\/1.1 500 Internal Server Error\r\nContent-Type: text\/plain\r\nContent-Length: 59\r\n\r\nA server error/);
    expect(r.bytes.toString()).not.toContain('secret');
    await stderr.until(/the application raised an error: Error: secret\n {4}at /);
  });
});
