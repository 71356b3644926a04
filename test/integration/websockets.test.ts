// WebSockets through real nginx (W1–W5): `ws` and socket.io apps that export
// their http.Server, run by `tsgi uwsgi` and `tsgi scgi` behind the shipped
// nginx/uwsgi.conf and nginx/scgi.conf
// with real clients (ws, socket.io-client); the dev HTTP server with a raw
// client; FastCGI behind nginx fastcgi_pass and CGI answering 501.
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { io as ioClient } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitUntil } from '../timing.js';
import { fetchRaw } from './http-client.js';
import { ROOT, freePort, runDir, serversAvailable, startNginx, waitFor, type Running } from './servers.js';
import { BIN, NODE, httpGet, startTsgi, stopAll, type TsgiProcess } from './tsgi-process.js';

const WS_APP = join(ROOT, 'test/fixtures/ws-app.js');
const IO_APP = join(ROOT, 'test/fixtures/socketio-app.js');
const haveNginx = serversAvailable('WebSocket suites', ['nginx']);

/** `tsgi uwsgi APP --socket DIR/NAME.sock`, the socket open to nginx's workers. */
function uwsgi(dir: string, name: string, app: string, extra: string[] = []): Promise<{ t: TsgiProcess; socket: string }> {
  return backend('uwsgi', dir, name, app, extra);
}

/** `tsgi KIND APP --socket DIR/NAME.sock`, the socket open to nginx's workers. */
async function backend(kind: 'uwsgi' | 'scgi', dir: string, name: string, app: string, extra: string[] = []): Promise<{ t: TsgiProcess; socket: string }> {
  const socket = join(dir, `${name}.sock`);
  const t = startTsgi([kind, app, '--socket', socket, '--chmod', '666', ...extra]);
  // Alone, it says it is serving; under a master, each worker is ready.
  const workers = extra.includes('--workers') ? Number(extra[extra.indexOf('--workers') + 1]) : 0;
  if (workers > 0) await t.waitLog(/generation 1\) ready/, 'the workers', workers);
  else await t.waitLog(/serving/, `tsgi ${kind} to serve`);
  await waitFor(() => existsSync(socket), 'the socket');
  return { t, socket };
}

/** A ws client that has opened; every message and the close are recorded. */
async function open(url: string): Promise<{ ws: WebSocket; messages: (Buffer | string)[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url, { maxPayload: 256 * 1024 * 1024 });
  const messages: (Buffer | string)[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => messages.push(isBinary ? data : data.toString()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return { ws, messages, closed };
}

/** Sends `data` and waits for the echo. */
async function echo(c: { ws: WebSocket; messages: (Buffer | string)[] }, data: Buffer | string): Promise<Buffer | string> {
  const n = c.messages.length;
  c.ws.send(data);
  await waitUntil(() => c.messages.length > n, 'the echo');
  return c.messages[n]!;
}

const stats = async (port: number): Promise<Record<string, any>> => JSON.parse((await httpGet(port, '/stats')).text);

describe.skipIf(!haveNginx)('W5 ws behind nginx uwsgi_pass (the shipped nginx/uwsgi.conf)', () => {
  let dir: string;
  let nginx: Running & { port: number };
  let url: string;

  beforeAll(async () => {
    dir = runDir('tsgi-ws-uwsgi-');
    const b = await uwsgi(dir, 'ws', WS_APP, ['--max-tunnels', '1100', '--max-concurrent', '2048']);
    nginx = await startNginx('uwsgi.conf', { RUN_DIR: dir, SOCKET: b.socket });
    url = `ws://127.0.0.1:${nginx.port}`;
  });
  afterAll(async () => {
    await nginx?.stop();
    await stopAll();
  });

  it('W1 W2 W5 text and 64 KiB binary frames echo; close codes from the client and from the app', async () => {
    const c = await open(`${url}/echo`);
    expect(await echo(c, 'hello, tunnel')).toBe('hello, tunnel');
    const bin = Buffer.alloc(65536);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 131 + (i >> 8)) & 0xff;
    for (let i = 0; i < 4; i++) expect(Buffer.compare(await echo(c, bin) as Buffer, bin)).toBe(0);
    // The client closes: the app sees the client's code.
    c.ws.close(4001, 'client done');
    expect(await c.closed).toEqual({ code: 4001, reason: 'client done' });
    await waitUntil(async () => (await stats(nginx.port)).closes.includes(4001), 'the app to see code 4001');
    // The app closes: the client sees the app's code.
    const d = await open(`${url}/echo`);
    d.ws.send('close-me 4002');
    expect(await d.closed).toEqual({ code: 4002, reason: 'asked' });
    // Plain requests still reach the 'request' listeners, beside the tunnels.
    expect((await httpGet(nginx.port, '/plain')).text).toBe('plain GET /plain upgrade=-\n');
  });

  it('W5 1,000 concurrent sockets, each echoing its own message', async () => {
    // Opened 200 at a time: 1,000 connects at once overflow the listen queue of the unix socket
    // (nginx: "connect() … failed (11: Resource temporarily unavailable)", 502), which is the kernel's, not the tunnels'.
    const clients: Awaited<ReturnType<typeof open>>[] = [];
    for (let i = 0; i < 1000; i += 200) clients.push(...await Promise.all(Array.from({ length: 200 }, () => open(`${url}/echo`))));
    await Promise.all(clients.map(async (c, i) => expect(await echo(c, `socket ${i}`)).toBe(`socket ${i}`)));
    for (const c of clients) c.ws.close(1000);
    const codes = await Promise.all(clients.map((c) => c.closed));
    expect(codes.every((x) => x.code === 1000)).toBe(true);
  });

  it('W2 back-pressure: a client that does not read holds the app\'s writes (drain waits), the queue stays bounded', async () => {
    const ws = new WebSocket(`${url}/flood`, { maxPayload: 256 * 1024 * 1024 });
    let received = 0;
    ws.on('message', (d: Buffer) => { received += d.length; });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => { (ws as any)._socket.pause(); resolve(); }); ws.once('error', reject); });
    // The app writes 64 MiB as fast as the tunnel takes it: it must be made to wait.
    await waitUntil(async () => (await stats(nginx.port)).flood?.blocked === true, 'the app to wait for drain');
    const s = (await stats(nginx.port)).flood;
    expect(s.drains).toBeGreaterThanOrEqual(1);
    expect(s.sent).toBeLessThan(s.want);
    // What the tunnel holds for the web server is bounded by the stream's buffer, not by what the app tried to send.
    expect(s.maxQueued).toBeLessThan(4 * 1024 * 1024);
    (ws as any)._socket.resume();
    await waitUntil(() => received >= 64 * 1024 * 1024, 'all 64 MiB to arrive', 60_000);
    const after = (await stats(nginx.port)).flood;
    expect(after.done).toBe(true);
    expect(after.drains).toBeGreaterThan(1);
    ws.close();
  });

  it('W2 back-pressure: an app that does not read pauses the connection, and reads it all once it resumes', async () => {
    const c = await open(`${url}/noread`);
    const chunk = Buffer.alloc(1024 * 1024, 0x62);
    let sent = 0;
    // The client writes until its own socket pushes back: what it wrote piles up in nginx and the kernel, not in the app.
    for (let i = 0; i < 32; i++) { c.ws.send(chunk); sent += chunk.length; }
    await waitUntil(async () => (await stats(nginx.port)).noread?.pauses >= 1, 'the tunnel to pause the connection');
    const s = (await stats(nginx.port)).noread;
    expect(s.received).toBe(0);
    expect(s.buffered).toBeLessThan(2 * 1024 * 1024);
    expect((await httpGet(nginx.port, '/resume')).text).toBe('resumed\n');
    c.ws.send('done');
    await waitUntil(() => c.messages.length > 0, 'the app\'s count', 60_000);
    const final = JSON.parse(c.messages[0] as string);
    expect(final.received).toBe(sent + 4);
    expect(final.resumes).toBeGreaterThanOrEqual(1);
    c.ws.close();
  });
});

describe.skipIf(!haveNginx)('W5 socket.io behind nginx uwsgi_pass', () => {
  let dir: string;
  let nginx: Running & { port: number };

  beforeAll(async () => {
    dir = runDir('tsgi-io-uwsgi-');
    const b = await uwsgi(dir, 'io', IO_APP);
    nginx = await startNginx('uwsgi.conf', { RUN_DIR: dir, SOCKET: b.socket });
  });
  afterAll(async () => {
    await nginx?.stop();
    await stopAll();
  });

  for (const transports of [['websocket'], ['polling']] as const) {
    it(`W1 W5 socket.io-client over ${transports[0]}: connects and gets acknowledged echoes`, async () => {
      const socket = ioClient(`http://127.0.0.1:${nginx.port}`, { transports: [...transports], upgrade: false, reconnection: false, forceNew: true });
      try {
        await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
        for (let i = 0; i < 3; i++) {
          const r = await socket.timeout(10_000).emitWithAck('echo', `message ${i}`);
          expect(r).toEqual({ msg: `message ${i}`, transport: transports[0] });
        }
      } finally {
        socket.close();
      }
    });
  }

  it('W5 socket.io-client\'s default: polling first, then the upgrade to websocket', async () => {
    const socket = ioClient(`http://127.0.0.1:${nginx.port}`, { reconnection: false, forceNew: true });
    try {
      await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
      await waitUntil(() => socket.io.engine.transport.name === 'websocket', 'the upgrade to websocket');
      expect(await socket.timeout(10_000).emitWithAck('echo', 'after upgrade')).toEqual({ msg: 'after upgrade', transport: 'websocket' });
    } finally {
      socket.close();
    }
  });
});

describe.skipIf(!haveNginx)('W5 ws and socket.io behind nginx scgi_pass (the shipped nginx/scgi.conf)', () => {
  let dir: string;
  let nginx: Running & { port: number };
  let io: Running & { port: number };

  beforeAll(async () => {
    dir = runDir('tsgi-ws-scgi-');
    const ws = await backend('scgi', dir, 'ws', WS_APP);
    nginx = await startNginx('scgi.conf', { RUN_DIR: dir, SOCKET: ws.socket });
    const sub = join(dir, 'io');
    mkdirSync(sub);
    const b = await backend('scgi', sub, 'io', IO_APP);
    io = await startNginx('scgi.conf', { RUN_DIR: sub, SOCKET: b.socket });
  });
  afterAll(async () => {
    await nginx?.stop();
    await io?.stop();
    await stopAll();
  });

  it('W2 W5 text and 64 KiB binary frames echo; close codes from the client and from the app', async () => {
    const url = `ws://127.0.0.1:${nginx.port}`;
    const c = await open(`${url}/echo`);
    expect(await echo(c, 'hello over scgi')).toBe('hello over scgi');
    const bin = Buffer.alloc(65536);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 17 + (i >> 9)) & 0xff;
    for (let i = 0; i < 4; i++) expect(Buffer.compare(await echo(c, bin) as Buffer, bin)).toBe(0);
    c.ws.close(4003, 'client done');
    expect(await c.closed).toEqual({ code: 4003, reason: 'client done' });
    await waitUntil(async () => (await stats(nginx.port)).closes.includes(4003), 'the app to see code 4003');
    const d = await open(`${url}/echo`);
    d.ws.send('close-me 4004');
    expect(await d.closed).toEqual({ code: 4004, reason: 'asked' });
  });

  for (const transports of [['websocket'], ['polling']] as const) {
    it(`W5 socket.io-client over ${transports[0]}`, async () => {
      const socket = ioClient(`http://127.0.0.1:${io.port}`, { transports: [...transports], upgrade: false, reconnection: false, forceNew: true });
      try {
        await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
        expect(await socket.timeout(10_000).emitWithAck('echo', 'scgi')).toEqual({ msg: 'scgi', transport: transports[0] });
      } finally {
        socket.close();
      }
    });
  }
});

describe.skipIf(!haveNginx)('W4 tunnel limits behind nginx uwsgi_pass', () => {
  let dir: string;
  let nginx: Running & { port: number } | undefined;
  beforeAll(() => { dir = runDir('tsgi-ws-limits-'); });
  afterEach(async () => {
    await nginx?.stop();
    nginx = undefined;
    await stopAll();
  });

  it('W4 --max-tunnels 2: a third upgrade is answered 503 and logged; a closed tunnel makes room', async () => {
    const b = await uwsgi(dir, 'limit', WS_APP, ['--max-tunnels', '2']);
    nginx = await startNginx('uwsgi.conf', { RUN_DIR: dir, SOCKET: b.socket });
    const url = `ws://127.0.0.1:${nginx.port}/echo`;
    const one = await open(url);
    const two = await open(url);
    const third = new WebSocket(url);
    const status = await new Promise<number>((resolve) => {
      third.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      third.on('error', () => {});
    });
    expect(status).toBe(503);
    await b.t.waitLog(/upgrade refused: 2 tunnels open \(the limit, --max-tunnels\)/, 'the log line');
    one.ws.close();
    await one.closed;
    await waitUntil(async () => {
      try { const c = await open(url); c.ws.close(); return true; } catch { return false; }
    }, 'a new tunnel once one closed');
    two.ws.close();
  });

  it('W4 --tunnel-idle-timeout 1: a tunnel with no byte either way is closed, and the log says so', async () => {
    const b = await uwsgi(dir, 'idle', WS_APP, ['--tunnel-idle-timeout', '1']);
    nginx = await startNginx('uwsgi.conf', { RUN_DIR: dir, SOCKET: b.socket });
    const c = await open(`ws://127.0.0.1:${nginx.port}/echo`);
    expect(await echo(c, 'still here')).toBe('still here');
    const { code } = await c.closed;
    expect(code).toBe(1006); // the connection went without a close frame
    await b.t.waitLog(/uwsgi: tunnel idle for 1000 ms; closing it/, 'the log line');
  });

  it('W4 a tunnel outlives a SIGHUP reload under --workers 2 and is closed at the graceful deadline', async () => {
    const b = await uwsgi(dir, 'reload', WS_APP, ['--workers', '2', '--graceful-timeout', '4']);
    nginx = await startNginx('uwsgi.conf', { RUN_DIR: dir, SOCKET: b.socket });
    const c = await open(`ws://127.0.0.1:${nginx.port}/echo`);
    const pid = Number(await echo(c, 'pid'));
    b.t.child.kill('SIGHUP');
    await b.t.waitLog(/reload: generation \d+ serving/, 'the reload');
    // The new generation serves; the old worker keeps the tunnel open (not handed on, not dropped).
    expect(await echo(c, 'after the reload')).toBe('after the reload');
    expect(Number(await echo(c, 'pid'))).toBe(pid);
    const fresh = await open(`ws://127.0.0.1:${nginx.port}/echo`);
    expect(Number(await echo(fresh, 'pid'))).not.toBe(pid);
    fresh.ws.close();
    // At the deadline the old worker closes what is left, and exits.
    const { code } = await c.closed;
    expect(code).toBe(1006);
    await b.t.waitLog(/graceful stop: .* after 4000 ms; closing them/, 'the deadline');
  });
});

describe('W2 the dev HTTP server', () => {
  afterAll(stopAll);

  it('W2 a raw client gets the app\'s exact 101 head, then frames both ways', async () => {
    const port = await freePort();
    const t = startTsgi(['http', WS_APP, '--port', String(port)]);
    await t.waitLog(/serving/, 'tsgi http');
    const s = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]); });
    s.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';
    await waitUntil(() => got.length >= head.length, 'the 101 head');
    expect(got.toString('latin1')).toBe(head);
    // A masked text frame "hi" (RFC 6455 §5.3, mask 01 02 03 04); the echo comes back unmasked.
    s.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]));
    await waitUntil(() => got.length >= head.length + 4, 'the echo frame');
    expect([...got.subarray(head.length)]).toEqual([0x81, 0x02, 0x68, 0x69]);
    s.destroy();
  });

  it('W1 an app without upgrade listeners answers an upgrade request as an ordinary one (as node:http on Node 22+)', async () => {
    const port = await freePort();
    const t = startTsgi(['http', join(ROOT, 'test/fixtures/peer.js'), '--port', String(port)]);
    await t.waitLog(/serving/, 'tsgi http');
    const r = await fetchRaw(port, 'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket');
    expect(r.status).toBe(200);
    expect(r.head).toMatch(/\r\nConnection: close\r\n/i);
    expect(r.body.toString()).toBe('Hello, world!\n');
  });
});

describe('W3 FastCGI and CGI cannot tunnel', () => {
  afterAll(stopAll);

  it('W3 CGI: an upgrade to an app with upgrade listeners is answered 501, with a log line', () => {
    const r = spawnSync(NODE, [BIN, 'cgi', WS_APP], {
      env: { PATH: process.env.PATH ?? '', GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', PATH_INFO: '/echo', SERVER_PROTOCOL: 'HTTP/1.1', SERVER_NAME: 'x', SERVER_PORT: '80', HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'Upgrade' },
      encoding: 'latin1',
    });
    expect(r.stdout).toMatch(/^Status: 501 Not Implemented\r?\n/);
    expect(r.stderr).toMatch(/GET \/echo \(Upgrade: websocket\): refused with 501: .*cannot tunnel/);
  });

  it.skipIf(!haveNginx)('W3 FastCGI behind nginx fastcgi_pass: 501 and a log line, never a hang', async () => {
    const dir = runDir('tsgi-ws-fcgi-');
    const socket = join(dir, 'fcgi.sock');
    const t = startTsgi(['fastcgi', WS_APP, '--socket', socket, '--chmod', '666']);
    await t.waitLog(/serving/, 'tsgi fastcgi');
    const nginx = await startNginx('fastcgi.conf', { RUN_DIR: dir, SOCKET: socket, PLAIN_PORT: String(await freePort()) });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${nginx.port}/echo`);
      const status = await new Promise<number>((resolve) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => {});
      });
      expect(status).toBe(501);
      await t.waitLog(/GET \/echo \(Upgrade: websocket\): refused with 501/, 'the log line');
      // The same server answers the app's plain routes.
      expect((await httpGet(nginx.port, '/plain')).text).toBe('plain GET /plain upgrade=-\n');
    } finally {
      await nginx.stop();
    }
  });
});
