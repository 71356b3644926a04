// CGI behind real web servers: Apache mod_cgi (apache/cgi-bin.conf) and
// nginx + fcgiwrap (nginx/cgi-fcgiwrap.conf), on loopback ports.
import { Buffer } from 'node:buffer';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dechunk, fetchRaw } from './http-client.js';
import {
  ROOT, cgiScript, checkReadableBy, runDir, serverUser, serversAvailable, startApache, startFcgiwrap, startNginx, type Running,
} from './servers.js';

function setupCgiBin(): string {
  const dir = runDir('tsgi-cgi-');
  const bin = join(dir, 'cgi-bin');
  mkdirSync(bin, { mode: 0o755 });
  mkdirSync(join(dir, 'www'), { mode: 0o755 });
  writeFileSync(join(dir, 'www', 'target.txt'), 'the redirect target\n');
  for (const ex of ['hello', 'app-class', 'env-dump', 'stream', 'echo']) cgiScript(bin, ex, `${ROOT}/examples/${ex}.ts`);
  for (const fx of ['echo', 'env', 'latin1Header', 'boom', 'redirect']) cgiScript(bin, `fx-${fx}`, `${ROOT}/test/fixtures/apps.js:${fx}`);
  return dir;
}

function cgiCases(server: string, port: () => number): void {
  const get = (path: string) => fetchRaw(port(), `GET ${path} HTTP/1.0\r\nHost: localhost`);

  it(`CGI6 the hello example runs as a cgi-bin script under ${server}`, async () => {
    const r = await get('/cgi-bin/hello');
    expect(r.status).toBe(200);
    expect(r.head).toMatch(/\r\nContent-Type: text\/plain; charset=utf-8\r\n/i);
    expect(r.body.toString()).toBe('Hello, world!\n');
  });

  it(`C6 every example runs as a cgi-bin script under ${server}`, async () => {
    expect((await get('/cgi-bin/app-class/x')).body.toString()).toBe('Hello from a class, GET /x\n');
    const dump = (await get('/cgi-bin/env-dump/p?q=1')).body.toString('latin1');
    expect(dump).toMatch(/^Hello world!\n\n/);
    expect(dump).toContain('wsgi.run_once = true');
    expect(dump).toContain('PATH_INFO = "/p"');
    expect(dump).toContain('QUERY_STRING = "q=1"');
    expect(dump).toContain('SCRIPT_NAME = "/cgi-bin/env-dump"');
    expect((await get('/cgi-bin/stream?n=3&delay=10')).body.toString()).toBe('chunk 1 of 3\nchunk 2 of 3\nchunk 3 of 3\n');
    const e = await fetchRaw(port(), 'POST /cgi-bin/echo HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/x-test', Buffer.from('posted'));
    expect(e.body.toString()).toBe('posted');
    expect(e.head).toMatch(/\r\nContent-Type: text\/x-test\r\n/i);
  });

  it(`CGI2 a POST of all 256 byte values comes back unchanged under ${server}`, async () => {
    const body = Buffer.alloc(256 * 64);
    for (let i = 0; i < body.length; i++) body[i] = (i + (i >> 8)) & 0xff;
    const r = await fetchRaw(port(), 'POST /cgi-bin/fx-echo HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/octet-stream', body);
    expect(r.status).toBe(200);
    expect(r.body.equals(body)).toBe(true);
  });

  it(`CGI2 a chunked upload reaches the app whole under ${server}`, async () => {
    const body = Buffer.alloc(200_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    let chunked = Buffer.alloc(0);
    for (let off = 0; off < body.length; off += 30_000) {
      const part = body.subarray(off, off + 30_000);
      chunked = Buffer.concat([chunked, Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]);
    }
    chunked = Buffer.concat([chunked, Buffer.from('0\r\n\r\n')]);
    const r = await fetchRaw(port(), 'POST /cgi-bin/fx-echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked', undefined, chunked);
    expect(r.status).toBe(200);
    expect(r.head).toMatch(/\r\nX-Body-Length: 200000\r\n/i);
    expect(dechunk(r)).toEqual(body);
  });

  it(`CGI1 PATH_INFO with a raw non-UTF-8 byte (/caf%E9) reaches the app as '/caf\\xe9' under ${server}`, async () => {
    const r = await get('/cgi-bin/fx-env/caf%E9');
    const env = JSON.parse(r.body.toString('latin1')) as Record<string, string>;
    expect(env.PATH_INFO).toBe('/caf\xe9');
    expect(env.SCRIPT_NAME).toBe('/cgi-bin/fx-env');
    expect(env.REQUEST_URI).toBe('/cgi-bin/fx-env/caf%E9');
    expect(env.REQUEST_METHOD).toBe('GET');
    expect('CONTENT_TYPE' in env).toBe(false); // C3
  });

  it(`C2 C8 a script asked for with nothing after it (/cgi-bin/env-dump): SCRIPT_NAME is the script, PATH_INFO '' (RFC 3875 §4.1.13), under ${server}`, async () => {
    const dump = (await get('/cgi-bin/env-dump')).body.toString('latin1');
    expect(dump).toMatch(/^Hello world!\n\n/);
    expect(dump).toContain('\nSCRIPT_NAME = "/cgi-bin/env-dump"\n');
    expect(dump).toContain('\nPATH_INFO = ""\n');
    const env = JSON.parse((await get('/cgi-bin/fx-env?q=1')).body.toString('latin1')) as Record<string, string>;
    expect([env.SCRIPT_NAME, env.PATH_INFO, env.REQUEST_URI, env.QUERY_STRING]).toEqual(['/cgi-bin/fx-env', '', '/cgi-bin/fx-env?q=1', 'q=1']);
    const below = JSON.parse((await get('/cgi-bin/fx-env/')).body.toString('latin1')) as Record<string, string>;
    expect([below.SCRIPT_NAME, below.PATH_INFO]).toEqual(['/cgi-bin/fx-env', '/']);
  });

  it(`C12 a latin-1 response header arrives at the client as the single byte 0xE9 under ${server}`, async () => {
    const r = await get('/cgi-bin/fx-latin1Header');
    expect(r.status).toBe(200);
    expect(r.raw.includes(Buffer.from('X-Caf: caf\xe9\r\n', 'latin1'))).toBe(true);
  });

  it(`C18 an app error gives a clean 500 under ${server}`, async () => {
    const r = await get('/cgi-bin/fx-boom');
    expect(r.status).toBe(500);
    expect(r.body.toString()).toBe('A server error occurred.  Please contact the administrator.');
    expect(r.raw.toString('latin1')).not.toContain('secret-token-123');
  });
}

const haveApache = serversAvailable('Apache mod_cgi suite', ['apache2']);
describe.skipIf(!haveApache)('CGI under a real Apache (mod_cgi)', () => {
  let apache: Running & { port: number };
  beforeAll(async () => {
    const dir = setupCgiBin();
    checkReadableBy(serverUser().user, `${ROOT}/dist/server/cgi.js`);
    apache = await startApache('cgi-bin.conf', {
      TSGI_RUN_DIR: dir, TSGI_CGI_DIR: join(dir, 'cgi-bin'), TSGI_DOC_ROOT: join(dir, 'www'),
    });
  });
  afterAll(async () => { await apache?.stop(); });

  cgiCases('Apache', () => apache.port);

  it('CGI4 a local redirect is passed through and Apache serves the target', async () => {
    const r = await fetchRaw(apache.port, 'GET /cgi-bin/fx-redirect HTTP/1.0\r\nHost: localhost');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('the redirect target\n');
  });
});

const haveNginx = serversAvailable('nginx + fcgiwrap CGI suite', ['nginx', 'fcgiwrap']);
describe.skipIf(!haveNginx)('CGI under a real nginx + fcgiwrap', () => {
  let nginx: Running & { port: number };
  let wrap: Running & { socket: string };
  beforeAll(async () => {
    const dir = setupCgiBin();
    wrap = await startFcgiwrap(dir);
    nginx = await startNginx('cgi-fcgiwrap.conf', { RUN_DIR: dir, SCRIPT_ROOT: dir, FCGIWRAP_SOCKET: wrap.socket });
  });
  afterAll(async () => { await nginx?.stop(); await wrap?.stop(); });

  cgiCases('nginx + fcgiwrap', () => nginx.port);
});
