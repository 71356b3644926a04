// fromNodeServer (W1, W3, W4): an http.Server's 'request' and 'upgrade'
// listeners as an app, run through the engine.
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import { fromNodeServer } from '../../src/bridges/from-node-server.js';
import { GatewayError } from '../../src/contract/errors.js';
import { wantsUpgrade } from '../../src/contract/upgrade.js';
import { loadApp } from '../../src/cli/load-app.js';
import { run } from '../helpers.js';

const stderr = captureStderr();
const UPGRADE = { HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'keep-alive, Upgrade', PATH_INFO: '/chat' };

describe('fromNodeServer', () => {
  it('W1 the \'request\' listeners answer, looked up at each request (socket.io replaces them)', async () => {
    const server = createServer((_req, res) => res.end('first'));
    const app = fromNodeServer(server);
    expect((await run(app)).sink.text).toMatch(/\r\n\r\nfirst$/);
    server.removeAllListeners('request');
    server.on('request', (_req, res) => res.end('second'));
    expect((await run(app)).sink.text).toMatch(/\r\n\r\nsecond$/);
  });

  it('W1 an upgrade request goes to the \'upgrade\' listeners with (req, socket, head), and ends the request with 101', async () => {
    const server = createServer((_req, res) => res.end('plain'));
    const seen: unknown[] = [];
    server.on('upgrade', (req, socket, head) => seen.push(req.method, req.url, req.headers.upgrade, socket, head));
    const socket = new PassThrough();
    const head = Buffer.from('early');
    const r = await run(fromNodeServer(server), { ...UPGRADE, 'tsgi.upgrade': (() => ({ socket, head })) as never });
    expect(seen).toEqual(['GET', '/chat', 'websocket', socket, head]);
    expect(r.sink.events).toEqual(['head 101 Switching Protocols 0 last']);
  });

  it('W1 a handshake the listener refused ends the request with the status it wrote (the access log shows it)', async () => {
    const server = createServer();
    const socket = Object.assign(new PassThrough(), { status: '' });
    server.on('upgrade', (_req, s: typeof socket) => { s.status = '400 Bad Request'; s.destroy(); });
    const r = await run(fromNodeServer(server), { ...UPGRADE, 'tsgi.upgrade': (() => ({ socket, head: Buffer.alloc(0) })) as never });
    expect(r.sink.events).toEqual(['head 400 Bad Request 0 last']);
  });

  it('W1 with no \'upgrade\' listener an upgrade request is an ordinary request (node:http on Node 22+)', async () => {
    const server = createServer((req, res) => res.end(`plain ${req.headers.upgrade}`));
    const r = await run(fromNodeServer(server), { ...UPGRADE, 'tsgi.upgrade': (() => { throw new Error('not to be called'); }) as never });
    expect(r.sink.text).toMatch(/^Status: 200 OK\r\n[^]*\r\n\r\nplain websocket$/);
  });

  it('W3 where the adapter cannot tunnel (no tsgi.upgrade): 501 and a log line naming the reason', async () => {
    const server = createServer((_req, res) => res.end('plain'));
    server.on('upgrade', () => { throw new Error('not to be called'); });
    const r = await run(fromNodeServer(server), UPGRADE);
    expect(r.sink.text).toMatch(/^Status: 501 Not Implemented\r\n/);
    expect(await stderr.until(/GET \/chat \(Upgrade: websocket\): refused with 501: the app has 'upgrade' listeners, but this adapter cannot tunnel/)).toBeTruthy();
  });

  it('W4 past the adapter\'s tunnel limit: 503', async () => {
    const server = createServer();
    server.on('upgrade', () => { throw new Error('not to be called'); });
    const r = await run(fromNodeServer(server), { ...UPGRADE, 'tsgi.upgrade': (() => { throw new GatewayError('ERR_LIMIT_TUNNELS', 'full'); }) as never });
    expect(r.sink.text).toMatch(/^Status: 503 Service Unavailable\r\n/);
  });

  it('W1 wantsUpgrade needs Upgrade and the upgrade token in Connection', () => {
    expect(wantsUpgrade({ HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'Upgrade' })).toBe(true);
    expect(wantsUpgrade({ HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'keep-alive,upgrade' })).toBe(true);
    expect(wantsUpgrade({ HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'keep-alive' })).toBe(false);
    expect(wantsUpgrade({ HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'upgrades' })).toBe(false);
    expect(wantsUpgrade({ HTTP_CONNECTION: 'upgrade' })).toBe(false);
  });
});

describe('W1 loading a module that exports an http.Server', () => {
  it('W1 an exported http.Server is taken as the app', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-server-app-'));
    writeFileSync(join(dir, 'app.mjs'), "import { createServer } from 'node:http';\nexport default createServer((req, res) => res.end('from the server'));\n");
    const app = await loadApp(join(dir, 'app.mjs'));
    expect((await run(app)).sink.text).toMatch(/\r\n\r\nfrom the server$/);
  });

  it('W1 one that already called listen() is refused with a clear error, and its listener closed', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-server-app-'));
    writeFileSync(join(dir, 'app.mjs'), "import { createServer } from 'node:http';\nconst s = createServer(() => {});\ns.listen(0, '127.0.0.1');\nglobalThis.listeningServer = s;\nexport default s;\n");
    await expect(loadApp(join(dir, 'app.mjs'))).rejects.toThrow(/is an http\.Server that is listening on 127\.0\.0\.1:\d+ \(the module called listen\(\)\): tsgi listens for it; remove the listen\(\) call/);
    expect((globalThis as { listeningServer?: { listening: boolean } }).listeningServer!.listening).toBe(false);
  });
});
