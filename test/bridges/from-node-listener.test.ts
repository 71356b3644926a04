// The listener bridge in process: fromNodeListener(listener) run by the engine
// against a recording sink. Values are captured in the listener and asserted
// outside it (an expect failing inside would only become a 500).
import { Buffer } from 'node:buffer';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex, Readable, finished, getDefaultHighWaterMark } from 'node:stream';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { fromNodeListener, type NodeListener } from '../../src/bridges/from-node-listener.js';
import { RecordingSink, run, tick } from '../helpers.js';

const split = (text: string): { head: string; body: string } => {
  const i = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, i + 2), body: text.slice(i + 4) };
};

describe('fromNodeListener: req', () => {
  it('B2 req is an http.IncomingMessage and res an http.ServerResponse, also after Express swaps their prototypes', async () => {
    const seen: boolean[] = [];
    await run(fromNodeListener((req, res) => { seen.push(req instanceof IncomingMessage, res instanceof ServerResponse); res.end(); }));
    const app = express();
    app.get('/', (req, res) => { seen.push(req instanceof IncomingMessage, res instanceof ServerResponse); res.send('x'); });
    const r = await run(fromNodeListener(app));
    expect(seen).toEqual([true, true, true, true]);
    expect(split(r.sink.text).body).toBe('x');
  });


  it('B2 the fields Express and router set on every request (params, baseUrl, originalUrl, route, locals, statusCode) and Express 5 req.query read as on node:http', async () => {
    let got: Record<string, unknown> = {};
    let before: unknown[] = [];
    const app = express();
    const api = express.Router();
    api.get('/items/:id', (req, res) => {
      res.locals.seen = true;
      got = { params: { ...req.params }, baseUrl: req.baseUrl, originalUrl: req.originalUrl, url: req.url, path: req.route?.path, query: { ...(req.query as object) }, locals: { ...res.locals }, status: res.statusCode };
      res.status(201).send('ok');
    });
    app.use('/api', api);
    const r = await run(fromNodeListener((req, res) => {
      const q = req as unknown as Record<string, unknown>;
      before = [q.params, q.baseUrl, q.originalUrl, q.route, (res as unknown as Record<string, unknown>).locals, res.statusCode, res.statusMessage];
      return app(req as never, res as never);
    }), { REQUEST_URI: '/api/items/7?a=1&b=x', PATH_INFO: '/api/items/7', QUERY_STRING: 'a=1&b=x' });
    expect(before).toEqual([undefined, undefined, undefined, undefined, undefined, 200, undefined]);
    expect(got).toEqual({ params: { id: '7' }, baseUrl: '/api', originalUrl: '/api/items/7?a=1&b=x', url: '/items/7?a=1&b=x', path: '/items/:id', query: { a: '1', b: 'x' }, locals: { seen: true }, status: 200 });
    expect(split(r.sink.text)).toEqual({ head: expect.stringMatching(/^Status: 201 Created\r\n/), body: 'ok' });
  });
  it('B2 an Express app given straight to the bridge: req and res have its prototypes, including ones it replaces later', async () => {
    const app = express();
    let seen: unknown[] = [];
    app.get('/', (req, res) => {
      const more = (req as unknown as { hello?: () => string }).hello;
      seen = [Object.getPrototypeOf(req) === app.request, Object.getPrototypeOf(res) === app.response, req instanceof IncomingMessage, res instanceof ServerResponse, more?.()];
      res.send('ok');
    });
    const bridged = fromNodeListener(app as unknown as NodeListener);
    const first = await run(bridged, { REQUEST_URI: '/', PATH_INFO: '/' });
    const one = seen;
    // An app may swap its request prototype for one with more members.
    (app as unknown as { request: object }).request = Object.create(app.request, { hello: { value: () => 'hi' } });
    await run(bridged, { REQUEST_URI: '/', PATH_INFO: '/' });
    expect(one).toEqual([true, true, true, true, undefined]);
    expect(seen).toEqual([true, true, true, true, 'hi']);
    expect(split(first.sink.text).body).toBe('ok');
  });
  it('B3 a bodyless request is complete at once; read, it ends at once; unread, it ends when the exchange does (as node:http)', async () => {
    const seen: unknown[] = [];
    let unread: IncomingMessage | undefined;
    await run(fromNodeListener((req, res) => {
      seen.push(req.complete, req.readableEnded);
      unread = req;
      req.on('end', () => seen.push('end'));
      res.end('ok');
    }));
    await tick(5);
    const read: unknown[] = [];
    await run(fromNodeListener(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      read.push(req.complete, chunks.length, req.readableEnded);
      res.end('ok');
    }));
    expect(seen).toEqual([true, false, 'end']);
    expect(unread!.readableEnded).toBe(true);
    expect(read).toEqual([true, 0, true]);
  });
  it('B3 method, raw url, httpVersion, headers and rawHeaders with Content-Type and Content-Length restored', async () => {
    let got: Record<string, unknown> = {};
    await run(fromNodeListener((req, res) => {
      got = { method: req.method, url: req.url, v: req.httpVersion, major: req.httpVersionMajor, headers: { ...req.headers }, raw: req.rawHeaders };
      res.end();
    }), {
      REQUEST_METHOD: 'POST', REQUEST_URI: '/caf%E9/\xe9?x=%E9&y', PATH_INFO: '/caf\xe9/\xe9', QUERY_STRING: 'x=%E9&y', SERVER_PROTOCOL: 'HTTP/1.0',
      HTTP_HOST: 'example.org', HTTP_X_FORWARDED_FOR: '10.0.0.1', HTTP_X_LATIN: 'caf\xe9', CONTENT_TYPE: 'text/plain',
    }, { body: Buffer.from('hello') });
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/caf%E9/\xe9?x=%E9&y'); // C4: the raw byte as one latin-1 character, as node:http has it
    expect(got.v).toBe('1.0');
    expect(got.major).toBe(1);
    expect(got.headers).toEqual({ host: 'example.org', 'x-forwarded-for': '10.0.0.1', 'x-latin': 'caf\xe9', 'content-type': 'text/plain', 'content-length': '5' });
    expect(got.raw).toEqual(['Host', 'example.org', 'X-Forwarded-For', '10.0.0.1', 'X-Latin', 'caf\xe9', 'Content-Type', 'text/plain', 'Content-Length', '5']);
  });

  it('B3 url is relative to SCRIPT_NAME when REQUEST_URI starts with it; without REQUEST_URI it is made from PATH_INFO', async () => {
    const urls: (string | undefined)[] = [];
    const app = fromNodeListener((req, res) => { urls.push(req.url); res.end(); });
    await run(app, { SCRIPT_NAME: '/app', PATH_INFO: '/x', REQUEST_URI: '/app/x?q=1', QUERY_STRING: 'q=1' });
    await run(app, { SCRIPT_NAME: '/app', PATH_INFO: '', REQUEST_URI: '/app' });
    await run(app, { SCRIPT_NAME: '/app', PATH_INFO: '/lication', REQUEST_URI: '/application' });
    await run(app, { SCRIPT_NAME: '/app.fcgi', PATH_INFO: '/hello', REQUEST_URI: '/hello' }); // rewritten to the starter
    await run(app, { PATH_INFO: '/caf\xe9 x', QUERY_STRING: 'a=b' });
    expect(urls).toEqual(['/x?q=1', '/', '/application', '/hello', '/caf%E9%20x?a=b']);
  });

  it('B3 socket.remoteAddress, remotePort and encrypted come from the environ (Express req.ip, protocol, secure)', async () => {
    let got: unknown[] = [];
    const app = express();
    app.get('/', (req, res) => { got = [req.socket.remoteAddress, req.socket.remotePort, (req.socket as { encrypted?: boolean }).encrypted, req.ip, req.protocol, req.secure]; res.end(); });
    await run(fromNodeListener(app), { REMOTE_ADDR: '192.0.2.7', REMOTE_PORT: '40000', HTTPS: 'on' });
    expect(got).toEqual(['192.0.2.7', 40000, true, '192.0.2.7', 'https', true]);
    await run(fromNodeListener(app), { REMOTE_ADDR: '::1' });
    expect(got.slice(2)).toEqual([undefined, '::1', 'http', false]);
  });

  it('B2 B3 req.socket is a real stream.Duplex: stream.finished takes it, req\'s high-water mark is its own, a write to it is refused', async () => {
    let got: unknown[] = [];
    let writeErr: unknown;
    await run(fromNodeListener((req, res) => {
      const socket = req.socket;
      got = [socket instanceof Duplex, req.readableHighWaterMark, socket.readableHighWaterMark, typeof finished(socket, () => {})];
      socket.on('error', () => {});
      socket.write('x', (err) => { writeErr = err; res.end('ok'); });
    }));
    expect(got).toEqual([true, getDefaultHighWaterMark(false), getDefaultHighWaterMark(false), 'function']);
    expect(writeErr).toMatchObject({ code: 'ERR_TSGI_SOCKET_WRITE' });
  });

  it('B3 req.destroy() before its body is read ends the exchange as on node:http (\'aborted\', the socket closed): the gateway\'s 500, nothing thrown', async () => {
    const events: string[] = [];
    const r = await run(fromNodeListener((req) => {
      req.on('aborted', () => events.push('aborted'));
      req.socket.on('close', () => events.push('socket close'));
      req.destroy();
    }), { REQUEST_METHOD: 'POST' }, { body: Buffer.from('{"a":1}') });
    await tick(5);
    expect(r.sink.text).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(r.errors).toMatch(/^the application raised an error: Error: req.socket was destroyed before the response ended/);
    expect(events).toEqual(['aborted', 'socket close']);
  });

  it('B3 a response ended before req.socket is destroyed still goes out whole', async () => {
    const r = await run(fromNodeListener((req, res) => {
      res.end('done');
      req.socket.destroy();
    }), { REQUEST_METHOD: 'POST' }, { body: Buffer.from('unread') });
    expect(split(r.sink.text).body).toBe('done');
    expect(r.errors).toBe('');
  });

  it('B3 the body streams from wsgi.input only as fast as the listener reads it (backpressure)', async () => {
    const body = Buffer.alloc(4 * 1024 * 1024, 7);
    let reads = 0;
    let atPause = 0;
    let total = 0;
    await run(fromNodeListener((req, res) => {
      const input = (req as unknown as { environ: { 'wsgi.input': { read: (n: number) => Buffer } } }).environ['wsgi.input'];
      const read = input.read.bind(input);
      input.read = (n: number) => { reads++; return read(n); };
      req.pause();
      req.once('readable', () => {
        setTimeout(() => {
          atPause = reads;
          req.on('data', (c: Buffer) => { total += c.length; });
          req.on('end', () => res.end(String(total)));
        }, 20);
      });
    }), { REQUEST_METHOD: 'PUT' }, { body });
    expect(atPause).toBeLessThan(4); // a paused reader holds a high-water mark, not the body
    expect(total).toBe(body.length);
    expect(reads).toBeGreaterThanOrEqual(body.length / 65536);
  });

  it('B3 \'close\' on req, res and the socket, and \'aborted\' on an unfinished body, when the client goes away', async () => {
    const events: string[] = [];
    await run(fromNodeListener((req, res) => {
      req.on('aborted', () => events.push('req aborted'));
      req.on('close', () => events.push('req close'));
      res.on('close', () => events.push(`res close finished=${res.writableFinished}`));
      req.socket.on('close', () => events.push('socket close'));
      res.write('partial');
    }), { REQUEST_METHOD: 'POST' }, { body: Buffer.alloc(10), during: (r) => { setTimeout(() => r.controller.abort(new Error('gone')), 20); } });
    await tick(20);
    expect(events).toEqual(expect.arrayContaining(['socket close', 'req aborted', 'req close', 'res close finished=false']));
  });
});

describe('fromNodeListener: res', () => {
  it('B4 writeHead with a reason, set/append/get/remove headers, several Set-Cookie', async () => {
    let got: unknown[] = [];
    const r = await run(fromNodeListener((_req, res) => {
      res.setHeader('X-One', '1');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.appendHeader('Set-Cookie', 'c=3');
      res.setHeader('X-Gone', 'x');
      res.removeHeader('x-gone');
      got = [res.getHeader('x-one'), res.getHeader('set-cookie'), res.hasHeader('X-Gone'), res.getHeaderNames()];
      res.writeHead(201, 'Made It', { 'Content-Type': 'text/plain', 'X-Two': 2 });
      got.push(res.headersSent);
      res.end('ok');
    }));
    expect(got).toEqual(['1', ['a=1', 'b=2', 'c=3'], false, ['x-one', 'set-cookie'], true]);
    const { head, body } = split(r.sink.text);
    expect(head).toMatch(/^Status: 201 Made It\r\nX-One: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nSet-Cookie: c=3\r\nContent-Type: text\/plain\r\nX-Two: 2\r\nDate: .* GMT\r\nContent-Length: 2\r\n$/);
    expect(body).toBe('ok');
  });

  it('B4 writeHead with a flat array keeps repeated names; setHeader after the head throws ERR_HTTP_HEADERS_SENT', async () => {
    let err: unknown;
    const r = await run(fromNodeListener((_req, res) => {
      res.sendDate = false;
      res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Type', 'text/plain']);
      try { res.setHeader('X-Late', '1'); } catch (e) { err = e; }
      res.end();
    }));
    expect(split(r.sink.text).head).toBe('Status: 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n');
    expect(err).toMatchObject({ code: 'ERR_HTTP_HEADERS_SENT' });
  });

  it('B4 write and end take strings in any encoding and bytes; a response ended by end(data) alone gets a Content-Length', async () => {
    const r = await run(fromNodeListener((_req, res) => {
      res.sendDate = false;
      res.write('caf\xe9 ', 'latin1');
      res.write('68657820', 'hex');
      res.write(Buffer.from('buf '));
      res.write(new Uint8Array([0x75, 0x38, 0x20]));
      res.end('w7_p', 'base64');
    }));
    expect(r.sink.bytes.subarray(r.sink.bytes.indexOf('\r\n\r\n') + 4)).toEqual(Buffer.concat([Buffer.from('caf\xe9 ', 'latin1'), Buffer.from('hex buf u8 '), Buffer.from('w7_p', 'base64')]));
    expect(r.sink.text).not.toMatch(/Content-Length/); // as node:http, which would send it chunked
    const one = await run(fromNodeListener((_req, res) => { res.end(Buffer.from('whole')); }));
    expect(one.sink.text).toMatch(/Content-Length: 5\r\n/);
    expect(one.sink.events).toEqual(['head 200 OK 5 last']);
  });

  it('B4 hop-by-hop headers Node frameworks set are dropped, not errors; a value that is not latin-1 fails as in node:http', async () => {
    let err: unknown;
    const r = await run(fromNodeListener((_req, res) => {
      res.sendDate = false;
      res.setHeader('Connection', 'keep-alive');
      res.setHeader('Keep-Alive', 'timeout=5');
      res.setHeader('Transfer-Encoding', 'chunked');
      res.setHeader('Content-Type', 'text/plain');
      try { res.setHeader('X-Euro', '€'); } catch (e) { err = e; }
      res.end('x');
    }));
    expect(split(r.sink.text).head).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n');
    expect(r.errors).toBe('');
    expect(err).toMatchObject({ code: 'ERR_INVALID_CHAR' });
  });

  it('B4 each response gets its own status line (one kept from the response before is never reused for another); a bad reason fails as in node:http, before the head is sent', async () => {
    const app = fromNodeListener((req, res) => {
      res.sendDate = false;
      const [, code, reason] = /^\/(\d+)\/?(.*)$/.exec(req.url!)!;
      if (reason) res.writeHead(Number(code), decodeURIComponent(reason));
      else res.statusCode = Number(code);
      res.end();
    });
    const lines: string[] = [];
    for (const path of ['/200', '/404/Nope', '/404/Not%20Here', '/200', '/201/OK', '/200']) {
      lines.push(split((await run(app, { REQUEST_URI: path, PATH_INFO: path })).sink.text).head.split('\r\n')[0]!);
    }
    expect(lines).toEqual(['Status: 200 OK', 'Status: 404 Nope', 'Status: 404 Not Here', 'Status: 200 OK', 'Status: 201 OK', 'Status: 200 OK']);
    let err: unknown;
    let sentAfterError: boolean | undefined;
    const r = await run(fromNodeListener((_req, res) => {
      res.sendDate = false;
      try { res.writeHead(200, 'Fine\nX-Injected: 1'); } catch (e) { err = e; }
      sentAfterError = res.headersSent;
      res.statusMessage = '';
      res.writeHead(202);
      res.end();
    }));
    expect(err).toMatchObject({ code: 'ERR_INVALID_CHAR' });
    expect(sentAfterError).toBe(false);
    expect(split(r.sink.text).head).toBe('Status: 202 Accepted\r\nContent-Length: 0\r\n');
  });

  it('B4 flushHeaders sends the head before any body; then chunks stream as written', async () => {
    const r = await run(fromNodeListener((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.flushHeaders();
      setTimeout(() => { res.write('data: 1\n\n'); setTimeout(() => res.end('data: 2\n\n'), 5); }, 5);
    }));
    expect(r.sink.events).toEqual(['head 200 OK 0', 'write 9', 'write 9', 'end']);
  });

  it('B4 pipe() with backpressure: write() returns false while the gateway holds the data, \'drain\' follows, \'finish\' then \'close\'', async () => {
    const sink = new RecordingSink();
    let open!: () => void;
    sink.gate = new Promise((r) => { open = r; });
    const events: string[] = [];
    let falses = 0;
    const block = Buffer.alloc(64 * 1024, 1);
    const p = run(fromNodeListener((_req, res) => {
      const write = res.write;
      res.write = function (this: ServerResponse, ...a: unknown[]) { const ok = (write as (...x: unknown[]) => boolean).apply(this, a); if (!ok) falses++; return ok; } as typeof res.write;
      res.on('drain', () => events.push('drain'));
      res.on('finish', () => events.push('finish'));
      res.on('close', () => events.push('close'));
      Readable.from((function* () { for (let i = 0; i < 32; i++) yield block; })()).pipe(res);
    }), {}, { sink });
    await tick(30);
    const heldWhileGated = sink.out.length;
    open();
    await p;
    await tick(5);
    expect(heldWhileGated).toBeLessThan(6);
    expect(falses).toBeGreaterThan(0);
    expect(events.includes('drain')).toBe(true);
    expect(events.slice(-2)).toEqual(['finish', 'close']);
    expect(sink.bytes.length).toBeGreaterThan(32 * 64 * 1024);
  });

  it('B4 a listener that throws, or whose promise rejects, gets the 500 (C18)', async () => {
    const a = await run(fromNodeListener(() => { throw new Error('sync'); }));
    const b = await run(fromNodeListener((async () => { await tick(1); throw new Error('async'); }) as NodeListener));
    expect(a.sink.text).toMatch(/^Status: 500 /);
    expect(b.sink.text).toMatch(/^Status: 500 /);
    expect(b.errors).toMatch(/async/);
  });

  it('B4 Express: res.send, json, redirect, status and 404 go through', async () => {
    const app = express();
    app.get('/json', (_req, res) => { res.status(202).json({ a: 1 }); });
    app.get('/r', (_req, res) => { res.redirect(301, '/json'); });
    const j = await run(fromNodeListener(app), { PATH_INFO: '/json', REQUEST_URI: '/json' });
    const rd = await run(fromNodeListener(app), { PATH_INFO: '/r', REQUEST_URI: '/r' });
    const nf = await run(fromNodeListener(app), { PATH_INFO: '/nope', REQUEST_URI: '/nope' });
    expect(j.sink.text).toMatch(/^Status: 202 Accepted\r\n[^]*Content-Type: application\/json; charset=utf-8\r\n[^]*\r\n\r\n\{"a":1\}$/);
    expect(rd.sink.text).toMatch(/^Status: 301 Moved Permanently\r\n[^]*Location: \/json\r\n/);
    expect(nf.sink.text).toMatch(/^Status: 404 Not Found\r\n[^]*Cannot GET \/nope/);
  });
});
