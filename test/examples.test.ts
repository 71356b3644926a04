// The examples: each tutorial app through validate() and the engine with
// exact assertions, and every example under every adapter (CGI, dev HTTP,
// FastCGI, uwsgi) as real processes started with --validate.
import { createRequire } from 'node:module';
import { Buffer } from 'node:buffer';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/contract/types.js';
import { loadApp } from '../src/cli/load-app.js';
import { validate } from '../src/middleware/validate.js';
import { encodePacket } from '../src/protocol/uwsgi.js';
import { FcgiClient, GET as FCGI_GET, parseResponse } from './fcgi-client.js';
import { b, run } from './helpers.js';
import { fetchRaw } from './integration/http-client.js';
import { freePort, ROOT, waitFor } from './integration/servers.js';

const bin = join(ROOT, 'bin/tsgi.cjs');
const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts')).sort();
const loaded = new Map<string, App>();
async function example(name: string): Promise<App> {
  if (!loaded.has(name)) loaded.set(name, validate(await loadApp(join(ROOT, 'examples', name))));
  return loaded.get(name)!;
}
const body = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);
const statusOf = (text: string): string => text.slice(8, text.indexOf('\r\n'));

const accessLines: string[] = [];

describe('the tutorial apps, through validate()', () => {
  // logging() (middleware-stack.ts) writes to the access log of the tsgi instance the examples
  // import: captured here, so that the lines are checked and not printed.
  let bundle: { setAccessLog: (sink: ((line: string) => void) | null) => void };
  beforeAll(async () => {
    // The bundle itself (lib/load.cjs): setAccessLog is internal, not part of the public 'tsgi' entry.
    bundle = createRequire(import.meta.url)('../lib/load.cjs') as typeof bundle;
    bundle.setAccessLog((line) => accessLines.push(line));
  });
  afterAll(() => bundle.setAccessLog(null));

  it('router: a route table, 404 for unknown paths, 405 with Allow for other methods', async () => {
    const app = await example('router.ts');
    expect((await run(app)).sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 38\r\n\r\nRoutes: GET /, GET /hello, POST /echo\n');
    expect(body((await run(app, { PATH_INFO: '/hello', QUERY_STRING: 'name=Zo%C3%AB' })).sink.text)).toBe('Hello, Zo\xc3\xab!\n');
    expect((await run(app, { PATH_INFO: '/nope' })).sink.text).toBe('Status: 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\nNo route for /nope\n');
    expect((await run(app, { PATH_INFO: '/hello', REQUEST_METHOD: 'DELETE' })).sink.text).toMatch(/^Status: 405 Method Not Allowed\r\nContent-Type: text\/plain; charset=utf-8\r\nAllow: GET\r\n/);
    expect(body((await run(app, { PATH_INFO: '/echo', REQUEST_METHOD: 'POST', CONTENT_TYPE: 'text/plain' }, { body: b('ping') })).sink.text)).toBe('ping');
  });

  it('mini-framework: named groups, JSON and form bodies, 404 and 500 handlers', async () => {
    const app = await example('mini-framework.ts');
    expect(body((await run(app, { PATH_INFO: '/hello/Zo\xc3\xab' })).sink.text)).toBe('Hello, Zo\xc3\xab!\n');
    expect((await run(app, { PATH_INFO: '/items/42' })).sink.text).toBe('Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"id":42}');
    const json = await run(app, { PATH_INFO: '/notes', REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/json' }, { body: Buffer.from('{"text":"caf\u00e9"}') });
    expect(json.sink.text).toBe('Status: 201 Created\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n{"id":1,"text":"caf\xc3\xa9"}');
    const form = await run(app, { PATH_INFO: '/notes', REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded' }, { body: b('text=second+note') });
    expect(body(form.sink.text)).toBe('{"id":2,"text":"second note"}');
    expect(body((await run(app, { PATH_INFO: '/notes' })).sink.text)).toBe('["caf\xc3\xa9","second note"]');
    const bad = await run(app, { PATH_INFO: '/notes', REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/json' }, { body: b('{nope') });
    expect(statusOf(bad.sink.text)).toBe('400 Bad Request');
    expect((await run(app, { PATH_INFO: '/nope' })).sink.text).toBe('Status: 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 36\r\n\r\n{"error":"not found","path":"/nope"}');
    const boom = await run(app, { PATH_INFO: '/boom' });
    expect(boom.sink.text).toBe('Status: 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{"error":"internal error"}');
    expect(boom.errors).toContain('Error: a handler failed');
    const big = await run(app, { PATH_INFO: '/notes', REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/json' }, { body: Buffer.alloc(70_000, 0x20) });
    expect(statusOf(big.sink.text)).toBe('413 Payload Too Large');
  });

  it('middleware-stack: counts visits in a session, guards /admin, serves /static, answers CORS, logs', async () => {
    const app = await example('middleware-stack.ts');
    accessLines.length = 0;
    const first = await run(app, { REMOTE_ADDR: '127.0.0.1' });
    // Each layer adds its headers on the way out: the innermost first.
    expect(first.sink.text).toMatch(/^Status: 200 OK\r\nContent-Type: text\/html; charset=utf-8\r\nSet-Cookie: tsgi\.sid=[^;]+; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax\r\nVary: Origin\r\nServer-Timing: app;dur=[\d.]+\r\nX-Response-Time: [\d.]+ms\r\nContent-Length: \d+\r\n\r\n/);
    expect(body(first.sink.text)).toContain('visited this page 1 time.');
    expect(accessLines[0]).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 \d+ "-" "-" \d+$/);
    expect(first.errors).toBe('');
    const cookie = /Set-Cookie: ([^;]+);/.exec(first.sink.text)![1]!;
    expect(body((await run(app, { HTTP_COOKIE: cookie })).sink.text)).toContain('visited this page 2 times.');
    expect(statusOf((await run(app, { PATH_INFO: '/admin' })).sink.text)).toBe('401 Unauthorized');
    const admin = await run(app, { PATH_INFO: '/admin', HTTP_AUTHORIZATION: `Basic ${Buffer.from('admin:change-me').toString('base64')}` });
    expect(body(admin.sink.text)).toBe('Welcome to the admin page, admin.\n');
    const file = await run(app, { PATH_INFO: '/static/hello.txt' });
    expect(file.sink.text).toMatch(/^Status: 200 OK\r\nContent-Type: text\/plain; charset=utf-8\r\n[^]*Cache-Control: public, max-age=3600\r\n/);
    expect(statusOf((await run(app, { PATH_INFO: '/static/../middleware-stack.ts' })).sink.text)).toBe('400 Bad Request');
    expect((await run(app, { HTTP_ORIGIN: 'http://localhost:3000' })).sink.text).toContain('\r\nAccess-Control-Allow-Origin: http://localhost:3000\r\nAccess-Control-Allow-Credentials: true\r\n');
  });

  it('monitored: the monitor endpoint counts what went before, as JSON and Prometheus text', async () => {
    const app = await example('monitored.ts');
    await run(app);
    await run(app);
    expect(statusOf((await run(app, { PATH_INFO: '/fail' })).sink.text)).toBe('500 Internal Server Error');
    const stats = JSON.parse(body((await run(app, { PATH_INFO: '/_monitor' })).sink.text));
    expect(stats).toMatchObject({ requests: 3, errors: 1, status: { '2xx': 2, '5xx': 1 } });
    expect(body((await run(app, { PATH_INFO: '/_monitor/metrics' })).sink.text)).toContain('\ntsgi_request_errors_total 1\n');
  });

  it('async-app: awaits file I/O, then streams', async () => {
    const r = await run(await example('async-app.ts'));
    expect(r.sink.events[0]).toMatch(/^head 200 OK/);
    expect(body(r.sink.text)).toMatch(/^This file has \d+ lines and \d+ bytes\.\ntick 1\ntick 2\ntick 3\n$/);
  });

  it.each(EXAMPLES)('%s answers GET / without a contract violation', async (name) => {
    const r = await run(await example(name));
    expect(statusOf(r.sink.text)).toBe('200 OK');
    expect(r.errors).not.toMatch(/\[(?:V|C)\d+\]/);
  });
});

// ---------------------------------------------------------------------------
// Every example under every adapter, as the tsgi command runs it.

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function start(args: string[]): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [bin, ...args, '--validate'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString('latin1'); });
  return { child, stderr: () => err };
}

async function viaCgi(file: string): Promise<{ status: string; body: Buffer; stderr: string }> {
  const r = spawnSync(process.execPath, [bin, 'cgi', file, '--validate'], {
    env: { PATH: process.env.PATH ?? '', REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', SCRIPT_NAME: '', PATH_INFO: '/', QUERY_STRING: 'delay=0' },
  });
  const out = r.stdout;
  const end = out.indexOf('\r\n\r\n');
  return { status: out.subarray(8, out.indexOf('\r\n')).toString('latin1'), body: out.subarray(end + 4), stderr: r.stderr.toString('latin1') };
}

async function viaHttp(file: string): Promise<{ status: string; body: Buffer; stderr: string }> {
  const port = await freePort();
  const s = start(['http', file, '--bind', `127.0.0.1:${port}`]);
  await waitFor(() => s.stderr().includes('serving'), 'tsgi http');
  const r = await fetchRaw(port, 'GET /?delay=0 HTTP/1.0\r\nHost: localhost');
  const text = r.head;
  return { status: text.slice(9, text.indexOf('\r\n')), body: r.body, stderr: s.stderr() };
}

async function viaFastCgi(file: string, dir: string): Promise<{ status: string; body: Buffer; stderr: string }> {
  const sock = join(dir, 'fcgi.sock');
  const s = start(['fastcgi', file, '--socket', sock]);
  await waitFor(() => s.stderr().includes('serving'), 'tsgi fastcgi');
  const client = await FcgiClient.connect(sock);
  const reply = await client.request(1, { ...FCGI_GET, SCRIPT_NAME: '', PATH_INFO: '/', QUERY_STRING: 'delay=0' });
  client.close();
  const res = parseResponse(reply.stdout);
  return { status: res.status, body: res.body, stderr: s.stderr() };
}

async function viaUwsgi(file: string, dir: string): Promise<{ status: string; body: Buffer; stderr: string }> {
  const sock = join(dir, 'uwsgi.sock');
  const s = start(['uwsgi', file, '--socket', sock]);
  await waitFor(() => s.stderr().includes('serving'), 'tsgi uwsgi');
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const c = connect(sock);
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    c.on('error', reject);
    c.on('close', () => resolve(Buffer.concat(got)));
    c.write(encodePacket([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/'], ['QUERY_STRING', 'delay=0'], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['SERVER_NAME', 'localhost'], ['SERVER_PORT', '80']]));
  });
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1');
  let bodyBytes = raw.subarray(end + 4);
  if (/\r\nTransfer-Encoding: chunked/i.test(head)) throw new Error('uwsgi responses are never chunked');
  bodyBytes = Buffer.from(bodyBytes);
  return { status: head.slice(9, head.indexOf('\r\n')), body: bodyBytes, stderr: s.stderr() };
}

describe('every example under every adapter, with --validate', () => {
  it.each(EXAMPLES)('%s: CGI, HTTP, FastCGI and uwsgi give the same answer to GET /', async (name) => {
    const file = join(ROOT, 'examples', name);
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-examples-'));
    dirs.push(dir);
    const results = await Promise.all([viaCgi(file), viaHttp(file), viaFastCgi(file, dir), viaUwsgi(file, dir)]);
    for (const [i, r] of results.entries()) {
      const adapter = ['cgi', 'http', 'fastcgi', 'uwsgi'][i];
      expect(r.status, `${name} under ${adapter}: ${r.stderr}`).toBe('200 OK');
      expect(r.stderr, `${name} under ${adapter}`).not.toMatch(/\[(?:V|C)\d+\]|validate:/);
    }
    // env-dump shows each adapter's own environ; the others answer alike everywhere.
    if (name !== 'env-dump.ts') {
      const bodies = results.map((r) => r.body.toString('latin1').replace(/[\d.]+ms|dur=[\d.]+/g, 'T'));
      expect(new Set(bodies).size, `${name}: ${JSON.stringify(bodies)}`).toBe(1);
    }
  });
});
