// staticFiles(): exact responses, conditional and range requests, and every
// form of traversal, through the engine and over a real socket.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import type { App, Environ, FileLike } from '../../src/contract/types.js';
import { fileWrapper } from '../../src/gateway/file-wrapper.js';
import { staticFiles } from '../../src/middleware/static.js';
import { validate } from '../../src/middleware/validate.js';
import { serveHttp, type HttpServer } from '../../src/server/http.js';
import { fetchRaw } from '../integration/http-client.js';
import { b, run } from '../helpers.js';

const base = mkdtempSync(join(tmpdir(), 'tsgi-static-'));
const root = join(base, 'public');
mkdirSync(join(root, 'sub'), { recursive: true });
mkdirSync(join(root, 'empty-dir'));
writeFileSync(join(root, 'hello.txt'), 'hello, static world\n');
writeFileSync(join(root, 'caf\u00e9.txt'), 'accent\n');
writeFileSync(join(root, 'sub', 'index.html'), '<p>index</p>\n');
writeFileSync(join(root, '.env'), 'SECRET=dotfile\n');
writeFileSync(join(base, 'outside.txt'), 'SECRET=outside\n');
symlinkSync(join(base, 'outside.txt'), join(root, 'link-out.txt'));
symlinkSync(base, join(root, 'dir-out'));
symlinkSync(join(root, 'hello.txt'), join(root, 'link-in.txt'));
const big = randomBytes(3 * 65536 + 123);
writeFileSync(join(root, 'big.bin'), big);

const st = statSync(join(root, 'hello.txt'));
const ETAG = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
const LM = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
const VALIDATORS = `ETag: ${ETAG}\r\nLast-Modified: ${LM}\r\nCache-Control: public, max-age=0\r\n`;

const fallback: App = (env, s) => { s('404 Not Found', [['Content-Type', 'text/plain']]); return [b(`app: ${env.PATH_INFO}`)]; };
const app = validate(staticFiles({ root, prefix: '/static' })(fallback));
const get = (path: string, vars: Record<string, string> = {}) => run(app, { PATH_INFO: path, REQUEST_URI: path, ...vars });

describe('staticFiles()', () => {
  it('serves a file with its type, length, validators and Accept-Ranges', async () => {
    const r = await get('/static/hello.txt');
    expect(r.sink.text).toBe(`Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nAccept-Ranges: bytes\r\n${VALIDATORS}\r\nhello, static world\n`);
  });

  it('streams through wsgi.file_wrapper, byte for byte', async () => {
    const calls: unknown[] = [];
    const spy = validate(staticFiles({ root, prefix: '/static', blockSize: 65536 })(fallback));
    const r = await run((env: Environ, s) => {
      env['wsgi.file_wrapper'] = (f: FileLike, blk?: number) => { calls.push(blk); return fileWrapper(f, blk); };
      return spy(env, s);
    }, { PATH_INFO: '/static/big.bin' });
    expect(calls).toEqual([65536]);
    expect(r.sink.events.slice(0, 2)).toEqual(['head 200 OK 65536', 'write 65536']);
    const bytes = r.sink.bytes;
    expect(bytes.subarray(bytes.indexOf('\r\n\r\n') + 4).equals(big)).toBe(true);
    expect(r.sink.text).toContain('Content-Type: application/octet-stream\r\n');
  });

  it('decodes the path as UTF-8 bytes; a directory redirects to its slash, then serves its index', async () => {
    expect((await get('/static/caf\xc3\xa9.txt')).sink.text).toMatch(/\r\n\r\naccent\n$/);
    expect((await get('/static/sub', { SCRIPT_NAME: '/m', QUERY_STRING: 'a=1' })).sink.text)
      .toBe('Status: 301 Moved Permanently\r\nContent-Type: text/plain; charset=utf-8\r\nLocation: /m/static/sub/?a=1\r\nContent-Length: 18\r\n\r\nMoved Permanently\n');
    expect((await get('/static/sub/')).sink.text).toMatch(/^Status: 200 OK\r\nContent-Type: text\/html; charset=utf-8\r\n[^]*\r\n\r\n<p>index<\/p>\n$/);
    expect((await get('/static/empty-dir/')).sink.text).toContain('app: /static/empty-dir/');
  });

  it('a directory redirect cannot become a protocol-relative redirect to another host', async () => {
    mkdirSync(join(root, 'evil.example'), { recursive: true });
    const r = await run(validate(staticFiles({ root })(fallback)), { PATH_INFO: '//evil.example' });
    expect(r.sink.text).toContain('\r\nLocation: /evil.example/\r\n');
  });

  it('answers 304 to a matching If-None-Match (any in a list, weak too) or a later If-Modified-Since, without Content-Type', async () => {
    const NOT_MODIFIED = `Status: 304 Not Modified\r\n${VALIDATORS}Content-Length: 0\r\n\r\n`;
    expect((await get('/static/hello.txt', { HTTP_IF_NONE_MATCH: ETAG })).sink.text).toBe(NOT_MODIFIED);
    expect((await get('/static/hello.txt', { HTTP_IF_NONE_MATCH: `"x", W/${ETAG}` })).sink.text).toBe(NOT_MODIFIED);
    expect((await get('/static/hello.txt', { HTTP_IF_MODIFIED_SINCE: LM })).sink.text).toBe(NOT_MODIFIED);
    expect((await get('/static/hello.txt', { HTTP_IF_MODIFIED_SINCE: 'Thu, 01 Jan 1970 00:00:00 GMT' })).sink.text).toMatch(/^Status: 200 OK/);
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
    expect((await get('/static/hello.txt', { HTTP_IF_NONE_MATCH: '"other"', HTTP_IF_MODIFIED_SINCE: LM })).sink.text).toMatch(/^Status: 200 OK/);
  });

  it('serves single byte ranges as 206, and 416 past the end', async () => {
    const range = (r: string, extra: Record<string, string> = {}) => get('/static/hello.txt', { HTTP_RANGE: r, ...extra });
    expect((await range('bytes=0-4')).sink.text).toBe(`Status: 206 Partial Content\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nContent-Range: bytes 0-4/20\r\nAccept-Ranges: bytes\r\n${VALIDATORS}\r\nhello`);
    expect((await range('bytes=-6')).sink.text).toMatch(/Content-Range: bytes 14-19\/20\r\n[^]*\r\n\r\nworld\n$/);
    expect((await range('bytes=7-')).sink.text).toMatch(/Content-Range: bytes 7-19\/20\r\n[^]*\r\n\r\nstatic world\n$/);
    expect((await range('bytes=7-1000')).sink.text).toMatch(/Content-Range: bytes 7-19\/20\r\n/);
    expect((await range('bytes=20-')).sink.text).toBe(`Status: 416 Range Not Satisfiable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes */20\r\n${VALIDATORS}Content-Length: 22\r\n\r\nRange Not Satisfiable\n`);
    for (const whole of ['bytes=0-1,3-4', 'items=0-4', 'bytes=5-2', 'bytes=abc']) expect((await range(whole)).sink.text).toMatch(/^Status: 200 OK/);
    expect((await range('bytes=0-4', { HTTP_IF_RANGE: '"stale"' })).sink.text).toMatch(/^Status: 200 OK/);
    expect((await range('bytes=0-4', { HTTP_IF_RANGE: ETAG })).sink.text).toMatch(/^Status: 206 /);
    const bigRange = await get('/static/big.bin', { HTTP_RANGE: 'bytes=65530-131080' });
    const body = bigRange.sink.bytes.subarray(bigRange.sink.bytes.indexOf('\r\n\r\n') + 4);
    expect(body.equals(big.subarray(65530, 131081))).toBe(true);
  });

  it('refuses traversal in every form with 400, never reading outside the root', async () => {
    const attempts: Array<[pathInfo: string, requestUri: string]> = [
      ['/static/../outside.txt', '/static/../outside.txt'],
      ['/static/sub/../../outside.txt', '/static/sub/../../outside.txt'],
      ['/static/../outside.txt', '/static/%2e%2e/outside.txt'],          // %2e%2e, decoded once by the gateway
      ['/static/../outside.txt', '/static/..%2foutside.txt'],             // an encoded slash
      ['/static/%2e%2e/outside.txt', '/static/%252e%252e/outside.txt'],   // encoded twice
      ['/static/..%2foutside.txt', '/static/..%252foutside.txt'],
      ['/static/hello.txt\0.png', '/static/hello.txt%00.png'],            // NUL
      ['/static/..\\outside.txt', '/static/..%5coutside.txt'],            // backslash
      ['/static/./hello.txt', '/static/./hello.txt'],
      ['/static/..', '/static/..'],
    ];
    for (const [pathInfo, uri] of attempts) {
      const r = await run(app, { PATH_INFO: pathInfo, REQUEST_URI: uri });
      expect(r.sink.text, uri).toBe('Status: 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n\r\nBad Request\n');
    }
  });

  it('does not follow symlinks out of the root, nor serve dotfiles; a symlink inside the root is served', async () => {
    for (const p of ['/static/link-out.txt', '/static/dir-out/outside.txt', '/static/.env']) {
      expect((await get(p)).sink.text).toBe(`Status: 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: ${5 + p.length}\r\n\r\napp: ${p}`);
    }
    expect((await get('/static/link-in.txt')).sink.text).toMatch(/\r\n\r\nhello, static world\n$/);
    const strict = validate(staticFiles({ root, prefix: '/static', fallthrough: false })(fallback));
    expect((await run(strict, { PATH_INFO: '/static/link-out.txt' })).sink.text).toBe('Status: 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\nNot Found\n');
    expect((await run(strict, { PATH_INFO: '/static/x', REQUEST_METHOD: 'POST' })).sink.text).toMatch(/^Status: 405 Method Not Allowed\r\nContent-Type: text\/plain; charset=utf-8\r\nAllow: GET, HEAD\r\n/);
  });

  it('H3 a symlink inside the root to a dotfile or into a dotted directory is not served; one leaving the root neither', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-static-h3-'));
    const r3 = join(dir, 'public');
    mkdirSync(join(r3, '.git'), { recursive: true });
    mkdirSync(join(r3, 'assets'));
    writeFileSync(join(r3, '.env'), 'SECRET=env\n');
    writeFileSync(join(r3, '.git', 'config'), 'SECRET=git\n');
    writeFileSync(join(r3, '.git', 'index.html'), 'SECRET=git-index\n');
    writeFileSync(join(r3, 'assets', 'app.js'), 'ok\n');
    symlinkSync('.env', join(r3, 'env.txt'));                        // relative, to a dotfile beside it
    symlinkSync(join(r3, '.env'), join(r3, 'assets', 'env-abs.txt'));  // absolute
    symlinkSync('.git', join(r3, 'git'));                            // a directory link into .git/
    symlinkSync('../.git/config', join(r3, 'assets', 'config.txt'));
    symlinkSync('assets', join(r3, 'assets-link'));                   // an ordinary link inside: served
    const h3 = validate(staticFiles({ root: r3, fallthrough: false })(fallback));
    for (const p of ['/env.txt', '/assets/env-abs.txt', '/git/config', '/git/', '/git/index.html', '/assets/config.txt', '/.env', '/.git/config']) {
      const r = await run(h3, { PATH_INFO: p, REQUEST_URI: p });
      expect(r.sink.text, p).toBe('Status: 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\nNot Found\n');
    }
    expect((await run(h3, { PATH_INFO: '/assets-link/app.js' })).sink.text).toMatch(/^Status: 200 OK\r\n[^]*\r\n\r\nok\n$/);
    // Dotfiles allowed: the same links serve, since they stay inside the root.
    const open = validate(staticFiles({ root: r3, dotfiles: true, fallthrough: false })(fallback));
    expect((await run(open, { PATH_INFO: '/env.txt' })).sink.text).toMatch(/\r\n\r\nSECRET=env\n$/);
    expect((await run(open, { PATH_INFO: '/git/config' })).sink.text).toMatch(/\r\n\r\nSECRET=git\n$/);
    // …but never out of the root, dotfiles or not.
    symlinkSync(join(base, 'outside.txt'), join(r3, 'out.txt'));
    expect((await run(open, { PATH_INFO: '/out.txt' })).sink.text).toMatch(/^Status: 404 /);
  });

  it('H3 a directory swapped for a symlink to .git while requests run never serves what the link leads to (checked on the file opened)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-static-race-'));
    const r3 = join(dir, 'public');
    mkdirSync(join(r3, '.git'), { recursive: true });
    mkdirSync(join(r3, 'plain'));
    writeFileSync(join(r3, '.git', 'config'), 'SECRET=git\n');
    writeFileSync(join(r3, 'plain', 'config'), 'plain\n');
    symlinkSync('.git', join(r3, 'link'));
    const h3 = staticFiles({ root: r3, fallthrough: false })(fallback);
    // Another process swaps `d` between the real directory and the link, as fast as rename(2) goes.
    const swapper = spawn(process.execPath, ['-e', `
      const { renameSync } = require('node:fs'); const j = (n) => ${JSON.stringify(r3)} + '/' + n;
      for (;;) { renameSync(j('plain'), j('d')); renameSync(j('d'), j('plain')); renameSync(j('link'), j('d')); renameSync(j('d'), j('link')); }
    `], { stdio: 'ignore' });
    try {
      const served: string[] = [];
      for (let i = 0; i < 4000; i++) {
        const r = await run(h3, { PATH_INFO: '/d/config' });
        const body = r.sink.text.slice(r.sink.text.indexOf('\r\n\r\n') + 4);
        if (r.sink.text.startsWith('Status: 200')) served.push(body);
      }
      expect(served.filter((t) => t !== 'plain\n')).toEqual([]);
      expect(served.length).toBeGreaterThan(0); // the race was run: the plain file was served at times
    } finally {
      swapper.kill('SIGKILL');
    }
  });

  it('does not hang on a FIFO in the root, nor serve it', async () => {
    const made = spawnSync('mkfifo', [join(root, 'pipe.txt')]);
    expect(made.status).toBe(0);
    const r = await get('/static/pipe.txt');
    expect(r.sink.text).toContain('app: /static/pipe.txt');
  });

  it('H1 the prefix matches in any letter case (as Express routes), and the file rules hold under every spelling of it', async () => {
    expect((await get('/STATIC/hello.txt')).sink.text).toMatch(/^Status: 200 OK\r\n[^]*\r\n\r\nhello, static world\n$/);
    expect((await get('/Static/.env')).sink.text).toContain('app: /Static/.env');
    expect((await get('/sTaTiC/link-out.txt')).sink.text).toContain('app: /sTaTiC/link-out.txt');
    expect((await get('/STATIC/../outside.txt')).sink.text).toMatch(/^Status: 400 /);
  });

  it('leaves other prefixes, other methods and missing files to the app', async () => {
    expect((await get('/staticx/hello.txt')).sink.text).toContain('app: /staticx/hello.txt');
    expect((await get('/static/missing.txt')).sink.text).toContain('app: /static/missing.txt');
    expect((await get('/static/hello.txt', { REQUEST_METHOD: 'POST' })).sink.text).toContain('app: /static/hello.txt');
  });

  it('refuses a root that does not exist', () => {
    expect(() => staticFiles({ root: join(base, 'nope') })).toThrow(GatewayError);
  });

  describe('over a real socket (dev HTTP server)', () => {
    let srv: HttpServer;
    beforeAll(async () => { srv = await serveHttp(staticFiles({ root, prefix: '/static', fallthrough: false })(fallback), { port: 0, accessLog: false }); });
    afterAll(() => srv.close());

    it('no request target reaches a file outside the root', async () => {
      for (const target of ['/static/../outside.txt', '/static/%2e%2e/outside.txt', '/static/%2E%2E/outside.txt', '/static/..%2foutside.txt',
        '/static/%252e%252e/outside.txt', '/static/..%5coutside.txt', '/static/link-out.txt', '/static/dir-out/outside.txt',
        '/static/.env', '/static/hello.txt%00', '/static//..//outside.txt', '/static/sub/%2e%2e/%2e%2e/outside.txt']) {
        const r = await fetchRaw(srv.port, `GET ${target} HTTP/1.0\r\nHost: x`);
        expect(r.raw.toString('latin1'), target).not.toContain('SECRET=');
        expect([400, 404], target).toContain(r.status);
      }
      const ok = await fetchRaw(srv.port, 'GET /static/hello.txt HTTP/1.0\r\nHost: x');
      expect([ok.status, ok.body.toString()]).toEqual([200, 'hello, static world\n']);
    });
  });
});
