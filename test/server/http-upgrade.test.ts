// Upgrade requests on the dev HTTP server (W2), over real sockets with a raw client.
import { Buffer } from 'node:buffer';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import type { App } from '../../src/contract/types.js';
import { serveHttp, type HttpOptions } from '../../src/server/http.js';
import { waitUntil } from '../timing.js';

const stderr = captureStderr();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serve(app: App, opts: HttpOptions = {}): Promise<number> {
  const srv = await serveHttp(app, { port: 0, accessLog: false, ...opts });
  cleanups.push(() => srv.close(100));
  return srv.port;
}

/** Sends `text`, returns everything until the server closes. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.write(text);
  });
}

const UPGRADE = 'GET /u HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n';

const plain: App = (environ, start) => {
  start('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '3']]);
  return [Buffer.from(typeof environ['tsgi.upgrade'] === 'function' ? 'yes' : 'no!')];
};

describe('W2 the dev HTTP server', () => {
  it('W2 an app that does not take the connection is answered on it as usual, and the connection closes', async () => {
    const port = await serve(plain);
    expect(await exchange(port, `${UPGRADE}\r\n`)).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nyes');
  });

  it('W2 an environ app takes the connection: its head exactly, the bytes sent with the request as head, then both ways', async () => {
    const port = await serve((environ, start) => {
      const { socket, head } = environ['tsgi.upgrade']!();
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n[${head.toString('latin1')}]`);
      socket.on('data', (d: Buffer) => socket.write(d.toString('latin1').toUpperCase()));
      start('101 Switching Protocols', []);
      return [];
    });
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.write(`${UPGRADE}\r\nearly`);
    const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n[early]';
    await waitUntil(() => got.length >= head.length, 'the head');
    expect(got).toBe(head);
    s.write('xyz');
    await waitUntil(() => got.length >= head.length + 3, 'the echo');
    expect(got.slice(head.length)).toBe('XYZ');
    s.destroy();
  });

  it('W2 S1 an upgrade request with too many header lines is refused 431 (by node:http, before the upgrade)', async () => {
    const port = await serve(plain, { maxHeaders: 5 });
    const extra = Array.from({ length: 6 }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    expect(await exchange(port, `${UPGRADE}${extra}\r\n`)).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  });

  it('W2 an upgrade request with a body is refused 400 (the bytes after it belong to the new protocol)', async () => {
    const port = await serve(plain);
    expect(await exchange(port, `${UPGRADE}Content-Length: 3\r\n\r\nabc`)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n/);
    expect(await stderr.until(/an upgrade request with a body/)).toBeTruthy();
  });
});
