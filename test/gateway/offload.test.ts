// X1 and X2 in the engine: which responses are offloaded and how the path is
// named; X-Accel-Buffering on event streams. The web servers' side is in
// test/integration/offload.test.ts.
import { Buffer } from 'node:buffer';
import { mkdirSync, mkdtempSync, openSync, readSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { App, Environ } from '../../src/contract/types.js';
import { runApp } from '../../src/gateway/engine.js';
import { parseOffload, unbufferedHeaders } from '../../src/gateway/offload.js';
import { staticFiles } from '../../src/middleware/static.js';
import { compose, debugErrors, logging, timing, validate } from '../../src/middleware/index.js';
import { RecordingSink, makeEnviron } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsgi-offload-'));
const data = Buffer.alloc(200_000, 7);
const big = join(dir, 'big.bin');
writeFileSync(big, data);
const odd = join(dir, 'a b?#%\u00e9\n.txt');
writeFileSync(odd, 'odd\n');
mkdirSync(join(dir, 'root'));
writeFileSync(join(dir, 'root', 'small.txt'), 'small\n');
writeFileSync(join(dir, 'root', '.secret'), 'secret\n');
symlinkSync('/etc/passwd', join(dir, 'root', 'passwd'));

async function go(app: App, offload: string | undefined, vars: Record<string, string> = {}): Promise<{ head: string; body: string; sink: RecordingSink }> {
  const { environ, controller } = makeEnviron(vars);
  if (offload !== undefined) environ['tsgi.offload'] = parseOffload(offload);
  const sink = new RecordingSink();
  await runApp(app, environ, sink, controller);
  const text = sink.text;
  const cut = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, cut), body: text.slice(cut + 4), sink };
}

const wrapping = (file: (e: Environ) => unknown, status = '200 OK', extra: [string, string][] = []): App => (environ, sr) => {
  sr(status, [['Content-Type', 'application/octet-stream'], ['Content-Length', String(data.length)], ...extra]);
  return environ['wsgi.file_wrapper'](file(environ) as string);
};

describe('offload (X1)', () => {
  it('X1 parseOffload takes nginx:/PREFIX/ and sendfile, and refuses anything else with a one-line reason', () => {
    expect(parseOffload('nginx:/internal/')).toEqual({ kind: 'nginx', prefix: '/internal/' });
    expect(parseOffload('nginx:/a/b-c_d.e/')).toEqual({ kind: 'nginx', prefix: '/a/b-c_d.e/' });
    expect(parseOffload('sendfile')).toEqual({ kind: 'sendfile' });
    for (const bad of ['nginx:', 'nginx:internal/', 'nginx:/internal', 'nginx:/../', 'nginx:/a?b/', 'nginx:/a%2f/', 'nginx:/a b/', 'apache', 'x-sendfile', '']) {
      expect(() => parseOffload(bad), bad).toThrow(/offload .*(expected|prefix must)/);
    }
  });

  it('X1 file_wrapper on a path: X-Accel-Redirect with the prefix and the file\'s real path, no Content-Length, no body', async () => {
    const r = await go(wrapping(() => big), 'nginx:/internal/');
    expect(r.head).toBe(`Status: 200 OK\r\nContent-Type: application/octet-stream\r\nX-Accel-Redirect: /internal${big}\r\nContent-Length: 0`);
    expect(r.body).toBe('');
  });

  it('X1 sendfile: X-Sendfile with the absolute path and no body', async () => {
    const r = await go(wrapping(() => big), 'sendfile');
    expect(r.head).toBe(`Status: 200 OK\r\nContent-Type: application/octet-stream\r\nX-Sendfile: ${big}\r\nContent-Length: 0`);
    expect(r.body).toBe('');
  });

  it('X1 X-Accel-Redirect percent-encodes every byte but unreserved ones and / (?, #, %, space, newline, UTF-8); X-Sendfile names the file as it is', async () => {
    const r = await go(wrapping(() => odd), 'nginx:/x/');
    const enc = `${dir.slice(1)}/a%20b%3F%23%25%C3%A9%0A.txt`;
    expect(r.head).toContain(`\r\nX-Accel-Redirect: /x/${enc}\r\n`);
    // X-Sendfile is the name as it is (mod_xsendfile does not unescape): its UTF-8 bytes as latin-1 characters;
    // a control character cannot be in a header, so that file is streamed.
    const s = await go(wrapping(() => odd), 'sendfile');
    expect(s.head).not.toContain('X-Sendfile');
    expect(s.body).toBe('odd\n');
    const utf = join(dir, 'a b?#%\u00e9.txt');
    writeFileSync(utf, 'utf\n');
    const u = await go(wrapping(() => utf), 'sendfile');
    expect(`${u.head}\r\n`).toContain(`\r\nX-Sendfile: ${Buffer.from(utf, 'utf8').toString('latin1')}\r\n`);
  });

  it('X1 the path named is the file held open, not what the app called it: a symlink is resolved, .. is gone', async () => {
    const r = await go(wrapping(() => `${dir}/root/../root/passwd`), 'nginx:/internal/');
    expect(r.head).toContain('\r\nX-Accel-Redirect: /internal/etc/passwd\r\n');
  });

  it('X1 a FileHandle and a descriptor at offset 0 are offloaded; a descriptor read past its start is streamed from there (C21)', async () => {
    const fh = await open(big, 'r');
    const a = await go((environ, sr) => { sr('200 OK', []); return environ['wsgi.file_wrapper'](fh); }, 'nginx:/i/');
    expect(a.head).toBe(`Status: 200 OK\r\nX-Accel-Redirect: /i${big}\r\nContent-Length: 0`);
    const fd = openSync(big, 'r');
    readSync(fd, Buffer.alloc(100), 0, 100, null);
    const b = await go((environ, sr) => { sr('200 OK', []); return environ['wsgi.file_wrapper'](fd); }, 'nginx:/i/');
    expect(b.head).not.toContain('X-Accel-Redirect');
    expect(b.body.length).toBe(data.length - 100);
  });

  it('X1 a deleted file, a non-200, a write() before the body and the app\'s own offload header are left as they are (streamed)', async () => {
    const gone = join(dir, 'gone.bin');
    writeFileSync(gone, data);
    const deleted = await go((environ, sr) => {
      sr('200 OK', []);
      const w = environ['wsgi.file_wrapper'](gone);
      unlinkSync(gone);
      return w;
    }, 'nginx:/i/');
    expect(deleted.head).not.toContain('X-Accel-Redirect');
    expect(deleted.body.length).toBe(data.length);
    const notFound = await go(wrapping(() => big, '404 Not Found'), 'nginx:/i/');
    expect(notFound.head).not.toContain('X-Accel-Redirect');
    expect(notFound.body.length).toBe(data.length);
    const own = await go(wrapping(() => big, '200 OK', [['X-Accel-Redirect', '/elsewhere/x']]), 'nginx:/i/');
    expect(`${own.head}\r\n`).toContain('\r\nX-Accel-Redirect: /elsewhere/x\r\n');
    expect(own.head.match(/X-Accel-Redirect/g)).toHaveLength(1);
    expect(own.body.length).toBe(data.length);
    const ownSendfile = await go(wrapping(() => big, '200 OK', [['x-sendfile', '/x']]), 'nginx:/i/');
    expect(ownSendfile.head).not.toContain('X-Accel-Redirect');
    const wrote = await go((environ, sr) => {
      sr('200 OK', [])(Buffer.from('pre'));
      return environ['wsgi.file_wrapper'](big);
    }, 'nginx:/i/');
    expect(wrote.head).not.toContain('X-Accel-Redirect');
    expect(wrote.body.length).toBe(3 + data.length);
  });

  it('X1 C16 a file_wrapper body without start_response is still the app\'s error (500), not an offload', async () => {
    const r = await go((environ) => environ['wsgi.file_wrapper'](big), 'nginx:/i/');
    expect(r.head).toMatch(/^Status: 500 /);
    expect(r.head).not.toContain('X-Accel-Redirect');
  });

  it('X1 under validate(), logging(), timing() and debugErrors() (which hand bytes on unchanged) the file is still offloaded, closed once, and logged with no body bytes', async () => {
    const lines: string[] = [];
    let closed = 0;
    const inner: App = (environ, sr) => {
      sr('200 OK', [['Content-Type', 'text/plain']]);
      const w = environ['wsgi.file_wrapper'](big);
      const close = w.close.bind(w);
      w.close = () => { closed++; close(); };
      return w;
    };
    const app = validate(compose(inner, logging({ write: (l) => lines.push(l) }), timing(), debugErrors()));
    const r = await go(app, 'nginx:/i/');
    expect(r.head).toMatch(new RegExp(`^Status: 200 OK\r\nContent-Type: text/plain\r\nServer-Timing: [^\r]+\r\nX-Response-Time: [^\r]+\r\nX-Accel-Redirect: /i${big}\r\nContent-Length: 0$`));
    expect(r.body).toBe('');
    expect(closed).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/" 200 - /);
  });

  it('X1 without --offload nothing changes: the file is streamed by tsgi', async () => {
    const r = await go(wrapping(() => big), undefined);
    expect(r.head).not.toContain('X-Accel-Redirect');
    expect(Buffer.from(r.body, 'latin1').equals(data)).toBe(true);
  });

  it('X1 a request variable named tsgi.offload (a web server may pass any name) is dropped, and a look-alike object is not a setting', async () => {
    const { environ } = makeEnviron({ 'tsgi.offload': 'sendfile' });
    expect(environ['tsgi.offload']).toBeUndefined();
    const lookalike = makeEnviron();
    lookalike.environ['tsgi.offload'] = { kind: 'sendfile' };
    const sink = new RecordingSink();
    await runApp(wrapping(() => big), lookalike.environ, sink, lookalike.controller);
    expect(sink.text).not.toContain('X-Sendfile');
    expect(sink.bytes.length).toBeGreaterThan(data.length);
  });

  it('X1 the app cannot turn offload on by setting tsgi.offload itself: the server\'s setting is read before the app runs', async () => {
    const r = await go((environ, sr) => {
      environ['tsgi.offload'] = parseOffload('nginx:/i/');
      sr('200 OK', []);
      return environ['wsgi.file_wrapper'](big);
    }, undefined);
    expect(r.head).not.toContain('X-Accel-Redirect');
  });

  describe('staticFiles', () => {
    const app = staticFiles({ root: join(dir, 'root'), prefix: '/s/' })((_e, sr) => { sr('404 Not Found', []); return []; });
    it('X1 a small file is offloaded too, with its validators; a Range is left to the web server (200, no Content-Range)', async () => {
      const r = await go(app, 'nginx:/internal/', { PATH_INFO: '/s/small.txt', HTTP_RANGE: 'bytes=0-1' });
      expect(r.head).toMatch(new RegExp(`^Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nAccept-Ranges: bytes\r\nETag: "[0-9a-f]+-[0-9a-f]+"\r\nLast-Modified: [^\r]+ GMT\r\nCache-Control: public, max-age=0\r\nX-Accel-Redirect: /internal${dir}/root/small.txt\r\nContent-Length: 0$`));
      expect(r.body).toBe('');
    });
    it('X1 H3 a dotfile and a symlink out of the root are not found: nothing is offloaded', async () => {
      for (const p of ['/s/.secret', '/s/passwd', '/s/../big.bin']) {
        const r = await go(app, 'nginx:/internal/', { PATH_INFO: p });
        expect(r.head, p).toMatch(/^Status: 40[04]/);
        expect(r.head, p).not.toContain('X-Accel-Redirect');
      }
    });
    it('X1 a conditional request that matches is answered 304 here, without the web server', async () => {
      const first = await go(app, 'sendfile', { PATH_INFO: '/s/small.txt' });
      const etag = /ETag: ("[^"]+")/.exec(first.head)![1]!;
      const r = await go(app, 'sendfile', { PATH_INFO: '/s/small.txt', HTTP_IF_NONE_MATCH: etag });
      expect(r.head).toMatch(/^Status: 304 Not Modified\r\n/);
      expect(r.head).not.toContain('X-Sendfile');
    });
  });
});

describe('unbuffered streams (X2)', () => {
  it('X2 text/event-stream gets X-Accel-Buffering: no behind nginx; other types, an app that set the header (any value), and a front that is not nginx, do not', () => {
    expect(unbufferedHeaders([['Content-Type', 'text/event-stream']])).toEqual([['Content-Type', 'text/event-stream'], ['X-Accel-Buffering', 'no']]);
    expect(unbufferedHeaders([['content-type', 'Text/Event-Stream; charset=utf-8']])).toEqual([['content-type', 'Text/Event-Stream; charset=utf-8'], ['X-Accel-Buffering', 'no']]);
    const plain: [string, string][] = [['Content-Type', 'text/plain']];
    expect(unbufferedHeaders(plain)).toBe(plain);
    const own: [string, string][] = [['Content-Type', 'text/event-stream'], ['x-accel-buffering', 'yes']];
    expect(unbufferedHeaders(own)).toBe(own);
    expect(unbufferedHeaders([['Content-Type', 'text/event-streams']])).toHaveLength(1);
    // Only nginx acts on it: behind another front (SERVER_SOFTWARE says which) it would reach the client.
    const sse: [string, string][] = [['Content-Type', 'text/event-stream']];
    expect(unbufferedHeaders(sse, 'nginx/1.22.1')).toHaveLength(2);
    expect(unbufferedHeaders(sse, 'Apache/2.4.62 (Debian)')).toBe(sse);
    expect(unbufferedHeaders(sse, 'lighttpd/1.4.69')).toBe(sse);
  });

  it('X2 each chunk of an event stream reaches the sink when the app yields it, before the app yields the next', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const sink = new RecordingSink();
    const { environ, controller } = makeEnviron();
    const done = runApp((_e, sr) => {
      sr('200 OK', [['Content-Type', 'text/event-stream']]);
      return (async function* () { yield Buffer.from('data: 1\n\n'); await gate; yield Buffer.from('data: 2\n\n'); })();
    }, environ, sink, controller);
    await expect.poll(() => sink.text).toContain('data: 1\n\n');
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Type: text/event-stream\r\nX-Accel-Buffering: no\r\n\r\ndata: 1\n\n');
    release();
    await done;
    expect(sink.text.endsWith('data: 1\n\ndata: 2\n\n')).toBe(true);
  });
});
