// B1: the tsgi command runs environ apps, Node request listeners and fetch
// handlers, told apart by their shape or by --interface. Real child processes.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detectInterface } from '../../src/cli/load-app.js';
import { freePort, waitFor } from '../integration/servers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = `${root}bin/tsgi.cjs`;
const bare = `${root}test/fixtures/bare-apps.js`;

function cgi(app: string, path: string, args: string[] = [], extra: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, 'cgi', app, ...args], {
    env: {
      PATH: process.env.PATH ?? '', REQUEST_METHOD: 'GET', SERVER_NAME: 'example.org', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1',
      SCRIPT_NAME: '/cgi-bin/app', PATH_INFO: path, REQUEST_URI: `/cgi-bin/app${path}`, QUERY_STRING: '', HTTP_HOST: 'example.org', ...extra,
    },
    encoding: 'latin1',
    timeout: 20_000,
  });
  const i = r.stdout.indexOf('\r\n\r\n');
  return { status: r.status, head: r.stdout.slice(0, i + 2), body: r.stdout.slice(i + 4), stderr: r.stderr };
}

describe('B1 the CLI runs what it is given', () => {
  it('B1 auto recognises an object with fetch, an Express or Connect app, a Koa app and a Fastify instance; a bare function is an environ app', () => {
    const expressLike = Object.assign(() => {}, { handle() {}, use() {} });
    expect(detectInterface({ fetch() {} })).toBe('fetch');
    expect(detectInterface(expressLike)).toBe('node');
    expect(detectInterface({ callback() {}, use() {} })).toBe('node');
    expect(detectInterface({ routing() {}, ready() {} })).toBe('node');
    expect(detectInterface((_a: unknown, _b: unknown) => {})).toBe('environ');
    expect(detectInterface({})).toBeUndefined();
  });

  it('B1 an Express app under tsgi cgi answers and the process exits 0 once the response is written', () => {
    const r = cgi(`${root}examples/express.ts`, '/hello');
    expect(r.head).toMatch(/^Status: 200 OK\r\nX-Powered-By: Express\r\nContent-Type: text\/html; charset=utf-8\r\nContent-Length: 14\r\n/);
    expect(r.body).toBe('Hello, world!\n');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('B1 Koa, Fastify (ready() awaited) and Hono under tsgi cgi', () => {
    for (const ex of ['koa', 'fastify', 'hono']) {
      const r = cgi(`${root}examples/${ex}.ts`, '/hello');
      expect([ex, r.status, r.head.slice(0, 16), r.body]).toEqual([ex, 0, 'Status: 200 OK\r\n', 'Hello, world!\n']);
    }
  });

  it('B1 --interface node and --interface fetch run bare functions; a named export with { fetch } is recognised', () => {
    expect(cgi(bare, '/x', ['--interface', 'node']).body).toBe('listener GET /x\n');
    expect(cgi(`${bare}:handler`, '/y', ['--interface', 'fetch']).body).toBe('fetch GET /y\n');
    expect(cgi(`${bare}:worker`, '/z').body).toBe('fetch GET /z\n');
  });

  it('B1 under auto, a bare listener is taken for an environ app and the error says which flag runs it', () => {
    const r = cgi(bare, '/x');
    expect(r.head).toMatch(/^Status: 500 /);
    expect(r.stderr).toMatch(/run it with --interface node/);
  });

  it('B1 --interface takes auto, environ, node or fetch', () => {
    const r = spawnSync(process.execPath, [bin, 'cgi', bare, '--interface', 'express'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--interface express: expected auto, environ, node, fetch/);
  });

  it('B1 a bridged app with --workers: each worker loads it with the --interface given', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [bin, 'http', `${bare}:handler`, '--interface', 'fetch', '--workers', '2', '--bind', `127.0.0.1:${port}`, '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stderr!.on('data', (d) => { out += d; });
    try {
      let body = '';
      await waitFor(async () => {
        try { body = await (await fetch(`http://127.0.0.1:${port}/w`)).text(); return true; } catch { return false; }
      }, 'the workers to answer', 20_000);
      expect(body).toBe('fetch GET /w\n');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    expect(out).toBe('');
  });
});
