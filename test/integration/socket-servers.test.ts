// FastCGI and uwsgi behind real web servers, on loopback ports: nginx
// (nginx/fastcgi.conf, nginx/uwsgi.conf), Apache mod_proxy_fcgi, mod_fcgid
// and mod_proxy_uwsgi (apache/*.conf), and cgi-fcgi (F14, U8).
import { Buffer } from 'node:buffer';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dechunk, fetchRaw } from './http-client.js';
import {
  ROOT, checkReadableBy, freePort, runDir, serverUser, serversAvailable, startApache, startNginx, waitFor, which, type Running,
} from './servers.js';

const PEER = `${ROOT}/test/fixtures/peer.js`;
const MB10 = 10 * 1024 * 1024;
const pattern = (n: number): Buffer => { const blk = Buffer.alloc(65536); for (let i = 0; i < blk.length; i++) blk[i] = (i * 7) & 0xff; return Buffer.concat(Array(n / 65536).fill(blk)); };
const upload = (() => { const u = Buffer.alloc(MB10); for (let i = 0; i < u.length; i++) u[i] = (i * 31 + (i >> 13)) & 255; return u; })();
const uploadSum = `${MB10} ${createHash('sha256').update(upload).digest('hex')}`;

interface Tsgi { socket: string; log: () => string; stop: () => Promise<void>; connections: () => number }

/** `tsgi fastcgi|uwsgi test/fixtures/peer.js --socket DIR/app.sock --chmod 666`, logging every new connection. */
async function startTsgi(kind: 'fastcgi' | 'uwsgi', dir: string, extra: string[] = [], app = PEER): Promise<Tsgi> {
  const socket = join(dir, `${kind}.sock`);
  const child = spawn(process.execPath, [`${ROOT}/bin/tsgi.cjs`, kind, app, '--socket', socket, '--chmod', '666', '--log-level', 'debug', ...extra],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  await waitFor(() => { if (child.exitCode !== null) throw new Error(`tsgi exited: ${out}`); return existsSync(socket); }, `tsgi ${kind} to listen`);
  return {
    socket,
    log: () => out,
    connections: () => out.split('new connection').length - 1,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }),
  };
}

const get = (port: number, path: string, headers = ''): ReturnType<typeof fetchRaw> =>
  fetchRaw(port, `GET ${path} HTTP/1.0\r\nHost: localhost${headers}`);

/** The client goes away in the middle of a streamed response: the app's close() must run (F7, C17). */
async function disconnect(port: number, path: string, dir: string): Promise<string> {
  const marker = join(dir, `marker-${Math.random().toString(36).slice(2)}`);
  await new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = 0;
    s.on('data', (d) => { got += d.length; if (got > 20_000) { s.destroy(); resolve(); } });
    s.on('error', reject);
    s.write(`GET ${path}?marker=${encodeURIComponent(marker)} HTTP/1.0\r\nHost: localhost\r\n\r\n`);
  });
  // The app writes the file after creating it: wait for its content, not only for it to exist.
  await waitFor(() => existsSync(marker) && readFileSync(marker, 'utf8') !== '', 'the app\'s close() after the client went away', 15_000);
  return marker;
}

/** The cases every web server in front of tsgi runs. `prefix` is where the app is mounted. */
function peerCases(name: string, port: () => number, prefix: string, markerDir: () => string): void {
  it(`F14 U8 the app answers through ${name}`, async () => {
    const r = await get(port(), `${prefix}/hello`);
    expect(r.status).toBe(200);
    expect(dechunk(r).toString()).toBe('Hello, world!\n');
  });

  it(`C4 a percent-encoded byte reaches the app as one latin-1 character, through ${name}`, async () => {
    const env = JSON.parse(dechunk(await get(port(), `${prefix}/env?x=%E9`)).toString('latin1'));
    expect(env.PATH_INFO.endsWith('/env')).toBe(true);
    expect(env.QUERY_STRING).toBe('x=%E9');
    expect(env.REQUEST_METHOD).toBe('GET');
  });

  it(`S4 a 10 MB upload arrives byte for byte through ${name}`, async () => {
    const r = await fetchRaw(port(), `POST ${prefix}/upload HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/octet-stream`, upload);
    expect(r.status).toBe(200);
    expect(dechunk(r).toString()).toBe(uploadSum);
  });

  it(`S4 a 10 MB download arrives byte for byte through ${name}`, async () => {
    const r = await get(port(), `${prefix}/download?mb=10`);
    expect(r.status).toBe(200);
    expect(dechunk(r).equals(pattern(MB10))).toBe(true);
  });

  it(`C18 an app error is a clean 500 through ${name}`, async () => {
    const r = await get(port(), `${prefix}/boom`);
    expect(r.status).toBe(500);
    expect(dechunk(r).toString()).toBe('A server error occurred.  Please contact the administrator.');
    expect(r.raw.toString()).not.toContain('secret-token-123');
  });

  it(`F7 C17 a client that goes away mid-response: the app's close() runs, through ${name}`, async () => {
    await disconnect(port(), `${prefix}/slow`, markerDir());
  });
}

const haveNginx = serversAvailable('nginx FastCGI suite', ['nginx']);
describe.skipIf(!haveNginx)('FastCGI under a real nginx (fastcgi_pass, stock fastcgi_params)', () => {
  let nginx: Running & { port: number };
  let plainPort: number;
  let tsgi: Tsgi;
  let dir: string;
  beforeAll(async () => {
    dir = runDir('tsgi-nginx-fcgi-');
    tsgi = await startTsgi('fastcgi', dir);
    plainPort = await freePort();
    nginx = await startNginx('fastcgi.conf', { RUN_DIR: dir, SOCKET: tsgi.socket, PLAIN_PORT: String(plainPort) });
  });
  afterAll(async () => { await nginx?.stop(); await tsgi?.stop(); });

  describe('keepalive upstream, fastcgi_keep_conn on', () => peerCases('nginx (keepalive)', () => nginx.port, '', () => dir));
  describe('plain fastcgi_pass', () => peerCases('nginx (plain)', () => plainPort, '', () => dir));

  it('R4 a chunked upload sent in 1-byte pieces through fastcgi_request_buffering off arrives whole', async () => {
    const body = Buffer.alloc(4096);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13) & 0xff;
    const r = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(nginx.port, '127.0.0.1');
      s.setNoDelay(true);
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('error', reject);
      s.on('close', () => resolve(Buffer.concat(got)));
      s.once('connect', async () => {
        s.write('POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
        // One byte per chunk, the event loop turned between them: nginx forwards many tiny STDIN records.
        for (let i = 0; i < body.length; i++) {
          s.write(Buffer.concat([Buffer.from('1\r\n'), body.subarray(i, i + 1), Buffer.from('\r\n')]));
          if (i % 8 === 0) await new Promise((res) => setImmediate(res));
        }
        s.write('0\r\n\r\n');
      });
    });
    const text = r.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(dechunk({ head: text.slice(0, text.indexOf('\r\n\r\n') + 2), body: r.subarray(text.indexOf('\r\n\r\n') + 4) }).toString())
      .toBe(`4096 ${createHash('sha256').update(body).digest('hex')}`);
  });

  it('F5 F14 keepalive: ten requests reuse one connection; without fastcgi_keep_conn each gets its own', async () => {
    await get(nginx.port, '/hello');
    let before = tsgi.connections();
    for (let i = 0; i < 10; i++) expect((await get(nginx.port, '/hello')).status).toBe(200);
    expect(tsgi.connections() - before).toBe(0);
    before = tsgi.connections();
    for (let i = 0; i < 10; i++) expect((await get(plainPort, '/hello')).status).toBe(200);
    expect(tsgi.connections() - before).toBe(10);
  });

  it('F13 nginx sends SCRIPT_NAME = the path and no PATH_INFO: the app sees PATH_INFO', async () => {
    const env = JSON.parse(dechunk(await get(nginx.port, '/env')).toString('latin1'));
    expect([env.SCRIPT_NAME, env.PATH_INFO, env.REQUEST_URI]).toEqual(['', '/env', '/env']);
  });

  it('F10 wsgi.errors reaches nginx\'s error log as FCGI_STDERR', async () => {
    await get(nginx.port, '/boom');
    await waitFor(() => /FastCGI sent in stderr: ".*secret-token-123/.test(nginx.log()), 'the stack in nginx\'s error log');
  });
});

const haveApache = serversAvailable('Apache FastCGI/uwsgi suites', ['apache2']);
describe.skipIf(!haveNginx)('examples/middleware-stack.ts with --validate under a real nginx (FastCGI)', () => {
  let nginx: Running & { port: number };
  let tsgi: Tsgi;
  let dir: string;
  beforeAll(async () => {
    dir = runDir('tsgi-nginx-stack-');
    tsgi = await startTsgi('fastcgi', dir, ['--validate'], `${ROOT}/examples/middleware-stack.ts`);
    nginx = await startNginx('fastcgi.conf', { RUN_DIR: dir, SOCKET: tsgi.socket, PLAIN_PORT: String(await freePort()) });
  });
  afterAll(async () => { await nginx?.stop(); await tsgi?.stop(); });

  it('the session cookie makes the round trip through nginx: the visit count goes up', async () => {
    const first = await get(nginx.port, '/');
    const cookie = /\r\nSet-Cookie: (tsgi\.sid=[^;]+);/i.exec(first.head)?.[1];
    expect(cookie).toBeDefined();
    expect(dechunk(first).toString()).toContain('visited this page 1 time.');
    const second = await get(nginx.port, '/', `\r\nCookie: ${cookie}`);
    expect(dechunk(second).toString()).toContain('visited this page 2 times.');
    const forged = await get(nginx.port, '/', `\r\nCookie: ${cookie!.slice(0, -2)}xx`);
    expect(dechunk(forged).toString()).toContain('visited this page 1 time.');
  });

  it('Basic auth on /admin through nginx: 401 with a challenge, then the page', async () => {
    const denied = await get(nginx.port, '/admin');
    expect(denied.status).toBe(401);
    expect(denied.head).toContain('\r\nWWW-Authenticate: Basic realm="tsgi", charset="UTF-8"\r\n');
    const ok = await get(nginx.port, '/admin', `\r\nAuthorization: Basic ${Buffer.from('admin:change-me').toString('base64')}`);
    expect([ok.status, dechunk(ok).toString()]).toEqual([200, 'Welcome to the admin page, admin.\n']);
  });

  it('static files through nginx: whole, a byte range, 304 on the ETag', async () => {
    const whole = await get(nginx.port, '/static/hello.txt');
    expect(whole.status).toBe(200);
    expect(whole.body.toString()).toBe('A static file, served by staticFiles() from examples/public/.\n');
    const etag = /\r\nETag: ("[^"]+")\r\n/i.exec(whole.head)![1]!;
    const part = await get(nginx.port, '/static/hello.txt', '\r\nRange: bytes=2-7');
    expect([part.status, part.body.toString()]).toEqual([206, 'static']);
    expect(part.head).toMatch(/\r\nContent-Range: bytes 2-7\/62\r\n/i);
    const same = await get(nginx.port, '/static/hello.txt', `\r\nIf-None-Match: ${etag}`);
    expect([same.status, same.body.length]).toEqual([304, 0]);
  });

  it('no traversal through nginx reaches a file outside examples/public', async () => {
    for (const target of ['/static/../middleware-stack.ts', '/static/%2e%2e/middleware-stack.ts', '/static/..%2fmiddleware-stack.ts',
      '/static/%252e%252e/middleware-stack.ts', '/static/..%5cmiddleware-stack.ts', '/static/.%2e/.%2e/package.json']) {
      const r = await get(nginx.port, target);
      expect(r.raw.toString('latin1'), target).not.toMatch(/session\(|"name": "tsgi"/);
      expect([400, 404], `${target}: ${r.head}`).toContain(r.status);
    }
    expect(tsgi.log()).not.toMatch(/\[(?:V|C)\d+\]|validate:/);
  });

  it('CORS through nginx: an allowed origin is reflected with credentials, a preflight is answered', async () => {
    const r = await get(nginx.port, '/', '\r\nOrigin: http://localhost:3000');
    expect(r.head).toContain('\r\nAccess-Control-Allow-Origin: http://localhost:3000\r\n');
    const pre = await fetchRaw(nginx.port, 'OPTIONS / HTTP/1.0\r\nHost: localhost\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: PUT');
    expect(pre.status).toBe(204);
    expect(pre.head).toContain('\r\nAccess-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE\r\n');
  });
});

describe.skipIf(!haveApache)('FastCGI under a real Apache mod_proxy_fcgi', () => {
  let apache: Running & { port: number };
  let tsgi: Tsgi;
  let dir: string;
  beforeAll(async () => {
    dir = runDir('tsgi-apache-fcgi-');
    tsgi = await startTsgi('fastcgi', dir);
    apache = await startApache('proxy-fcgi.conf', { TSGI_RUN_DIR: dir, TSGI_SOCKET: tsgi.socket });
  });
  afterAll(async () => { await apache?.stop(); await tsgi?.stop(); });

  peerCases('Apache mod_proxy_fcgi', () => apache.port, '', () => dir);

  it('F5 F14 enablereuse: Apache keeps connections to tsgi open', async () => {
    for (let i = 0; i < 3; i++) await get(apache.port, '/hello');
    const before = tsgi.connections();
    for (let i = 0; i < 20; i++) expect((await get(apache.port, '/hello')).status).toBe(200);
    expect(tsgi.connections() - before).toBeLessThan(10);
  });
});

const haveFcgid = haveApache && existsSync('/usr/lib/apache2/modules/mod_fcgid.so');
if (haveApache && !haveFcgid) {
  if (process.env.TSGI_REQUIRE_SERVERS === '1') throw new Error('mod_fcgid is not installed (apt-get install libapache2-mod-fcgid) and TSGI_REQUIRE_SERVERS=1');
  process.stderr.write('\n*** SKIPPED: Apache mod_fcgid suite: libapache2-mod-fcgid is not installed ***\n\n');
}
describe.skipIf(!haveFcgid)('FastCGI under a real Apache mod_fcgid (the app spawned by Apache, listening socket on fd 0)', () => {
  let apache: Running & { port: number };
  let dir: string;
  beforeAll(async () => {
    dir = runDir('tsgi-fcgid-');
    const fcgi = join(dir, 'fcgi');
    mkdirSync(fcgi, { mode: 0o755 });
    mkdirSync(join(dir, 'fcgid'), { mode: 0o777 });
    chmodSync(join(dir, 'fcgid'), 0o777);
    const markers = join(dir, 'markers');
    mkdirSync(markers);
    chmodSync(markers, 0o777);
    writeFileSync(join(fcgi, 'app.fcgi'), `#!/bin/sh\nexec ${process.execPath} ${ROOT}/bin/tsgi.cjs fastcgi ${PEER}\n`, { mode: 0o755 });
    checkReadableBy(serverUser().user, PEER);
    apache = await startApache('fcgid.conf', { TSGI_RUN_DIR: dir, TSGI_FCGI_DIR: fcgi });
  });
  afterAll(async () => { await apache?.stop(); });

  peerCases('Apache mod_fcgid', () => apache.port, '/app.fcgi', () => join(dir, 'markers'));

  it('F13 mod_fcgid sends SCRIPT_NAME = the script and PATH_INFO = the rest', async () => {
    const env = JSON.parse(dechunk(await get(apache.port, '/app.fcgi/env')).toString('latin1'));
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['/app.fcgi', '/env']);
    expect(env['wsgi.multiprocess'] ?? 'n/a').toBe('n/a'); // strings only are dumped
  });
});

const haveCgiFcgi = serversAvailable('cgi-fcgi client suite', ['cgi-fcgi']);
describe.skipIf(!haveCgiFcgi)('FastCGI with cgi-fcgi (libfcgi) as the client', () => {
  let tsgi: Tsgi;
  beforeAll(async () => { tsgi = await startTsgi('fastcgi', runDir('tsgi-cgifcgi-')); });
  afterAll(async () => { await tsgi?.stop(); });
  const run = (env: Record<string, string>, input?: Buffer): { head: string; body: Buffer } => {
    const r = spawnSync(which('cgi-fcgi')!, ['-bind', '-connect', tsgi.socket], {
      env: { REQUEST_METHOD: 'GET', SERVER_PROTOCOL: 'HTTP/1.1', SERVER_NAME: 'x', SERVER_PORT: '80', QUERY_STRING: '', ...env },
      input, maxBuffer: 64 * 1024 * 1024,
    });
    const split = r.stdout.indexOf('\r\n\r\n');
    return { head: r.stdout.subarray(0, split).toString('latin1'), body: r.stdout.subarray(split + 4) };
  };

  it('F14 cgi-fcgi gets the app\'s response', () => {
    const r = run({ SCRIPT_NAME: '/hello' });
    expect(r.head).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14');
    expect(r.body.toString()).toBe('Hello, world!\n');
  });

  it('S4 cgi-fcgi: a 10 MB upload and download, byte for byte', () => {
    expect(run({ SCRIPT_NAME: '/upload', REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(MB10) }, upload).body.toString()).toBe(uploadSum);
    expect(run({ SCRIPT_NAME: '/download', QUERY_STRING: 'mb=10' }).body.equals(pattern(MB10))).toBe(true);
  });

  it('C18 cgi-fcgi: an app error is a 500', () => {
    expect(run({ SCRIPT_NAME: '/boom' }).head).toMatch(/^Status: 500 Internal Server Error\r\n/);
  });
});

describe.skipIf(!haveNginx)('uwsgi under a real nginx (uwsgi_pass, stock uwsgi_params)', () => {
  let nginx: Running & { port: number };
  let tsgi: Tsgi;
  let dir: string;
  beforeAll(async () => {
    dir = runDir('tsgi-nginx-uwsgi-');
    tsgi = await startTsgi('uwsgi', dir);
    nginx = await startNginx('uwsgi.conf', { RUN_DIR: dir, SOCKET: tsgi.socket });
  });
  afterAll(async () => { await nginx?.stop(); await tsgi?.stop(); });

  peerCases('nginx uwsgi_pass', () => nginx.port, '', () => dir);
  uwsgiCases('nginx', () => nginx.port);

  it('U3 a chunked upload through nginx arrives with its real length', async () => {
    const chunks = [Buffer.alloc(70_000, 1), Buffer.alloc(5, 2)];
    const raw = Buffer.concat([...chunks.flatMap((c) => [Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
    const r = await fetchRaw(nginx.port, 'POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked', undefined, raw);
    expect(dechunk(r).toString()).toBe(`70005 ${createHash('sha256').update(Buffer.concat(chunks)).digest('hex')}`);
  });
});

describe.skipIf(!haveApache)('uwsgi under a real Apache mod_proxy_uwsgi', () => {
  let apache: Running & { port: number };
  let tsgi: Tsgi;
  let dir: string;
  beforeAll(async () => {
    dir = runDir('tsgi-apache-uwsgi-');
    tsgi = await startTsgi('uwsgi', dir);
    apache = await startApache('proxy-uwsgi.conf', { TSGI_RUN_DIR: dir, TSGI_SOCKET: tsgi.socket });
  });
  afterAll(async () => { await apache?.stop(); await tsgi?.stop(); });

  peerCases('Apache mod_proxy_uwsgi', () => apache.port, '', () => dir);
  uwsgiCases('Apache', () => apache.port, ', ');
});

/** `cookieJoin`: how the web server itself passes two Cookie headers (Apache merges them with ", " before tsgi sees them). */
function uwsgiCases(name: string, port: () => number, cookieJoin = '; '): void {
  it(`U5 repeated headers arrive joined through ${name}`, async () => {
    const env = JSON.parse(dechunk(await get(port(), '/env', '\r\nX-Dup: a\r\nX-Dup: b\r\nCookie: a=1\r\nCookie: b=2')).toString('latin1'));
    expect(env.HTTP_X_DUP).toBe('a, b');
    expect(env.HTTP_COOKIE).toBe(`a=1${cookieJoin}b=2`);
  });

  it(`U1 a request with 30 KB of cookies (which stock uWSGI rejects) is served through ${name}`, async () => {
    const cookies = Array.from({ length: 6 }, (_, i) => `c${i}=${'x'.repeat(5000)}`).join('; ');
    const r = await get(port(), '/env', `\r\nCookie: ${cookies}`);
    expect(r.status).toBe(200);
    expect(JSON.parse(dechunk(r).toString('latin1')).HTTP_COOKIE).toBe(cookies);
  });
}
