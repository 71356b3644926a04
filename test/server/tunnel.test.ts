// The byte tunnel of an upgraded connection (W2, W4), over real sockets:
// serveUwsgi with a raw client playing nginx, and the tunnel on its own.
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import type { App } from '../../src/contract/types.js';
import { encodeHeader } from '../../src/protocol/scgi.js';
import { encodePacket } from '../../src/protocol/uwsgi.js';
import { serveScgi } from '../../src/server/scgi.js';
import { cgiStatusHead, TunnelPool, type Tunnel } from '../../src/server/tunnel.js';
import { serveUwsgi, type UwsgiOptions } from '../../src/server/uwsgi.js';
import { slow, waitUntil } from '../timing.js';

const stderr = captureStderr();
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-tunnel-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(app: App, opts: UwsgiOptions = {}): Promise<string> {
  const path = join(tempDir(), 'app.sock');
  const srv = await serveUwsgi(app, { socket: path, ...opts });
  cleanups.push(() => srv.close(100));
  return path;
}

const UPGRADE: [string, string][] = [
  ['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/t'], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['SERVER_NAME', 't'], ['SERVER_PORT', '80'],
  ['HTTP_UPGRADE', 'echo'], ['HTTP_CONNECTION', 'Upgrade'],
];

/** An environ app that takes the connection, answers 101 and echoes in upper case. */
const echoApp: App = (environ, start) => {
  const up = environ['tsgi.upgrade'];
  if (up === undefined) {
    start('200 OK', [['Content-Type', 'text/plain']]);
    return [b('no upgrade\n')];
  }
  const { socket, head } = up();
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  socket.write(`head=${head.toString('latin1')};`);
  socket.on('data', (d: Buffer) => { if (d.toString() === 'bye') socket.end(); else socket.write(d.toString('latin1').toUpperCase()); });
  socket.on('end', () => socket.end());
  start('101 Switching Protocols', []);
  return [];
};

describe('W2 uwsgi upgrades', () => {
  it('W2 an environ app takes the connection: its 101 head as written, the bytes after the request as head, then an echo both ways', async () => {
    const path = await serve(echoApp);
    const s = connect(path);
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    const closed = new Promise((r) => s.on('close', r));
    s.write(Buffer.concat([encodePacket(UPGRADE), b('early')]));
    const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhead=early;';
    await waitUntil(() => got.length >= head.length, 'the head');
    expect(got).toBe(head);
    s.write('abc');
    await waitUntil(() => got.length >= head.length + 3, 'the echo');
    expect(got.slice(head.length)).toBe('ABC');
    s.write('bye');
    await closed; // the app's end() closes the tunnel once the client ends too
  });

  it('W2 the client closing ends the tunnel on the app\'s side', async () => {
    let appSocket: Tunnel | undefined;
    const path = await serve((environ, start) => {
      appSocket = environ['tsgi.upgrade']!().socket as Tunnel;
      appSocket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
      appSocket.resume();
      start('101 Switching Protocols', []);
      return [];
    });
    const s = connect(path);
    s.write(encodePacket(UPGRADE));
    await new Promise((r) => s.once('data', r));
    s.destroy();
    await waitUntil(() => appSocket!.destroyed, 'the app\'s socket to close');
  });

  it('W4 a graceful stop keeps an open tunnel working until its deadline, then closes it', async () => {
    const path = join(tempDir(), 'app.sock');
    const srv = await serveUwsgi(echoApp, { socket: path });
    const s = connect(path);
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    const closed = new Promise((r) => s.on('close', r));
    s.write(encodePacket(UPGRADE));
    await waitUntil(() => got.includes('head=;'), 'the head');
    let stopped = false;
    const stopping = srv.close(slow(3000)).then(() => { stopped = true; });
    s.write('during the stop');
    await waitUntil(() => got.endsWith('DURING THE STOP'), 'the echo during the stop');
    expect(stopped).toBe(false);
    await stopping;
    await closed;
    expect(await stderr.until(/uwsgi: graceful stop: 0 request\(s\) still running, 1 connection\(s\) open after \d+ ms; closing them/)).toBeTruthy();
  });

  it('W2 a request without Upgrade has no tsgi.upgrade and is answered as usual', async () => {
    const path = await serve(echoApp);
    const s = connect(path);
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.write(encodePacket(UPGRADE.filter(([k]) => k !== 'HTTP_UPGRADE')));
    await new Promise((r) => s.on('close', r));
    expect(got).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nno upgrade\n');
  });

  it('W4 maxTunnels: past it tsgi.upgrade throws ERR_LIMIT_TUNNELS and the log says so; a closed tunnel makes room', async () => {
    const codes: string[] = [];
    const path = await serve((environ, start) => {
      try {
        const { socket } = environ['tsgi.upgrade']!();
        socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
        socket.resume();
        codes.push('taken');
      } catch (err) {
        codes.push((err as { code: string }).code);
      }
      start('101 Switching Protocols', []);
      return [];
    }, { maxTunnels: 1 });
    const first = connect(path);
    first.write(encodePacket(UPGRADE));
    await new Promise((r) => first.once('data', r));
    const second = connect(path);
    second.write(encodePacket(UPGRADE));
    await waitUntil(() => codes.length === 2, 'the second upgrade');
    expect(codes).toEqual(['taken', 'ERR_LIMIT_TUNNELS']);
    expect(await stderr.until(/uwsgi: upgrade refused: 1 tunnels open \(the limit, --max-tunnels\)/)).toBeTruthy();
    second.destroy();
    first.destroy();
    await waitUntil(async () => {
      const third = connect(path);
      third.write(encodePacket(UPGRADE));
      await new Promise((r) => third.once('data', r).once('close', r));
      third.destroy();
      return codes.at(-1) === 'taken';
    }, 'room for a new tunnel');
  });
});

describe('W2 SCGI upgrades', () => {
  it('W2 the app\'s HTTP/1.1 101 head goes out as Status: 101 (what nginx scgi_pass tunnels after), then bytes both ways', async () => {
    const path = join(tempDir(), 'scgi.sock');
    const srv = await serveScgi(echoApp, { socket: path });
    cleanups.push(() => srv.close(100));
    const s = connect(path);
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.write(Buffer.concat([encodeHeader(UPGRADE.filter(([k]) => k !== 'CONTENT_LENGTH')), b('early')]));
    const head = 'Status: 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhead=early;';
    await waitUntil(() => got.length >= head.length, 'the head');
    expect(got).toBe(head);
    s.write('abc');
    await waitUntil(() => got.length >= head.length + 3, 'the echo');
    expect(got.slice(head.length)).toBe('ABC');
    s.destroy();
  });
});

/** A connected pair of sockets over a unix socket: [server side, client side]. */
async function pair(): Promise<[Socket, Socket]> {
  const path = join(tempDir(), 'pair.sock');
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect(path);
  const s = await accepted;
  server.close();
  cleanups.push(() => { s.destroy(); client.destroy(); });
  return [s, client];
}

describe('W2 the tunnel', () => {
  it('W2 cgiStatusHead: the status line becomes a Status header (SCGI), the rest as written', () => {
    expect(cgiStatusHead('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n')).toBe('Status: 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n');
    expect(cgiStatusHead('HTTP/1.0 400 Bad Request\r\n\r\n')).toBe('Status: 400 Bad Request\r\n\r\n');
    expect(cgiStatusHead('garbage\r\n\r\n')).toBe('garbage\r\n\r\n');
  });

  it('W2 a head written in pieces is rewritten once, and what follows it passes untouched', async () => {
    const [s, client] = await pair();
    const t = new TunnelPool('test', {}).take(s, cgiStatusHead);
    let got = '';
    client.on('data', (d) => { got += d.toString('latin1'); });
    t.write('HTTP/1.1 10');
    t.write('1 Switching Protocols\r\nUpgrade: x\r\n\r');
    t.write('\nHTTP/1.1 200 not a head\r\n\r\n');
    const want = 'Status: 101 Switching Protocols\r\nUpgrade: x\r\n\r\nHTTP/1.1 200 not a head\r\n\r\n';
    await waitUntil(() => got.length >= want.length, 'the bytes');
    expect(got).toBe(want);
  });

  it('W2 a head that never ends is refused past 16 KiB', async () => {
    const [s] = await pair();
    const t = new TunnelPool('test', {}).take(s, cgiStatusHead);
    const err = new Promise<Error>((r) => t.on('error', r));
    t.write(Buffer.alloc(20_000, 0x61));
    expect((await err).message).toMatch(/response head of over 16384 bytes/);
    await waitUntil(() => s.destroyed, 'the connection to close');
  });

  it('W2 back-pressure: the connection is paused while the app does not read, resumed when it does, nothing lost', async () => {
    const [s, client] = await pair();
    const t = new TunnelPool('test', {}).take(s, null);
    const total = 8 * 1024 * 1024;
    const block = Buffer.alloc(65536, 0x7a);
    let written = 0;
    const pump = (): void => { while (written < total) { written += block.length; if (!client.write(block)) { client.once('drain', pump); return; } } client.end(); };
    let read = 0;
    const count = (d: Buffer): void => { read += d.length; };
    // The app reads the first chunk, then stops reading.
    t.once('data', (d: Buffer) => { count(d); t.pause(); });
    pump();
    await waitUntil(() => t.pauses >= 1, 'the tunnel to pause the connection');
    // Paused: the tunnel holds about its buffer, not what the client sent.
    expect(t.readableLength).toBeLessThan(256 * 1024);
    expect(written).toBeLessThan(total);
    t.on('data', count);
    t.resume();
    await new Promise((r) => t.on('end', r));
    expect(read).toBe(total);
    expect(t.resumes).toBeGreaterThanOrEqual(1);
  });

  it('W4 while the server stops, no new tunnel: ERR_LIMIT_TUNNELS (503 from the bridge), the socket untouched', async () => {
    const [s] = await pair();
    let stopping = false;
    const pool = new TunnelPool('test', {}, () => stopping);
    stopping = true;
    expect(() => pool.take(s, null)).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_TUNNELS' }));
    expect(await stderr.until(/test: upgrade refused: the server is stopping/)).toBeTruthy();
    expect(s.destroyed).toBe(false);
    expect(pool.open.size).toBe(0);
  });

  it('W4 the idle timeout closes a tunnel with no byte either way, and the log says so', async () => {
    const [s, client] = await pair();
    const t = new TunnelPool('test', { tunnelIdleTimeoutMs: 50 }).take(s, null);
    t.resume();
    const clientClosed = new Promise((r) => client.on('close', r));
    await waitUntil(() => t.destroyed, 'the idle tunnel to close');
    await clientClosed;
    expect(await stderr.until(/test: tunnel idle for 50 ms; closing it/)).toBeTruthy();
  });
});
