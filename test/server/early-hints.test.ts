// X4: environ['tsgi.early_hints'] on the dev HTTP server (a 103 before the
// response, exact bytes), through the Node bridge (res.writeEarlyHints), and
// as a no-op under FastCGI, uwsgi and CGI; validate() accepts it.
import { Buffer } from 'node:buffer';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fromNodeListener } from '../../src/bridges/index.js';
import type { App } from '../../src/contract/types.js';
import { validate } from '../../src/middleware/validate.js';
import { encodePacket } from '../../src/protocol/uwsgi.js';
import { serveFastCgi } from '../../src/server/fastcgi.js';
import { serveHttp, type HttpServer } from '../../src/server/http.js';
import { serveUwsgi } from '../../src/server/uwsgi.js';
import { FcgiClient, GET, parseResponse } from '../fcgi-client.js';
import { RecordingSink, makeEnviron } from '../helpers.js';
import { captureStderr } from '../capture.js';
import { runApp } from '../../src/gateway/engine.js';

// The app error the C12 test provokes is logged: asserted by its 500, not printed.
captureStderr();

/** Raw bytes in, every byte of the answer out (the request says Connection: close). */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    s.on('data', (d) => out.push(d));
    s.on('end', () => resolve(Buffer.concat(out).toString('latin1')));
    s.on('error', reject);
    s.end(bytes);
  });
}

const hinting: App = (environ, sr) => {
  environ['tsgi.early_hints']!([['Link', '</style.css>; rel=preload; as=style'], ['Link', '</app.js>; rel=preload; as=script'], ['X-Hint', 'a']]);
  sr('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '3']]);
  environ['tsgi.early_hints']!([['Link', '</late.css>; rel=preload']]); // after start_response but before the head: still sent
  return [Buffer.from('ok\n')];
};

const servers: { close: () => Promise<void> }[] = [];
afterAll(async () => { for (const s of servers) await s.close(); });

async function http(app: App): Promise<HttpServer> {
  const srv = await serveHttp(app, { port: 0, accessLog: false });
  servers.push(srv);
  return srv;
}

const noDate = (s: string): string => s.replace(/\r\nDate: [^\r]+/g, '');

describe('early hints (X4)', () => {
  it('X4 dev HTTP server: each call is one 103 Early Hints, before the final response (exact bytes)', async () => {
    const srv = await http(hinting);
    const out = await raw(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(noDate(out)).toBe(
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style, </app.js>; rel=preload; as=script\r\nX-Hint: a\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </late.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n');
  });

  it('X4 no 103 to an HTTP/1.0 client, none without a Link header, none once the head is out', async () => {
    const srv = await http((environ, sr) => {
      environ['tsgi.early_hints']!([['X-Only', 'no link']]);
      const write = sr('200 OK', [['Content-Type', 'text/plain']]);
      write(Buffer.from('a'));
      environ['tsgi.early_hints']!([['Link', '</late.css>; rel=preload']]);
      return [Buffer.from('b')];
    });
    const h10 = await raw(srv.port, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n');
    expect(h10).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(h10).not.toContain('103');
    const h11 = await raw(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(h11).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(h11).not.toContain('103');
    const h10hints = await raw((await http(hinting)).port, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n');
    expect(h10hints).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });

  it('X4 C12 a header a 103 cannot carry (CR LF in a value) is the app\'s error, as in start_response: a 500, no 103', async () => {
    const srv = await http((environ, sr) => {
      environ['tsgi.early_hints']!([['Link', '</a>; rel=preload\r\nX-Evil: 1']]);
      sr('200 OK', []);
      return [];
    });
    const out = await raw(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 500 /);
    expect(out).not.toContain('X-Evil');
  });

  it('X4 Node bridge: res.writeEarlyHints() in an (req, res) app is a 103 on the dev server, and its callback runs', async () => {
    let called = false;
    const srv = await http(fromNodeListener((_req, res) => {
      res.writeEarlyHints({ link: ['</a.css>; rel=preload; as=style', '</b.js>; rel=preload; as=script'] }, () => { called = true; });
      res.setHeader('Content-Type', 'text/plain');
      res.end('bridged\n');
    }));
    const out = await raw(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(out.startsWith('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style, </b.js>; rel=preload; as=script\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    expect(out.endsWith('\r\n\r\nbridged\n')).toBe(true);
    expect(called).toBe(true);
  });

  it('X4 FastCGI: a no-op (nothing but the final response), never an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-hints-'));
    const srv = await serveFastCgi(hinting, { socket: join(dir, 'f.sock') });
    servers.push(srv);
    const c = await FcgiClient.connect(join(dir, 'f.sock'));
    const r = await c.request(1, GET);
    const p = parseResponse(r.stdout);
    expect(p.status).toBe('200 OK');
    expect(p.body.toString()).toBe('ok\n');
    expect(r.stdout.toString('latin1')).not.toContain('103');
    c.socket.destroy();
  });

  it('X4 uwsgi: a no-op, never an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-hints-'));
    const path = join(dir, 'u.sock');
    const srv = await serveUwsgi(hinting, { socket: path });
    servers.push(srv);
    const out = await new Promise<string>((resolve, reject) => {
      const s = connect(path);
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('end', () => resolve(Buffer.concat(got).toString('latin1')));
      s.on('error', reject);
      s.write(encodePacket([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/'], ['SERVER_PROTOCOL', 'HTTP/1.1']]));
    });
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok\n$/);
    expect(out).not.toContain('103');
  });

  it('X4 every environ has it (CGI\'s too, built the same way), and validate() accepts it and calls through', async () => {
    const { environ, controller } = makeEnviron();
    expect(typeof environ['tsgi.early_hints']).toBe('function');
    const sink = new RecordingSink();
    await runApp(validate(hinting), environ, sink, controller);
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n');
    const bad = makeEnviron();
    bad.environ['tsgi.early_hints'] = 'no' as never;
    const badSink = new RecordingSink();
    await runApp(validate(hinting), bad.environ, badSink, bad.controller);
    expect(badSink.text).toMatch(/^Status: 500/);
  });

  it('X4 X2 the recipes of docs/offload.md run as written: early hints (a 103, then the page) and the event stream (X-Accel-Buffering: no, the first tick)', async () => {
    const page = readFileSync(new URL('../../docs/offload.md', import.meta.url), 'utf8');
    const recipe = (name: string): string => new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w*\\n([^]*?)\\n\`\`\`\\n`).exec(page)![1]!;
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-recipes-'));
    writeFileSync(join(dir, 'hints.mjs'), recipe('early-hints'));
    writeFileSync(join(dir, 'sse.mjs'), recipe('sse-app'));
    const hints = await http(((await import(pathToFileURL(join(dir, 'hints.mjs')).href)) as { default: App }).default);
    const out = noDate(await raw(hints.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    expect(out).toMatch(/^HTTP\/1\.1 103 Early Hints\r\nLink: <\/app\.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*<link rel="stylesheet" href="\/app\.css"><p>hello<\/p>\n$/);
    const sse = await http(((await import(pathToFileURL(join(dir, 'sse.mjs')).href)) as { default: App }).default);
    const s = connect(sse.port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => got, { timeout: 10_000 }).toContain('data: tick 1\n\n');
    s.destroy();
    expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Type: text\/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n/);
  });
});
