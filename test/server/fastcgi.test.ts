// serveFastCgi over real sockets, with a test client playing the web server.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import type { App, Environ } from '../../src/contract/types.js';
import { encodeParams } from '../../src/protocol/fastcgi/params.js';
import { encodeBeginRequest, encodeRecord, encodeStream } from '../../src/protocol/fastcgi/records.js';
import { serveFastCgi, type FastCgiOptions, type FastCgiServer } from '../../src/server/fastcgi.js';
import { FcgiClient, GET, encodePairs, parseResponse, requestBytes } from '../fcgi-client.js';

// Warnings and stack traces the tests below provoke: asserted, not printed.
const stderr = captureStderr();

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const ROOT = new URL('../..', import.meta.url).pathname;

const hello: App = (_e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [b('Hello, world!\n')]; };
/** Echoes the environ's CGI variables as JSON (latin-1 kept as \u00XX escapes). */
const envJson: App = (environ, start) => {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(environ)) if (typeof v === 'string') vars[k] = v;
  start('200 OK', [['Content-Type', 'application/json']]);
  return [b(JSON.stringify(vars))];
};
const echo: App = (environ, start) => {
  const body = environ['wsgi.input'].read();
  start('200 OK', [['Content-Type', 'application/octet-stream']]);
  return [body];
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-fcgi-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(app: App, opts: FastCgiOptions = {}): Promise<{ srv: FastCgiServer; path: string }> {
  const path = join(tempDir(), 'app.sock');
  const srv = await serveFastCgi(app, { socket: path, ...opts });
  cleanups.push(() => srv.close());
  return { srv, path };
}

async function client(target: string | number): Promise<FcgiClient> {
  const c = await FcgiClient.connect(target);
  cleanups.push(() => c.close());
  return c;
}

function environOf(reply: { stdout: Buffer }): Record<string, string> {
  return JSON.parse(parseResponse(reply.stdout).body.toString('latin1'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('FastCGI server', () => {
  it('F1 listens on a unix socket path', async () => {
    const { path } = await serve(hello);
    const c = await client(path);
    const r = await c.request(1, GET);
    expect(r.stdout.toString('latin1')).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, world!\n');
    expect(r.protocolStatus).toBe(0);
    expect(r.appStatus).toBe(0);
  });

  it('F1 listens on TCP host:port', async () => {
    const srv = await serveFastCgi(hello, { host: '127.0.0.1', port: 0 });
    cleanups.push(() => srv.close());
    expect(srv.address.kind).toBe('tcp');
    const c = await client(srv.address.port!);
    expect(parseResponse((await c.request(1, GET)).stdout).body.toString()).toBe('Hello, world!\n');
  });

  it('F1 with neither option, serves the listening socket on fd 0 (as mod_fcgid and spawn-fcgi start it)', async () => {
    // A listening TCP socket made here and handed to the child as its fd 0; the parent then closes its copy.
    const listener: Server = createServer();
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as { port: number }).port;
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn(process.execPath, [join(ROOT, 'bin/tsgi.cjs'), 'fastcgi', join(ROOT, 'examples/hello.ts')], { stdio: [fd, 'ignore', 'pipe'] });
    listener.close();
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    cleanups.push(() => { child.kill('SIGKILL'); });
    const deadline = Date.now() + 15_000;
    while (!err.includes('serving')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tsgi did not start on fd 0: ${err}`);
      await sleep(50);
    }
    expect(err).toMatch(/on fd 0/);
    const c = await client(port);
    expect(parseResponse((await c.request(1, GET)).stdout).body.toString()).toBe('Hello, world!\n');
  });

  it('F1 fd 0 that is not a listening socket is a clear error', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/tsgi.cjs'), 'fastcgi', join(ROOT, 'examples/hello.ts')], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).not.toBe(0);
    expect(err).toMatch(/fd 0 is not a listening socket/);
  });

  it('F2 C4 a pair straddling PARAMS records, and every byte value, reach the environ as latin-1', async () => {
    const { path } = await serve(envJson);
    const c = await client(path);
    const all = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1)).toString('latin1');
    const body = encodePairs(Object.entries({ ...GET, HTTP_X_BYTES: all, PATH_INFO: '/caf\xe9' }));
    const cut = body.indexOf(b('HTTP_X_BYTES')) + 5; // inside the name
    c.send(Buffer.concat([
      encodeBeginRequest(1, 1, 0),
      encodeRecord(4, 1, body.subarray(0, 3)), // inside a length
      encodeRecord(4, 1, body.subarray(3, cut)),
      encodeRecord(4, 1, body.subarray(cut)),
      encodeRecord(4, 1), encodeRecord(5, 1),
    ]));
    const env = environOf(await c.reply(1));
    expect(env.HTTP_X_BYTES).toBe(all);
    expect(env.PATH_INFO).toBe('/caf\xe9');
    expect(env.FCGI_ROLE).toBe('RESPONDER');
  });

  it('F3 an unknown management record gets FCGI_UNKNOWN_TYPE and the connection keeps working', async () => {
    const { path } = await serve(hello);
    const c = await client(path);
    c.send(encodeRecord(42, 0, Buffer.alloc(8)));
    c.send(encodeRecord(200, 7, Buffer.alloc(3)));
    await c.until(() => c.records.filter((r) => r.type === 11).length === 2, 'UNKNOWN_TYPE');
    const unknown = c.records.filter((r) => r.type === 11);
    expect(unknown.map((r) => [r.id, r.content[0]])).toEqual([[0, 42], [0, 200]]);
    expect(unknown[0]!.content).toEqual(Buffer.from([42, 0, 0, 0, 0, 0, 0, 0]));
    expect(parseResponse((await c.request(1, GET, { keep: true })).stdout).status).toBe('200 OK');
  });

  it('F3 S2 a record of version 2 closes that connection only; the process and other connections carry on', async () => {
    const { path } = await serve(hello, { multiplex: true });
    const good = await client(path);
    good.send(encodeBeginRequest(1, 1, 1));
    const bad = await client(path);
    bad.send(Buffer.from('0201000100080000000100000000000000', 'hex'));
    await bad.closedWithin();
    good.send(Buffer.concat([encodeParams(1, Object.entries(GET)), encodeRecord(5, 1)]));
    expect(parseResponse((await good.reply(1)).stdout).status).toBe('200 OK');
    // Records only an application sends are refused the same way.
    const odd = await client(path);
    odd.send(encodeRecord(6, 1, b('x')));
    await odd.closedWithin();
    // Garbage, then a fresh connection works.
    const junk = await client(path);
    junk.send(b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await junk.closedWithin();
    const again = await client(path);
    expect(parseResponse((await again.request(1, GET)).stdout).status).toBe('200 OK');
    await stderr.until(/record version 2, expected 1[^]*record type 6, which only an application sends[^]*record version 71/);
  });

  it('F4 FV7 GET_VALUES is answered on id 0 with exactly the known variables asked for', async () => {
    const { path } = await serve(hello, { maxConnections: 77, maxRequests: 55 });
    const c = await client(path);
    c.send(encodeRecord(9, 0, encodePairs([['FCGI_MPXS_CONNS', ''], ['FCGI_NO_SUCH', ''], ['FCGI_MAX_REQS', ''], ['FCGI_MAX_CONNS', '']])));
    await c.until(() => c.records.some((r) => r.type === 10), 'GET_VALUES_RESULT');
    const res = c.records.find((r) => r.type === 10)!;
    expect(res.id).toBe(0);
    expect(res.content.equals(encodePairs([['FCGI_MPXS_CONNS', '1'], ['FCGI_MAX_REQS', '55'], ['FCGI_MAX_CONNS', '77']]))).toBe(true);

    const { path: p2 } = await serve(hello, { multiplex: false });
    const d = await client(p2);
    // FV7 byte for byte.
    d.send(Buffer.concat([Buffer.from('0109000000110700', 'hex'), Buffer.from([0x0f, 0]), b('FCGI_MPXS_CONNS'), Buffer.alloc(7)]));
    await d.until(() => d.records.some((r) => r.type === 10), 'GET_VALUES_RESULT');
    expect(d.records.find((r) => r.type === 10)!.content.equals(Buffer.concat([Buffer.from([0x0f, 1]), b('FCGI_MPXS_CONNS0')]))).toBe(true);
  });

  it('F5 KEEP_CONN set: the connection serves further requests; clear: closed after END_REQUEST', async () => {
    const { path } = await serve(hello);
    const c = await client(path);
    for (let i = 0; i < 3; i++) expect(parseResponse((await c.request(1, GET, { keep: true })).stdout).status).toBe('200 OK');
    expect(c.closed).toBe(false);
    await c.request(1, GET, { keep: false });
    await c.closedWithin();
  });

  it('F6 concurrent requests on one connection are served independently, records interleaving', async () => {
    const gates: Record<string, () => void> = {};
    const app: App = (environ, start) => {
      const name = environ.QUERY_STRING;
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield b(`${name}-1 `);
        await new Promise<void>((r) => { gates[name] = r; });
        yield b(`${name}-2`);
      })();
    };
    const { path } = await serve(app);
    const c = await client(path);
    c.send(requestBytes(1, { ...GET, QUERY_STRING: 'a' }, { keep: true }));
    c.send(requestBytes(2, { ...GET, QUERY_STRING: 'b' }, { keep: true }));
    await c.until(() => gates.a !== undefined && gates.b !== undefined, 'both apps running');
    gates.b!();
    const rb = await c.reply(2);
    gates.a!();
    const ra = await c.reply(1);
    expect(parseResponse(ra.stdout).body.toString()).toBe('a-1 a-2');
    expect(parseResponse(rb.stdout).body.toString()).toBe('b-1 b-2');
    const order = c.history.filter((r) => r.type === 6 && r.content.length).map((r) => r.id);
    expect(order).toEqual([1, 2, 2, 1]);
  });

  it('F6 with multiplexing off, a second concurrent request gets FCGI_CANT_MPX_CONN', async () => {
    let release!: () => void;
    const app: App = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () { await new Promise<void>((r) => { release = r; }); yield b('first'); })();
    };
    const { path } = await serve(app, { multiplex: false });
    const c = await client(path);
    c.send(requestBytes(1, GET, { keep: true }));
    await c.until(() => release !== undefined, 'first request running');
    c.send(requestBytes(2, GET, { keep: true }));
    const second = await c.reply(2);
    expect(second.protocolStatus).toBe(1);
    expect(second.stdout.length).toBe(0);
    release();
    expect(parseResponse((await c.reply(1)).stdout).body.toString()).toBe('first');
  });

  it('F7 FV5 ABORT_REQUEST fires tsgi.abort, stops the body, calls close(), and ends with END_REQUEST', async () => {
    const seen: string[] = [];
    const app: App = (environ, start) => {
      const signal = environ['tsgi.abort'] as AbortSignal;
      signal.addEventListener('abort', () => seen.push('abort'));
      start('200 OK', [['Content-Type', 'text/plain']]);
      let n = 0;
      const body = (async function* () {
        for (;;) { yield b(`tick ${n++}\n`); await sleep(20); }
      })();
      return Object.assign(body, { close: () => { seen.push('close'); } });
    };
    const { path } = await serve(app);
    const c = await client(path);
    // FV4 (no CONTENT_LENGTH: no body, the app starts at the end of the params), then ABORT before the empty STDIN.
    c.send(Buffer.concat([
      Buffer.from('01010001000800000001000000000000', 'hex'),
      Buffer.from('0104000100130000 0e03'.replace(/ /g, ''), 'hex'), b('REQUEST_METHODGET'),
      Buffer.from('0104000100190000 0f08'.replace(/ /g, ''), 'hex'), b('SERVER_PROTOCOLHTTP/1.1'),
      Buffer.from('0104000100000000', 'hex'),
      Buffer.from('0105000100100000', 'hex'), b('0123456789abcdef'),
    ]));
    await c.until(() => c.records.filter((r) => r.type === 6).length >= 3, 'some body');
    c.send(Buffer.from('0102000100000000', 'hex'));
    const r = await c.reply(1);
    expect(seen).toEqual(['abort', 'close']);
    expect(r.protocolStatus).toBe(0);
    // Nothing for request 1 after its END_REQUEST (F9).
    await sleep(100);
    const records = c.history.filter((x) => x.id === 1);
    expect(records.at(-1)!.type).toBe(3);
    expect(records.filter((x) => x.type === 3)).toHaveLength(1);
    // The connection is still usable: keep-alive and abort are independent of each other.
    c.send(Buffer.from('0105000100000000', 'hex')); // the late empty STDIN of the aborted request is ignored
  });

  it('F7 ABORT_REQUEST before the body is complete ends the request without running the app', async () => {
    let ran = false;
    const app: App = (environ, start) => { ran = true; return echo(environ, start); };
    const { path } = await serve(app);
    const c = await client(path);
    c.send(requestBytes(1, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '100' }, { stdin: b('x'.repeat(10)), open: true, keep: true }));
    await sleep(50);
    c.send(encodeRecord(2, 1));
    const r = await c.reply(1);
    expect(r.protocolStatus).toBe(0);
    expect(ran).toBe(false);
    // The id is free again on the same connection.
    expect(parseResponse((await c.request(1, GET, { keep: true })).stdout).status).toBe('200 OK');
    expect(ran).toBe(true);
  });

  it('F8 AUTHORIZER: no body, FCGI_ROLE set, the response (Variable-* headers) passed back as is', async () => {
    const app: App = (environ, start) => {
      if (environ.FCGI_ROLE !== 'AUTHORIZER') throw new Error('not an authorizer request');
      if (environ.HTTP_AUTHORIZATION === 'Bearer good') {
        start('200 OK', [['Variable-REMOTE_USER', 'alice'], ['Content-Type', 'text/plain']]);
        return [];
      }
      start('403 Forbidden', [['Content-Type', 'text/plain']]);
      return [b('no')];
    };
    const { path } = await serve(app);
    const c = await client(path);
    const ok = await c.request(1, { ...GET, HTTP_AUTHORIZATION: 'Bearer good', CONTENT_LENGTH: '5' }, { role: 2, keep: true });
    expect(ok.stdout.toString('latin1')).toBe('Status: 200 OK\r\nVariable-REMOTE_USER: alice\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n');
    const no = await c.request(2, { ...GET, HTTP_AUTHORIZATION: 'Bearer bad' }, { role: 2, keep: true });
    expect(parseResponse(no.stdout).status).toBe('403 Forbidden');
    expect(parseResponse(no.stdout).body.toString()).toBe('no');
  });

  it('F8 FILTER: FCGI_DATA is exposed to the app as tsgi.data, after wsgi.input', async () => {
    const app: App = (environ, start) => {
      const input = environ['wsgi.input'].read().toString();
      const data = (environ['tsgi.data'] as Environ['wsgi.input']).read().toString();
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [b(`${environ.FCGI_ROLE} stdin=${input} data=${data.toUpperCase()} mod=${environ.FCGI_DATA_LAST_MOD}`)];
    };
    const { path } = await serve(app);
    const c = await client(path);
    const r = await c.request(1, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '3', FCGI_DATA_LENGTH: '11', FCGI_DATA_LAST_MOD: '12345' },
      { role: 3, stdin: b('abc'), data: b('hello world') });
    expect(parseResponse(r.stdout).body.toString()).toBe('FILTER stdin=abc data=HELLO WORLD mod=12345');
  });

  it('F8 any other role gets FCGI_UNKNOWN_ROLE', async () => {
    const { path } = await serve(hello);
    const c = await client(path);
    const r = await c.request(1, GET, { role: 9, keep: true });
    expect(r.protocolStatus).toBe(3);
    expect(r.stdout.length).toBe(0);
    expect(parseResponse((await c.request(2, GET, { keep: true })).stdout).status).toBe('200 OK');
  });

  it('F9 STDOUT records hold at most 65535 bytes, zero-padded to 8; an empty STDOUT precedes END_REQUEST', async () => {
    const big = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 13) & 255));
    const app: App = (_e, start) => {
      const w = start('200 OK', [['Content-Type', 'application/octet-stream']]);
      w(b('x'.repeat(10)));
      return [big, b('tail')];
    };
    const { path } = await serve(app);
    const c = await client(path);
    const raw: Buffer[] = [];
    c.socket.on('data', (d) => raw.push(d));
    const r = await c.request(1, GET);
    const bytes = Buffer.concat(raw);
    // Walk the raw records: lengths, padding and zero padding bytes.
    let off = 0;
    const types: number[] = [];
    while (off < bytes.length) {
      const clen = bytes.readUInt16BE(off + 4);
      const pad = bytes[off + 6]!;
      expect(clen).toBeLessThanOrEqual(65535);
      expect((clen + pad) % 8).toBe(0);
      expect(bytes.subarray(off + 8 + clen, off + 8 + clen + pad).equals(Buffer.alloc(pad))).toBe(true);
      types.push(bytes[off + 1]!);
      off += 8 + clen + pad;
    }
    expect(off).toBe(bytes.length);
    expect(types.slice(-2)).toEqual([6, 3]);
    expect(r.records.at(-2)!.content.length).toBe(0);
    const body = parseResponse(r.stdout).body;
    expect(body.equals(Buffer.concat([b('x'.repeat(10)), big, b('tail')]))).toBe(true);
  });

  it('F10 wsgi.errors is sent as FCGI_STDERR records, closed before END_REQUEST', async () => {
    const app: App = (environ, start) => {
      environ['wsgi.errors'].write('first line\n');
      environ['wsgi.errors'].writelines(['caf\u00e9 ', 'two\n']);
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [b('ok')];
    };
    const { path } = await serve(app);
    const c = await client(path);
    const r = await c.request(1, GET);
    expect(r.stderr).toBe('first line\ncafé two\n');
    const types = r.records.map((x) => [x.type, x.content.length > 0]);
    expect(types.slice(-3)).toEqual([[6, false], [7, false], [3, true]]);
  });

  it('F10 C18 an app error is a 500 to the client and its stack goes to FCGI_STDERR, never into the response', async () => {
    const app: App = () => { throw new Error('secret-token-123'); };
    const { path } = await serve(app);
    const c = await client(path);
    const r = await c.request(1, GET);
    const res = parseResponse(r.stdout);
    expect(res.status).toBe('500 Internal Server Error');
    expect(res.body.toString()).toBe('A server error occurred.  Please contact the administrator.');
    expect(r.stdout.toString()).not.toContain('secret-token-123');
    expect(r.stderr).toContain('secret-token-123');
  });

  it('F11 O7 over the concurrent-request limit with no queue (queueTimeoutMs 0) a request gets FCGI_OVERLOADED', async () => {
    let release!: () => void;
    let calls = 0;
    const app: App = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      if (calls++ > 0) return [b('later')];
      return (async function* () { await new Promise<void>((r) => { release = r; }); yield b('done'); })();
    };
    const { path } = await serve(app, { maxRequests: 1, queueTimeoutMs: 0 });
    const a = await client(path);
    a.send(requestBytes(1, GET, { keep: true }));
    await a.until(() => release !== undefined, 'first request running');
    const c2 = await client(path);
    const r = await c2.request(1, GET, { keep: true });
    expect(r.protocolStatus).toBe(2);
    release();
    expect(parseResponse((await a.reply(1)).stdout).body.toString()).toBe('done');
    expect(parseResponse((await c2.request(2, GET, { keep: true })).stdout).status).toBe('200 OK');
    await stderr.until(/request 1 refused: 1 requests in flight/);
  });

  it('F12 FCGI_WEB_SERVER_ADDRS restricts the peers a TCP listener accepts', async () => {
    const closedSrv = await serveFastCgi(hello, { host: '127.0.0.1', port: 0, webServerAddrs: '10.1.2.3, 192.0.2.1' });
    cleanups.push(() => closedSrv.close());
    const refused = await client(closedSrv.address.port!);
    refused.send(requestBytes(1, GET));
    await refused.closedWithin();
    expect(refused.records).toHaveLength(0);

    const prev = process.env.FCGI_WEB_SERVER_ADDRS;
    process.env.FCGI_WEB_SERVER_ADDRS = '10.1.2.3,127.0.0.1';
    try {
      const openSrv = await serveFastCgi(hello, { host: '127.0.0.1', port: 0 });
      cleanups.push(() => openSrv.close());
      const ok = await client(openSrv.address.port!);
      expect(parseResponse((await ok.request(1, GET)).stdout).status).toBe('200 OK');
    } finally {
      if (prev === undefined) delete process.env.FCGI_WEB_SERVER_ADDRS; else process.env.FCGI_WEB_SERVER_ADDRS = prev;
    }
    await stderr.until(/refused a connection from 127\.0\.0\.1: not in FCGI_WEB_SERVER_ADDRS/);
  });

  it('F13 PATH_INFO is derived from nginx\'s SCRIPT_NAME, and --mount splits it', async () => {
    const plain = await serve(envJson);
    const c = await client(plain.path);
    const nginxStock = { ...GET, SCRIPT_NAME: '/app/caf\xe9/x', REQUEST_URI: '/app/caf%E9/x?q=1', QUERY_STRING: 'q=1' };
    let env = environOf(await c.request(1, nginxStock, { keep: true }));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['', '/app/caf\xe9/x']);
    // When the web server splits the path itself, that stands.
    env = environOf(await c.request(1, { ...GET, SCRIPT_NAME: '/app', PATH_INFO: '/x' }, { keep: true }));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['/app', '/x']);

    const mounted = await serve(envJson, { mount: '/app/' });
    const m = await client(mounted.path);
    env = environOf(await m.request(1, nginxStock, { keep: true }));
    expect([env.SCRIPT_NAME, env.PATH_INFO, env.REQUEST_URI]).toEqual(['/app', '/caf\xe9/x', '/app/caf%E9/x?q=1']);
    env = environOf(await m.request(1, { ...GET, SCRIPT_NAME: '/app' }, { keep: true }));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['/app', '']);
    env = environOf(await m.request(1, { ...GET, SCRIPT_NAME: '/application' }, { keep: true }));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['', '/application']);
    env = environOf(await m.request(1, { ...GET, SCRIPT_NAME: '', PATH_INFO: '/app/y' }, { keep: true }));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['/app', '/y']);
  });

  it('C3 UV5 nginx\'s empty CONTENT_TYPE and CONTENT_LENGTH on a GET are removed; a streamed body gets its real length', async () => {
    const app: App = (environ, start) => {
      const body = environ['wsgi.input'].read();
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [b(`${'CONTENT_TYPE' in environ} ${environ.CONTENT_LENGTH ?? 'absent'} ${body.length}`)];
    };
    const { path } = await serve(app);
    const c = await client(path);
    let r = await c.request(1, { ...GET, CONTENT_TYPE: '', CONTENT_LENGTH: '' }, { keep: true });
    expect(parseResponse(r.stdout).body.toString()).toBe('false absent 0');
    // Chunked upload streamed by the web server without a length (Apache, nginx with request buffering off).
    r = await c.request(1, { ...GET, REQUEST_METHOD: 'POST', HTTP_TRANSFER_ENCODING: 'chunked' }, { keep: true, stdin: b('x'.repeat(70_000)) });
    expect(parseResponse(r.stdout).body.toString()).toBe('false 70000 70000');
    // A bad CONTENT_LENGTH is a 400.
    r = await c.request(1, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '12x' }, { keep: true, stdin: b('x') });
    expect(parseResponse(r.stdout).status).toBe('400 Bad Request');
    await stderr.until(/CONTENT_LENGTH "12x" is not a number/);
  });

  it('S1 S4 a body over the limit is a 413; a large body is spooled to disk and read back exactly', async () => {
    const { path } = await serve((environ, start) => {
      const input = environ['wsgi.input'];
      const hash = createHash('sha256');
      let n = 0;
      for (;;) { const part = input.read(65536); if (!part.length) break; n += part.length; hash.update(part); }
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [b(`${n} ${hash.digest('hex')}`)];
    }, { maxBodyBytes: 12 * 1024 * 1024, memoryBodyBytes: 64 * 1024 });
    const c = await client(path);
    const body = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 16)) & 255;
    const r = await c.request(1, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }, { keep: true, stdin: body });
    expect(parseResponse(r.stdout).body.toString()).toBe(`${body.length} ${createHash('sha256').update(body).digest('hex')}`);

    const over = await c.request(2, { ...GET, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(13 * 1024 * 1024) }, { keep: true });
    expect(parseResponse(over.stdout).status).toBe('413 Content Too Large');
    // Streamed without a length, the limit still holds.
    const streamed = await c.request(3, { ...GET, REQUEST_METHOD: 'POST', HTTP_TRANSFER_ENCODING: 'chunked' }, { keep: true, stdin: Buffer.alloc(13 * 1024 * 1024) });
    expect(parseResponse(streamed.stdout).status).toBe('413 Content Too Large');
    await stderr.until(/request 2: [^\n]*body of 13631488 bytes exceeds[^]*request 3: [^\n]*body exceeds/);
  });

  it('S1 params beyond the limit close the connection', async () => {
    const { path } = await serve(hello, { maxVarsBytes: 4096 });
    const c = await client(path);
    c.send(requestBytes(1, { ...GET, HTTP_COOKIE: 'c'.repeat(5000) }));
    await c.closedWithin();
    expect(c.records.filter((r) => r.type === 6)).toHaveLength(0);
    await stderr.until(/params exceed the limit of 4096 bytes/);
  });

  it('F2 a PARAMS record after the first is decoded from its own bytes, whatever the request before it was', async () => {
    const { path } = await serve(envJson);
    const c = await client(path);
    // A request the server remembers (sent three times: it is learned after two misses in a row at most).
    const before: [string, string][] = [['REQUEST_METHOD', 'GET'], ['SERVER_NAME', 'test'], ['SERVER_PORT', '80'], ['QUERY_STRING', 'q'], ['HTTP_X_A', 'remembered'], ['HTTP_X_B', 'remembered']];
    for (let i = 0; i < 3; i++) await c.request(1, Object.fromEntries(before), { keep: true });
    // The next one's first record is as long as that request's pairs and ends as they do (inside
    // QUERY_STRING's value, which goes on into the second record for as many bytes as the
    // remembered request's first four pairs take): its own HTTP_X_A and HTTP_X_B are in record 2.
    const bytes = encodePairs(before);
    const size = bytes.length;
    const ends4 = encodePairs(before.slice(0, 4)).length;
    const query = `q${bytes.subarray(ends4).toString('latin1')}${'z'.repeat(ends4)}`;
    const pairs: [string, string][] = [...before.slice(0, 3), ['QUERY_STRING', query], ['HTTP_X_A', 'sent'], ['HTTP_X_B', 'sent']];
    const sent = encodePairs(pairs);
    c.send(Buffer.concat([
      encodeBeginRequest(1, 1, 1), encodeRecord(4, 1, sent.subarray(0, size)), encodeRecord(4, 1, sent.subarray(size)), encodeRecord(4, 1),
      encodeRecord(5, 1),
    ]));
    const env = environOf(await c.reply(1));
    expect([env.QUERY_STRING, env.HTTP_X_A, env.HTTP_X_B]).toEqual([query, 'sent', 'sent']);
  });

  it('S3 a stalled peer is timed out: a request that never completes, and an idle connection', async () => {
    const { path } = await serve(hello, { readTimeoutMs: 200, idleTimeoutMs: 300 });
    const partial = await client(path);
    partial.send(encodeBeginRequest(1, 1, 1));
    partial.send(encodeStream(4, 1, encodePairs([['A', 'b']]), false));
    const t0 = Date.now();
    await partial.closedWithin(3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    const idle = await client(path);
    await idle.request(1, GET, { keep: true });
    await idle.closedWithin(3000);
    await stderr.until(/request 1 not received within 200 ms/);
  });

  it('S4 a response to a peer that does not read waits on backpressure instead of buffering without end', async () => {
    let produced = 0;
    const chunk = Buffer.alloc(64 * 1024, 7);
    const app: App = (_e, start) => {
      start('200 OK', [['Content-Type', 'application/octet-stream']]);
      return (function* () { for (let i = 0; i < 400; i++) { produced++; yield chunk; } })(); // 25 MiB
    };
    const { path } = await serve(app);
    const c = await client(path);
    c.socket.pause();
    c.send(requestBytes(1, GET));
    await sleep(500);
    // With the client not reading, only what fits in the socket buffers (a few MiB at most) was produced.
    expect(produced).toBeGreaterThan(0);
    expect(produced).toBeLessThan(150);
    c.socket.resume();
    const r = await c.reply(1, 20_000);
    expect(parseResponse(r.stdout).body.length).toBe(400 * chunk.length);
    expect(produced).toBe(400);
  });

  it('S5 a stale socket file is replaced, a live one is never stolen, a non-socket is left alone; mode set; removed on close', async () => {
    const dir = tempDir();
    const path = join(dir, 'app.sock');
    // A stale socket: its process was killed, so nobody unlinked it.
    const killed = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((r) => killed.on('exit', r));
    expect(statSync(path).isSocket()).toBe(true);
    const srv = await serveFastCgi(hello, { socket: path, chmod: '660' });
    cleanups.push(() => srv.close());
    expect(statSync(path).mode & 0o777).toBe(0o660);
    // Live: refused, and the running server keeps its socket.
    await expect(serveFastCgi(hello, { socket: path })).rejects.toThrow(/in use/);
    const c = await client(path);
    expect(parseResponse((await c.request(1, GET)).stdout).status).toBe('200 OK');
    // Not a socket: never deleted.
    const file = join(dir, 'file');
    writeFileSync(file, 'precious');
    await expect(serveFastCgi(hello, { socket: file })).rejects.toThrow(/not a socket/);
    expect(existsSync(file)).toBe(true);
    await expect(serveFastCgi(hello, { socket: join(dir, 'x.sock'), chmod: '99z' })).rejects.toThrow(/not a file mode/);
    await srv.close();
    expect(existsSync(path)).toBe(false);
  });

  it('S6 SIGTERM: stop accepting, finish the request in flight, remove the socket, exit 0', async () => {
    const dir = tempDir();
    const path = join(dir, 'app.sock');
    const child = spawn(process.execPath, [join(ROOT, 'bin/tsgi.cjs'), 'fastcgi', join(ROOT, 'test/fixtures/apps.js:slowFinite'), '--socket', path], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    cleanups.push(() => child.kill('SIGKILL'));
    const deadline = Date.now() + 15_000;
    while (!existsSync(path)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tsgi did not start: ${err}`);
      await sleep(50);
    }
    const c = await client(path);
    c.send(requestBytes(1, GET, { keep: true }));
    await c.until(() => c.records.some((r) => r.type === 6), 'the response to begin');
    child.kill('SIGTERM');
    const r = await c.reply(1);
    expect(parseResponse(r.stdout).body.toString()).toBe('part 0\npart 1\npart 2\npart 3\npart 4\n');
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(existsSync(path)).toBe(false);
    await c.closedWithin();
  });
});
