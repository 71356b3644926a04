// serveScgi over real sockets, with a raw client playing the web server (G1-G3).
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import { setLogger, type Level } from '../../src/contract/log.js';
import type { App } from '../../src/contract/types.js';
import { encodeHeader } from '../../src/protocol/scgi.js';
import { serveScgi, type ScgiOptions } from '../../src/server/scgi.js';

// Warnings and stack traces the tests below provoke: asserted, not printed.
const stderr = captureStderr();

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serve(app: App, opts: ScgiOptions = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-scgi-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'app.sock');
  const srv = await serveScgi(app, { socket: path, ...opts });
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
const req = (vars: [string, string][] = GET, body = ''): Buffer => Buffer.concat([encodeHeader(vars, body.length), b(body)]);
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

describe('SCGI server', () => {
  it('G2 a GET gets a CGI-style head (Status:, headers as latin-1 bytes), the body, then the close', async () => {
    const path = await serve((_e, start) => { start('200 OK', [['Content-Type', 'text/plain'], ['X-Latin', 'caf\xe9']]); return [b('Hello, world!\n')]; });
    const r = await exchange(path, b('68:CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_METHOD\x00GET\x00REQUEST_URI\x00/deepthought\x00,'));
    expect(r.bytes.toString('latin1')).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nX-Latin: caf\xe9\r\nContent-Length: 14\r\n\r\nHello, world!\n');
    expect(r.error).toBeUndefined();
  });

  it('G2 a streamed body has no length and no chunking: the close ends it', async () => {
    const path = await serve((_e, start) => {
      start('404 Not Found', [['Content-Type', 'text/plain']]);
      return (function* () { yield b('a'); yield b('b'); })();
    });
    const r = await exchange(path, req());
    expect(r.bytes.toString('latin1')).toBe('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nab');
  });

  it('G3 the body is exactly CONTENT_LENGTH bytes after the comma, however it is cut; bytes after are ignored', async () => {
    const path = await serve(envJson);
    const head = encodeHeader([['REQUEST_METHOD', 'POST'], ['HTTP_TRANSFER_ENCODING', 'chunked']], 5);
    for (const pieces of [[Buffer.concat([head, b('helloEXTRA')])], [head.subarray(0, 2), head.subarray(2, 30), head.subarray(30), b('he'), b('llo'), b('EXTRA')]]) {
      const { env, body } = parsed(await exchange(path, pieces));
      expect(body).toBe('hello');
      expect(env.CONTENT_LENGTH).toBe('5');
      expect(env.SCGI).toBe('1');
    }
  });

  it('G3 a 1 MiB body (spooled to a file) arrives byte for byte', async () => {
    const path = await serve((environ, start) => {
      const got = Buffer.from(environ['wsgi.input'].read());
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [b(`${got.length} ${got.equals(big) ? 'same' : 'different'}`)];
    });
    const big = Buffer.alloc(1024 * 1024 + 3, 'xyz\x00\xff');
    const r = await exchange(path, [encodeHeader([['REQUEST_METHOD', 'PUT']], big.length), big]);
    expect(r.bytes.toString('latin1')).toMatch(/\r\n\r\n1048579 same$/);
  });

  it('G1 C3 empty optional variables are dropped; repeated HTTP_* pairs joined', async () => {
    const path = await serve(envJson);
    const { env } = parsed(await exchange(path, req([...GET, ['HTTP_COOKIE', 'a=1'], ['HTTP_COOKIE', 'b=2'], ['CONTENT_TYPE', ''], ['HTTP_X_BYTES', 'caf\xe9']])));
    expect(env.HTTP_COOKIE).toBe('a=1; b=2');
    expect('CONTENT_TYPE' in env).toBe(false);
    expect(env.CONTENT_LENGTH).toBeUndefined();
    expect(env.HTTP_X_BYTES).toBe('caf\xe9');
  });

  it('G1 --mount splits PATH_INFO', async () => {
    const path = await serve(envJson, { mount: '/app' });
    const { env } = parsed(await exchange(path, req([...GET.filter(([k]) => k !== 'PATH_INFO'), ['PATH_INFO', '/app/x']])));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['/app', '/x']);
  });

  it('G1 S2 each malformed header closes that connection only, with one log line and no app call; the server keeps serving', async () => {
    const log = captureLog();
    let calls = 0;
    const path = await serve((e, s) => { calls++; return hello(e, s); }, { maxVarsBytes: 4096 });
    const bad: [Buffer, RegExp][] = [
      [b('7x:'), /byte 0x78 in the length/],
      [b('024:CONTENT_LENGTH\x000\x00SCGI\x001\x00,'), /leading zero/],
      [b('4097'), /a request header of 4097 bytes is over the limit of 4096/],
      [b('24:CONTENT_LENGTH\x000\x00SCGI\x001\x00;'), /no comma/],
      [b('24:SCGI\x001\x00CONTENT_LENGTH\x000\x00,'), /CONTENT_LENGTH is not the first pair/],
      [b('24:CONTENT_LENGTH\x000\x00SCGI\x002\x00,'), /SCGI is "2"/],
      [b('17:CONTENT_LENGTH\x000\x00,'), /no SCGI pair/],
      [b('25:CONTENT_LENGTH\x000\x00SCGI\x001\x00X,'), /not NUL-terminated/],
      [b('41:CONTENT_LENGTH\x000\x00SCGI\x001\x00CONTENT_LENGTH\x009\x00,'), /CONTENT_LENGTH comes twice/],
      [b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /an HTTP client spoke to the SCGI socket/],
    ];
    const held = await new Promise<import('node:net').Socket>((resolve) => { const s = connect(path, () => resolve(s)); s.write(b('36:CONTENT')); });
    for (const [bytes, message] of bad) {
      const before = log.length;
      const r = await exchange(path, bytes);
      expect(r.bytes.length, message.source).toBe(0);
      expect(log.slice(before).filter((l) => l.startsWith('warn')), message.source).toHaveLength(1);
      expect(log.slice(before).join('\n'), message.source).toMatch(message);
      expect(log.slice(before).join('\n')).toMatch(/; closing the connection$/);
    }
    expect(calls).toBe(0);
    expect((await exchange(path, req())).bytes.toString()).toMatch(/^Status: 200 OK\r\n/);
    // A connection mid-header is not disturbed by its neighbours' errors.
    const rest = new Promise<Buffer>((resolve) => { const got: Buffer[] = []; held.on('data', (d) => got.push(d)); held.on('close', () => resolve(Buffer.concat(got))); });
    held.write(b('_LENGTH\x000\x00SCGI\x001\x00PATH_INFO\x00/\x00,'));
    expect((await rest).toString()).toMatch(/^Status: 200 OK\r\n[^]*Hello, world!\n$/);
    expect(calls).toBe(2);
  });

  it('G3 S1 a body over the limit gets 413 without an app call', async () => {
    const path = await serve(envJson, { maxBodyBytes: 1000 });
    const r = await exchange(path, encodeHeader(GET, 1001));
    expect(r.bytes.toString()).toMatch(/^Status: 413 Content Too Large\r\n/);
    await stderr.until(/request body of 1001 bytes exceeds the limit of 1000 bytes/);
  });

  it('G3 S1 more pairs than maxVars: the connection is closed', async () => {
    const log = captureLog();
    const path = await serve(hello, { maxVars: 10 });
    const r = await exchange(path, req([...GET, ['A', '1'], ['B', '2'], ['C', '3'], ['D', '4']]));
    expect(r.bytes.length).toBe(0);
    expect(log.join('\n')).toMatch(/more than 10 header pairs/);
  });

  it('G3 S3 a peer that never sends its whole body is timed out', async () => {
    const path = await serve(hello, { readTimeoutMs: 200 });
    const r = await exchange(path, encodeHeader(GET, 10), 5000);
    expect(r.bytes.length).toBe(0);
    await stderr.until(/request not received within 200 ms/);
  });

  it('G2 C18 an error after the head cuts the connection off at once (a TCP one with a reset)', async () => {
    const failing: App = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (function* () { yield b('partial'); throw new Error('boom'); })();
    };
    const srv = await serveScgi(failing, { host: '127.0.0.1', port: 0 });
    cleanups.push(() => srv.close());
    const r = await new Promise<Exchange>((resolve) => {
      const s = connect(srv.address.port!, '127.0.0.1');
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('error', (err: NodeJS.ErrnoException) => resolve({ bytes: Buffer.concat(got), error: err.code ?? '' }));
      s.on('close', () => resolve({ bytes: Buffer.concat(got) }));
      s.write(req());
    });
    expect(r.bytes.toString()).toMatch(/partial$/);
    await stderr.until(/the application raised an error: Error: boom\n[^]*response cut off; resetting the connection/);
  });

  it('G2 C18 an error before the head is a clean 500', async () => {
    const path = await serve(() => { throw new Error('secret'); });
    const r = await exchange(path, req());
    expect(r.bytes.toString()).toMatch(/^Status: 500 Internal Server Error\r\nContent-Type: text\/plain\r\nContent-Length: 59\r\n\r\nA server error/);
    expect(r.bytes.toString()).not.toContain('secret');
    await stderr.until(/the application raised an error: Error: secret\n {4}at /);
  });
});
