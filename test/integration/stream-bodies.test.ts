// X3 through a real nginx with request buffering off: FastCGI
// (fastcgi_request_buffering off) and uwsgi (uwsgi_request_buffering off),
// tsgi started with --stream-bodies (nginx/streaming.conf).
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, freePort, runDir, serversAvailable, startNginx, waitFor, type Running } from './servers.js';
import { openRaw } from './http-client.js';

const APP = `${ROOT}/test/fixtures/stream-app.js`;
const LIMIT = 1024 * 1024;

async function startTsgi(kind: 'fastcgi' | 'uwsgi', dir: string): Promise<{ socket: string; stop: () => Promise<void> }> {
  const socket = join(dir, `${kind}.sock`);
  const child = spawn(process.execPath, [`${ROOT}/bin/tsgi.cjs`, kind, APP, '--stream-bodies', '--max-body', String(LIMIT), '--socket', socket, '--chmod', '666'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  await waitFor(() => { if (child.exitCode !== null) throw new Error(`tsgi exited: ${out}`); return existsSync(socket); }, `tsgi ${kind} to listen`);
  return {
    socket,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }),
  };
}


const bytes = (n: number, seed: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * seed + (i >> 9)) & 255; return b; };

const haveNginx = serversAvailable('nginx streaming-body suite', ['nginx']);
describe.skipIf(!haveNginx)('X3 request bodies streamed through nginx with request buffering off', () => {
  let nginx: Running & { port: number };
  let fcgi: Awaited<ReturnType<typeof startTsgi>>;
  let uwsgi: Awaited<ReturnType<typeof startTsgi>>;
  let uwsgiPort: number;

  let dir: string;
  let n = 0;
  beforeAll(async () => {
    dir = runDir('tsgi-nginx-stream-');
    fcgi = await startTsgi('fastcgi', dir);
    uwsgi = await startTsgi('uwsgi', dir);
    uwsgiPort = await freePort();
    nginx = await startNginx('streaming.conf', {
      RUN_DIR: dir, SOCKET: fcgi.socket, UWSGI_SOCKET: uwsgi.socket, UWSGI_PORT: String(uwsgiPort),
    });
  });
  afterAll(async () => { await nginx?.stop(); await fcgi?.stop(); await uwsgi?.stop(); });

  const cases: [string, () => number, 'length' | 'chunked'][] = [
    ['FastCGI', () => nginx.port, 'length'],
    ['FastCGI', () => nginx.port, 'chunked'],
    ['uwsgi', () => uwsgiPort, 'length'],
    // SCGI is not here: through nginx scgi_pass the app hashes the whole body, but nginx reads a
    // connection reset instead of the response (see the X3 SCGI test in test/server/http-stream.test.ts).
  ];
  for (const [name, port, framing] of cases) {
    it(`X3 ${name} (${framing}): the app sees the first chunk before the client sends the rest, and hashes the whole body`, async () => {
      const seen = join(dir, `seen-${++n}`);
      const first = bytes(100_000, 7);
      const rest = bytes(400_000, 13);
      const path = `/hash?seen=${encodeURIComponent(seen)}`;
      const { socket, response } = openRaw(port());
      const head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n`;
      if (framing === 'length') socket.write(Buffer.concat([Buffer.from(`${head}Content-Length: ${first.length + rest.length}\r\n\r\n`), first]));
      else socket.write(Buffer.concat([Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n${first.length.toString(16)}\r\n`), first, Buffer.from('\r\n')]));
      // Causal: the rest is sent only once the app, in another process behind nginx, has reported its first chunk.
      await waitFor(() => existsSync(seen), `the app to see the first chunk through nginx ${name}`);
      expect(Number(readFileSync(seen, 'utf8'))).toBeGreaterThan(0);
      if (framing === 'length') socket.write(rest);
      else socket.write(Buffer.concat([Buffer.from(`${rest.length.toString(16)}\r\n`), rest, Buffer.from('\r\n0\r\n\r\n')]));
      const text = await response;
      const want = `${first.length + rest.length} ${createHash('sha256').update(first).update(rest).digest('hex')}`;
      expect(text.startsWith('HTTP/1.1 200'), text.slice(0, 300)).toBe(true);
      expect(text.includes(want), text.slice(-200)).toBe(true);
    });
  }

  it('X3 FastCGI: a chunked body that grows past --max-body fails the app\'s read with the limit', async () => {
    const seen = join(dir, `seen-${++n}`);
    const { socket, response } = openRaw(nginx.port);
    socket.write(`POST /hash?seen=${encodeURIComponent(seen)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const piece = bytes(65536, 3);
    for (let i = 0; i < 24; i++) socket.write(Buffer.concat([Buffer.from('10000\r\n'), piece, Buffer.from('\r\n')]));
    socket.write('0\r\n\r\n');
    await waitFor(() => existsSync(`${seen}.error`), 'the app to see the limit');
    expect(readFileSync(`${seen}.error`, 'utf8')).toBe(`request body exceeds the limit of ${LIMIT} bytes`);
    socket.destroy();
    await response;
  });

  it('X3 a Content-Length past --max-body is still refused with 413 before the app runs', async () => {
    const { socket, response } = openRaw(uwsgiPort);
    socket.write(`POST /hash HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`);
    const text = await response;
    expect(text.startsWith('HTTP/1.1 413'), text.slice(0, 200)).toBe(true);
  });

  it('X3 under --stream-bodies wsgi.input refuses a synchronous read, naming tsgi.input', async () => {
    const { socket, response } = openRaw(nginx.port);
    // write, not end: nginx may take a client's half-close during the body for a client gone.
    socket.write('POST /sync HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc');
    const text = await response;
    expect(text.startsWith('HTTP/1.1 500'), text.slice(0, 200)).toBe(true);
    expect(text).toContain("environ['tsgi.input']");
  });
});
