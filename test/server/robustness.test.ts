// Issue "linear and bounded": R1–R6 over real sockets (and, for the costs that
// only a benchmark can time, structural checks: how often a result is
// allocated or joined). `npm run bench:linear` prints the time ratios.
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setLogger, type Level } from '../../src/contract/log.js';
import type { App } from '../../src/contract/types.js';
import { FdSource, InputStream } from '../../src/gateway/input.js';
import { BodySpool, bodyBytesInMemory } from '../../src/gateway/spool.js';
import { ParamsDecoder } from '../../src/protocol/fastcgi/params.js';
import { encodeBeginRequest, encodeRecord, encodeStream } from '../../src/protocol/fastcgi/records.js';
import { encodePacket } from '../../src/protocol/uwsgi.js';
import { serveFastCgi, type FastCgiOptions } from '../../src/server/fastcgi.js';
import { serveHttp } from '../../src/server/http.js';
import { serveUwsgi, type UwsgiOptions } from '../../src/server/uwsgi.js';
import { FcgiClient, GET, encodePairs, parseResponse, requestBytes } from '../fcgi-client.js';
import { waitUntil, within } from '../timing.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

function sockPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-r-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'app.sock');
}

/** Serves over FastCGI; also hands back the server side of every accepted socket. */
async function fastcgi(app: App, opts: FastCgiOptions = {}): Promise<{ path: string; sockets: Socket[] }> {
  const path = sockPath();
  const srv = await serveFastCgi(app, { socket: path, ...opts });
  const sockets: Socket[] = [];
  srv.server.on('connection', (s: Socket) => sockets.push(s));
  cleanups.push(() => srv.close(1000));
  return { path, sockets };
}

async function uwsgi(app: App, opts: UwsgiOptions = {}): Promise<string> {
  const path = sockPath();
  const srv = await serveUwsgi(app, { socket: path, ...opts });
  cleanups.push(() => srv.close(1000));
  return path;
}

async function client(path: string): Promise<FcgiClient> {
  const c = await FcgiClient.connect(path);
  cleanups.push(() => c.close());
  return c;
}

function quietLog(): string[] {
  const lines: string[] = [];
  setLogger((level: Level, msg: string) => { lines.push(`${level}: ${msg}`); });
  cleanups.push(() => setLogger((level, msg) => process.stderr.write(`tsgi ${level}: ${msg}\n`)));
  return lines;
}

/** A body of `n` bytes that is not one repeated byte (so a misplaced block shows). */
function pattern(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >>> 11)) & 0xff;
  return out;
}

/** A spooled body (on disk: memoryBytes 0) as wsgi.input. */
function spooled(body: Buffer): InputStream {
  const spool = new BodySpool({ maxBytes: body.length, memoryBytes: 0 });
  for (let i = 0; i < body.length; i += 65536) spool.push(body.subarray(i, i + 65536));
  const src = spool.source();
  cleanups.push(() => src.dispose?.());
  return new InputStream(src, body.length);
}

const echo: App = (environ, start) => {
  const body = environ['wsgi.input'].read();
  start('200 OK', [['Content-Type', 'application/octet-stream']]);
  return [body];
};

describe('R1 wsgi.input reads are linear: the result allocated once', () => {
  const body = pattern(16 * 1024 * 1024 + 3);

  it('R1 read() of a spooled 16 MiB body joins nothing and returns every byte', () => {
    const input = spooled(body);
    const concat = vi.spyOn(Buffer, 'concat');
    const got = input.read();
    expect(concat).not.toHaveBeenCalled();
    expect(got.equals(body)).toBe(true);
    expect(input.read().length).toBe(0);
  });

  it('R1 read(N) with a large N after a small read fills one buffer of N', () => {
    const input = spooled(body);
    const concat = vi.spyOn(Buffer, 'concat');
    const head = input.read(10);
    const big = input.read(8 * 1024 * 1024);
    const rest = input.read();
    expect(concat).not.toHaveBeenCalled();
    expect(big.length).toBe(8 * 1024 * 1024);
    expect(Buffer.concat([head, big, rest]).equals(body)).toBe(true);
  });

  it('R1 readline() of a 16 MiB line joins its blocks once; iteration and async iteration the same', async () => {
    const line = Buffer.concat([body.subarray(0, 4 * 1024 * 1024).map((c) => (c === 10 ? 11 : c)), b('\nnext\n')]);
    const concat = vi.spyOn(Buffer, 'concat');
    const first = spooled(line).readline();
    expect(concat).toHaveBeenCalledTimes(1);
    expect(first.length).toBe(4 * 1024 * 1024 + 1);
    concat.mockClear();
    const lines = [...spooled(line)];
    expect(concat).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => l.length)).toEqual([4 * 1024 * 1024 + 1, 5]);
    const asyncLines: Buffer[] = [];
    for await (const l of spooled(line)) asyncLines.push(l);
    expect(Buffer.concat(asyncLines).equals(line)).toBe(true);
    expect(spooled(line).readline(100).length).toBe(100);
  });

  it('R1 a 16 MiB POST read with read() through a real FastCGI socket comes back byte-exact', async () => {
    const { path } = await fastcgi(echo);
    const c = await client(path);
    const r = await c.request(1, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }, { stdin: body });
    expect(parseResponse(r.stdout).body.equals(body)).toBe(true);
  });
});

describe('R2 params decoding is linear whatever the record boundaries', () => {
  it('R2 a 512 KiB value in 1-byte PARAMS contents is copied once into a buffer of its size', () => {
    const value = pattern(512 * 1024).toString('latin1');
    const stream = encodePairs([['BIG', value], ['A', 'b']]);
    const d = new ParamsDecoder({ maxBytes: 1024 * 1024, maxCount: 10 });
    const concat = vi.spyOn(Buffer, 'concat');
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    for (let i = 0; i < stream.length; i++) d.push(stream.subarray(i, i + 1));
    d.end();
    expect(concat).not.toHaveBeenCalled();
    // Per straddling pair: an 8-byte header buffer, then one of the pair's exact size.
    expect(alloc.mock.calls.length).toBeLessThanOrEqual(4);
    expect(d.vars.BIG === value).toBe(true);
    expect(d.vars.A).toBe('b');
  });

  it('R2 a 64 KiB param in 1-byte PARAMS records over a real socket reaches the app intact', async () => {
    let seen = '';
    const app: App = (environ, start) => { seen = environ.HTTP_X_BIG ?? ''; start('200 OK', [['Content-Type', 'text/plain']]); return [b('ok')]; };
    const { path } = await fastcgi(app);
    const c = await client(path);
    const value = pattern(64 * 1024).toString('latin1');
    const pairs = encodePairs([...Object.entries(GET), ['HTTP_X_BIG', value]]);
    const parts = [encodeBeginRequest(1, 1, 0)];
    for (let i = 0; i < pairs.length; i++) parts.push(encodeRecord(4, 1, pairs.subarray(i, i + 1)));
    parts.push(encodeRecord(4, 1), encodeRecord(5, 1));
    c.send(Buffer.concat(parts));
    const r = await c.reply(1);
    expect(parseResponse(r.stdout).body.toString()).toBe('ok');
    expect(seen === value).toBe(true);
  });
});

describe('R3 a peer that does not read cannot make the server buffer without bound', () => {
  it('R3 unknown-type records from a peer that never reads: replies stay within a socket buffer and reading pauses', async () => {
    const log = quietLog();
    const { path, sockets } = await fastcgi(echo);
    const c = await client(path);
    c.socket.pause(); // never read the replies
    const flood = Buffer.concat(Array.from({ length: 8192 }, () => encodeRecord(0x55, 0)));
    for (let i = 0; i < 64; i++) c.send(flood); // 4 MiB of records, 8 MiB of replies if all were answered
    // However slow the machine, the server ends up waiting on the peer with reading paused.
    await c.until(() => sockets[0]?.isPaused() === true, 'the server to pause reading', 20_000);
    await sleep(200);
    const server = sockets[0]!;
    expect(server.isPaused()).toBe(true);
    // Answered so far: what the kernel took plus at most a socket buffer and one chunk's replies.
    expect(server.writableLength).toBeLessThan(256 * 1024);
    expect(c.socket.writableLength).toBeGreaterThan(0); // the rest waits on the client side
    // Once the peer reads, everything is answered, in order, and the connection still works.
    c.socket.resume();
    await c.until(() => c.history.filter((r) => r.type === 11).length === 64 * 8192, 'every UNKNOWN_TYPE reply', 20_000);
    const r = await c.request(1, GET, { keep: true });
    expect(r.protocolStatus).toBe(0);
    expect(log.filter((l) => l.startsWith('error'))).toEqual([]);
  });

  it('R3 pipelined requests whose answers are not read: the apps wait, output stays bounded', async () => {
    let ran = 0;
    const big = Buffer.alloc(64 * 1024, 1);
    const app: App = (_e, start) => { ran++; start('200 OK', [['Content-Type', 'application/octet-stream']]); return [big]; };
    const { path, sockets } = await fastcgi(app);
    const c = await client(path);
    c.socket.pause();
    const n = 500; // 32 MiB of answers
    const reqs: Buffer[] = [];
    for (let i = 0; i < n; i++) reqs.push(requestBytes(1, GET, { keep: true }));
    c.send(Buffer.concat(reqs));
    await c.until(() => sockets[0]?.isPaused() === true, 'the server to pause reading', 20_000);
    await sleep(200);
    expect(ran).toBeLessThan(100);
    expect(sockets[0]!.writableLength).toBeLessThan(2 * 1024 * 1024);
    c.socket.resume();
    await c.until(() => c.history.filter((r) => r.type === 3).length === n, 'every END_REQUEST', 30_000);
    expect(ran).toBe(n);
  });
});

describe('R3 per-connection and process-wide bounds on what requests hold', () => {
  it('R3 one multiplexing FastCGI connection cannot take every request slot: past maxConnectionRequests it gets FCGI_OVERLOADED', async () => {
    quietLog();
    const { path } = await fastcgi(echo, { maxConnectionRequests: 4 });
    const hog = await client(path);
    // Four requests whose bodies never come, then a fifth on the same connection.
    for (let id = 1; id <= 5; id++) hog.send(requestBytes(id, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' }, { open: true, keep: true }));
    const refused = await hog.reply(5);
    expect(refused.protocolStatus).toBe(2);
    // Anyone else is still served.
    const other = await client(path);
    expect(parseResponse((await other.request(1, GET)).stdout).status).toBe('200 OK');
  });

  it('R3 past the process-wide memory budget, bodies are spooled to disk whatever their size', () => {
    const limits = { maxBytes: 1 << 30, memoryBytes: 1 << 20, memoryTotalBytes: 256 * 1024 };
    const before = bodyBytesInMemory();
    const held: BodySpool[] = [];
    for (let i = 0; i < 8; i++) {
      const sp = new BodySpool(limits, 100 * 1024);
      sp.push(Buffer.alloc(100 * 1024, i));
      held.push(sp);
    }
    // Two fit in 256 KiB; the rest went to files, and the process holds no more than the budget.
    expect(bodyBytesInMemory() - before).toBeLessThanOrEqual(256 * 1024);
    const sources = held.map((sp) => sp.source());
    expect(sources.filter((src) => src instanceof FdSource).length).toBeGreaterThanOrEqual(6);
    for (const [i, src] of sources.entries()) expect(new InputStream(src, 100 * 1024).read().equals(Buffer.alloc(100 * 1024, i))).toBe(true);
    for (const src of sources) src.dispose?.();
    expect(bodyBytesInMemory()).toBe(before);
  });
});

describe('R4 a body in tiny pieces is coalesced', () => {
  it('R4 1-byte pushes into the spool allocate blocks, not a buffer per byte', () => {
    const body = pattern(256 * 1024);
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const from = vi.spyOn(Buffer, 'from');
    const spool = new BodySpool({ maxBytes: 1 << 30, memoryBytes: 1 << 20 });
    for (let i = 0; i < body.length; i++) spool.push(body.subarray(i, i + 1));
    expect(from).not.toHaveBeenCalled();
    expect(alloc.mock.calls.length).toBeLessThanOrEqual(body.length / 4096 + 1);
    const src = spool.source();
    expect(new InputStream(src, spool.length).read().equals(body)).toBe(true);
  });

  it('R4 with the length known, a body that fits in memory is one buffer of its size', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const spool = new BodySpool({ maxBytes: 1 << 30, memoryBytes: 1 << 20 }, 1000);
    for (let i = 0; i < 1000; i++) spool.push(b('x'));
    expect(alloc).toHaveBeenCalledTimes(1);
    expect(new InputStream(spool.source(), 1000).read().toString()).toBe('x'.repeat(1000));
  });

  it('R4 past memory, 1-byte pushes reach the file in full blocks', () => {
    const body = pattern(300 * 1024);
    const spool = new BodySpool({ maxBytes: 1 << 30, memoryBytes: 64 * 1024 });
    for (let i = 0; i < body.length; i++) spool.push(body.subarray(i, i + 1));
    const src = spool.source();
    cleanups.push(() => src.dispose?.());
    expect(new InputStream(src, spool.length).read().equals(body)).toBe(true);
  });

  it('R4 a 256 KiB body in 1-byte STDIN records over a real socket comes back byte-exact', async () => {
    const { path } = await fastcgi(echo, { memoryBodyBytes: 64 * 1024 });
    const c = await client(path);
    const body = pattern(256 * 1024);
    const parts = [encodeBeginRequest(1, 1, 0), Buffer.from(requestBytes(1, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }, { open: true }).subarray(16))];
    for (let i = 0; i < body.length; i++) parts.push(encodeRecord(5, 1, body.subarray(i, i + 1)));
    parts.push(encodeRecord(5, 1));
    c.send(Buffer.concat(parts));
    const r = await c.reply(1, 30_000);
    expect(parseResponse(r.stdout).body.equals(body)).toBe(true);
  });
});

describe('R5 idle peers cannot starve connection slots', () => {
  it('R5 FastCGI: at the connection limit the longest-idle connection makes room; busy ones are kept', async () => {
    quietLog();
    const { path } = await fastcgi(echo, { maxConnections: 3 });
    const idle = [await client(path), await client(path)];
    await sleep(30);
    const busy = await client(path);
    busy.send(requestBytes(1, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' }, { open: true })); // a body still to come
    await sleep(50);
    const fresh = await client(path);
    const r = await fresh.request(1, GET);
    expect(parseResponse(r.stdout).status).toBe('200 OK');
    await idle[0]!.closedWithin(2000);
    expect(idle[1]!.closed).toBe(false);
    expect(busy.closed).toBe(false);
    busy.send(Buffer.concat([encodeStream(5, 1, b('0123456789'), true)]));
    expect(parseResponse((await busy.reply(1)).stdout).body.toString()).toBe('0123456789');
  });

  it('R5 FastCGI: a connection that sends nothing gets the short header timeout, a kept-alive one the idle timeout', async () => {
    quietLog();
    const { path } = await fastcgi(echo, { headerTimeoutMs: 200, idleTimeoutMs: 60_000 });
    const silent = await client(path);
    const kept = await client(path);
    await kept.request(1, GET, { keep: true });
    const t0 = Date.now();
    await silent.closedWithin(3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    await sleep(400);
    expect(kept.closed).toBe(false);
    expect((await kept.request(1, GET, { keep: true })).protocolStatus).toBe(0);
  });

  it('R5 uwsgi: idle connections are given up at the limit and time out on the header timeout', async () => {
    quietLog();
    const path = await uwsgi(echo, { maxConnections: 2, headerTimeoutMs: 300 });
    const a = connect(path);
    const bSock = connect(path);
    const closed = [false, false];
    a.on('close', () => { closed[0] = true; }).on('error', () => {});
    bSock.on('close', () => { closed[1] = true; }).on('error', () => {});
    cleanups.push(() => { a.destroy(); bSock.destroy(); });
    await sleep(50);
    const reply = await uwsgiExchange(path, encodePacket([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/'], ['SERVER_PROTOCOL', 'HTTP/1.1']]));
    expect(reply.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(closed[0]).toBe(true);
    // The other idle one goes on the 300 ms header timeout: well before the default (10 s).
    await within(new Promise<void>((r) => { if (closed[1]) r(); else bSock.once('close', () => r()); }), 3000, 'the header timeout to close the other idle connection', 9000);
    expect(closed[1]).toBe(true);
  });
});

describe('R5 slow heads at the limit', () => {
  it('R5 uwsgi: with no connection idle, the one sending an unfinished head the longest makes room', async () => {
    quietLog();
    const path = await uwsgi(echo, { maxConnections: 2 });
    const socks: { s: Socket; closed: boolean }[] = [];
    for (let i = 0; i < 2; i++) {
      const entry = { s: connect(path), closed: false };
      entry.s.on('close', () => { entry.closed = true; }).on('error', () => {});
      entry.s.write(Buffer.from('00ff0000', 'hex')); // a header promising 255 bytes of vars, never sent
      socks.push(entry);
      cleanups.push(() => entry.s.destroy());
      await sleep(30);
    }
    const reply = await uwsgiExchange(path, encodePacket([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/'], ['SERVER_PROTOCOL', 'HTTP/1.1']]));
    expect(reply.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(socks[0]!.closed).toBe(true);
    expect(socks[1]!.closed).toBe(false);
  });
});

describe('R5 the dev server', () => {
  it('S1 Expect: 100-continue with a body over the limit gets 413 and no 100; within it, 100 then the answer', async () => {
    quietLog();
    const srv = await serveHttp(echo, { port: 0, maxBodyBytes: 1000 });
    cleanups.push(() => srv.close(1000));
    const ask = (len: number, send: boolean): Promise<string> => new Promise((resolve) => {
      const s = connect(srv.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d.toString('latin1');
        if (send && got.startsWith('HTTP/1.1 100')) { s.write('x'.repeat(len)); send = false; }
      });
      s.on('close', () => resolve(got)).on('error', () => {});
      s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${len}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
      cleanups.push(() => s.destroy());
    });
    const big = await ask(10 ** 12, false);
    expect(big).toMatch(/^HTTP\/1\.1 413 /);
    const small = await ask(5, true);
    expect(small).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(small.endsWith('xxxxx')).toBe(true);
  });

  it('R5 HTTP: at the connection limit idle keep-alive connections make room for a new one', async () => {
    quietLog();
    const app: App = (_e, start) => { start('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '2']]); return [b('ok')]; };
    const srv = await serveHttp(app, { port: 0, maxConnections: 2, keepAliveTimeoutMs: 60_000 });
    cleanups.push(() => srv.close(1000));
    const raw = (): Promise<{ s: Socket; closed: () => boolean }> => new Promise((resolve) => {
      let closed = false;
      const s = connect(srv.port, '127.0.0.1', () => {
        s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        s.once('data', () => resolve({ s, closed: () => closed }));
      });
      s.on('close', () => { closed = true; }).on('error', () => {});
      cleanups.push(() => s.destroy());
    });
    const first = await raw();
    const second = await raw();
    const res = await fetch(`http://127.0.0.1:${srv.port}/`);
    expect(await res.text()).toBe('ok');
    await waitUntil(() => first.closed() && second.closed(), 'both idle keep-alive connections to be closed');
  });
});

/** Sends `bytes` (then half-closes when `end`), collects the reply until the server closes. */
function uwsgiExchange(path: string, bytes: Buffer, end = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const got: Buffer[] = [];
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no close within 10 s')); }, 10_000);
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(got)); });
    s.write(bytes);
    if (end) s.end();
  });
}

/** An async body: three chunks over time. */
const slow: App = (_e, start) => {
  start('200 OK', [['Content-Type', 'text/plain']]);
  return (async function* () {
    for (const part of ['one ', 'two ', 'three']) { await sleep(60); yield b(part); }
  })();
};

describe('R6 a request received whole is answered whole after the peer half-closes', () => {
  it('R6 FastCGI: the whole async body and END_REQUEST after the web server shuts down its sending side', async () => {
    const { path } = await fastcgi(slow);
    const c = await client(path);
    c.send(requestBytes(1, GET));
    c.socket.end();
    const r = await c.reply(1);
    expect(parseResponse(r.stdout).body.toString()).toBe('one two three');
    expect(r.protocolStatus).toBe(0);
    await c.closedWithin(2000);
  });

  it('R6 FastCGI: a request still arriving when the peer half-closes is dropped and the connection closed', async () => {
    quietLog();
    let ran = false;
    const app: App = (...a) => { ran = true; return slow(...a); };
    const { path } = await fastcgi(app);
    const c = await client(path);
    c.send(requestBytes(1, { ...GET, CONTENT_LENGTH: '5' }, { open: true }));
    c.socket.end();
    await c.closedWithin(2000);
    expect(ran).toBe(false);
  });

  it('R6 uwsgi: the whole async body after the web server shuts down its sending side', async () => {
    const path = await uwsgi(slow);
    const reply = await uwsgiExchange(path, encodePacket([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/'], ['SERVER_PROTOCOL', 'HTTP/1.1']]), true);
    const text = reply.toString('latin1');
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text.slice(text.indexOf('\r\n\r\n') + 4)).toBe('one two three');
  });
});

describe('S1 S6 limits the dev server and the stop enforce', () => {
  it('S1 the dev server answers 431 past maxHeaders instead of dropping headers', async () => {
    quietLog();
    let ran = false;
    const app: App = (_e, start) => { ran = true; start('200 OK', [['Content-Type', 'text/plain']]); return [b('ok')]; };
    const srv = await serveHttp(app, { port: 0, maxHeaders: 20 });
    cleanups.push(() => srv.close(1000));
    const headers: Record<string, string> = {};
    for (let i = 0; i < 30; i++) headers[`x-h${i}`] = String(i);
    const res = await fetch(`http://127.0.0.1:${srv.port}/`, { headers });
    expect(res.status).toBe(431);
    expect(ran).toBe(false);
    const ok = await fetch(`http://127.0.0.1:${srv.port}/`, { headers: { 'x-one': '1' } });
    expect(await ok.text()).toBe('ok');
  });

  it('S6 close(graceMs) ends an endless stream at the deadline: tsgi.abort fires and close() runs', async () => {
    quietLog();
    let closed = 0;
    let aborted = false;
    const endless: App = (environ, start) => {
      environ['tsgi.abort'].addEventListener('abort', () => { aborted = true; });
      start('200 OK', [['Content-Type', 'text/plain']]);
      const it = (async function* () { for (;;) { await sleep(20); yield b('tick\n'); } })();
      return Object.assign(it, { close: () => { closed++; } });
    };
    const path = sockPath();
    const srv = await serveFastCgi(endless, { socket: path });
    const c = await client(path);
    c.send(requestBytes(1, GET));
    await c.until(() => c.history.some((r) => r.type === 6), 'the first chunk');
    // The stream never ends by itself: close() returns only because the 300 ms deadline ended it.
    await within(srv.close(300), 2500, 'close(300) to end the endless stream at its deadline');
    expect(aborted).toBe(true);
    expect(closed).toBe(1);
  });
});
