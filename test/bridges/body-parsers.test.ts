// Request bodies through the frameworks' own parsers, on whichever Node runs
// the suite (CI: 22, 24 and 26). Each framework serves the same app twice in
// this process, on real local sockets: on its own Node server, and bridged
// under tsgi's HTTP adapter with a small in-memory budget, so that the large
// bodies are spooled to disk first. Every answer must be the same bytes
// (status, headers but Date and connection management, body). Then bodies
// that stop half way: the client leaving before the body is in, and an input
// that fails while the framework reads it; the server answers afterwards.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import busboy from 'busboy';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import multer from 'multer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromFetch } from '../../src/bridges/from-fetch.js';
import { fromNodeListener } from '../../src/bridges/from-node-listener.js';
import type { App, WsgiInput } from '../../src/contract/types.js';
import { setLogger } from '../../src/contract/log.js';
import { serveHttp } from '../../src/server/http.js';
import { dechunk } from '../integration/http-client.js';
import { run } from '../helpers.js';
import { waitFor } from '../integration/servers.js';

/** The tsgi server's in-memory budget per body: the large bodies are past it, so spooled (S4). */
const BUDGET = 64 * 1024;
const ERROR_BODY = 'A server error occurred.  Please contact the administrator.';
/** tsgi's log lines while this file runs (the abandoned bodies are warned about). */
const logged: string[] = [];
setLogger((level, message) => { logged.push(`${level}: ${message}`); });
const LARGE = 3 * 1024 * 1024;
const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
/** What every parser route answers: the parsed value's hash and size, and the value itself when small. */
const summary = (v: unknown): object => {
  const text = JSON.stringify(v);
  return text.length <= 200 ? { value: v as object } : { sha: sha(text), length: text.length };
};

const BOUNDARY = 'tsgi-parsers-5b1e';
function multipart(file: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\ncaf\u00e9 au lait\r\n`),
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}
const bytes = (n: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 11)) & 255; return b; };
const largeJson = Buffer.from(JSON.stringify({ items: Array.from({ length: 60_000 }, (_, i) => ({ i, name: `caf\u00e9 ${i}`, ok: i % 3 === 0 })) }));
const largeForm = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `k${i}=caf%C3%A9+${i}`).join('&'));

/** Koa has no body parser: it reads ctx.req, the request stream itself. */
async function readAll(req: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A multipart form read with busboy: its fields, and each file's name, size and hash. */
function readMultipart(req: NodeJS.ReadableStream & { headers: Record<string, unknown> }): Promise<object> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const files: object[] = [];
    const bb = busboy({ headers: req.headers as never });
    bb.on('field', (name, value) => { fields[name] = value; });
    bb.on('file', (name, stream, info) => {
      const h = createHash('sha256');
      let size = 0;
      stream.on('data', (c: Buffer) => { size += c.length; h.update(c); });
      stream.on('end', () => files.push({ field: name, name: info.filename, size, sha256: h.digest('hex') }));
    });
    bb.on('close', () => resolve({ fields, files }));
    bb.on('error', reject);
    req.pipe(bb);
  });
}

function expressApp(): express.Express {
  const app = express();
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 20 * 1024 * 1024 } });
  app.get('/hello', (_req, res) => { res.send('hello\n'); });
  app.post('/json', express.json({ limit: '10mb' }), (req, res) => { res.status(201).json(summary(req.body)); });
  app.post('/form', express.urlencoded({ extended: false, limit: '10mb', parameterLimit: 1_000_000 }), (req, res) => { res.json(summary(req.body)); });
  app.post('/raw', express.raw({ type: '*/*', limit: '10mb' }), (req, res) => { res.json({ size: (req.body as Buffer).length, sha256: sha(req.body as Buffer) }); });
  app.post('/upload', upload.single('file'), (req, res) => {
    const f = req.file!;
    res.json({ fields: req.body as object, file: { field: f.fieldname, name: f.originalname, size: f.size, sha256: sha(f.buffer) } });
  });
  return app;
}

function koaApp(): Koa {
  const app = new Koa();
  app.silent = true; // an aborted body is an error Koa would print
  app.use(async (ctx) => {
    const type = ctx.get('content-type');
    if (ctx.path === '/hello') ctx.body = 'hello\n';
    else if (ctx.path === '/json') { ctx.status = 201; ctx.body = summary(JSON.parse((await readAll(ctx.req)).toString('utf8'))); }
    else if (ctx.path === '/form') ctx.body = summary(Object.fromEntries(new URLSearchParams((await readAll(ctx.req)).toString('latin1'))));
    else if (ctx.path === '/raw') { const b = await readAll(ctx.req); ctx.body = { size: b.length, sha256: sha(b), type }; }
    else if (ctx.path === '/upload') ctx.body = await readMultipart(ctx.req);
  });
  return app;
}

async function fastifyApp(): Promise<ReturnType<typeof Fastify>> {
  const app = Fastify({ bodyLimit: 10 * 1024 * 1024 });
  // Fastify parses JSON and text itself; the other types go through its addContentTypeParser.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => { done(null, Object.fromEntries(new URLSearchParams(body as string))); });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => { done(null, body); });
  app.addContentTypeParser('multipart/form-data', (req, payload, done) => { readMultipart(Object.assign(payload, { headers: req.headers })).then((v) => done(null, v), done); });
  app.get('/hello', async () => 'hello\n');
  app.post('/json', async (req, reply) => { reply.code(201); return summary(req.body); });
  app.post('/form', async (req) => summary(req.body));
  app.post('/raw', async (req) => ({ size: (req.body as Buffer).length, sha256: sha(req.body as Buffer) }));
  app.post('/upload', async (req) => req.body);
  return app;
}

function honoApp(): Hono {
  const app = new Hono();
  app.get('/hello', (c) => c.text('hello\n'));
  app.post('/json', async (c) => c.json(summary(await c.req.json()), 201));
  app.post('/form', async (c) => c.json(summary(await c.req.parseBody())));
  app.post('/raw', async (c) => { const b = new Uint8Array(await c.req.arrayBuffer()); return c.json({ size: b.length, sha256: sha(b) }); });
  app.post('/upload', async (c) => {
    const form = await c.req.parseBody();
    const file = form.file as File;
    const b = new Uint8Array(await file.arrayBuffer());
    return c.json({ title: form.title, file: { name: file.name, type: file.type, size: b.length, sha256: sha(b) } });
  });
  return app;
}

type Kind = 'express' | 'koa' | 'fastify' | 'hono';
interface Pair { own: number; tsgi: number; app: App; close(): Promise<void> }

const listen = (server: Server): Promise<number> => new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
const closeServer = (server: { close(cb: () => void): unknown; closeAllConnections?: () => void }): Promise<void> => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); });

/** The framework on its own server, and the same app bridged under tsgi http. */
async function pair(kind: Kind): Promise<Pair> {
  let own: Server | undefined;
  let ownPort: number;
  let app: App;
  let extra = async (): Promise<void> => {};
  if (kind === 'express') {
    const e = expressApp();
    own = createServer(e);
    ownPort = await listen(own);
    app = fromNodeListener(e);
  } else if (kind === 'koa') {
    const k = koaApp();
    own = createServer(k.callback());
    ownPort = await listen(own);
    app = fromNodeListener(k.callback());
  } else if (kind === 'fastify') {
    const f = await fastifyApp();
    await f.listen({ port: 0, host: '127.0.0.1' });
    ownPort = (f.server.address() as AddressInfo).port;
    app = fromNodeListener(f.routing);
    extra = () => f.close();
  } else {
    const h = honoApp();
    const s = await new Promise<Server>((resolve) => { const srv = serve({ fetch: h.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(srv as Server)); });
    own = s;
    ownPort = (s.address() as AddressInfo).port;
    app = fromFetch(h);
  }
  const t = await serveHttp(app, { port: 0, memoryBodyBytes: BUDGET, accessLog: false });
  return {
    own: ownPort, tsgi: t.port, app,
    close: async () => { await Promise.all([own ? closeServer(own) : undefined, extra(), t.close(0)]); },
  };
}

interface Norm { status: number; headers: string[]; body: string }
// Headers that say when, or manage the connection: each server's own.
const SKIP = /^(?:date|connection|keep-alive|transfer-encoding)$/;

/** One HTTP/1.1 request on its own connection; the response normalised for comparison. */
function send(port: number, method: string, path: string, type?: string, body?: Buffer): Promise<Norm> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    s.on('data', (d) => out.push(d));
    s.on('error', reject);
    s.on('end', () => {
      const raw = Buffer.concat(out);
      const i = raw.indexOf('\r\n\r\n');
      const head = raw.subarray(0, i + 2).toString('latin1');
      const headers = head.split('\r\n').slice(1).filter(Boolean).map((line) => {
        const c = line.indexOf(':');
        // @hono/node-server writes "charset=UTF-8" after "; ", the Response itself (what the bridge passes on) without the space.
        return `${line.slice(0, c).toLowerCase()}: ${line.slice(c + 1).trim().replace(/;\s*/g, '; ')}`;
      }).filter((h) => !SKIP.test(h.slice(0, h.indexOf(':')))).sort();
      resolve({ status: Number(head.slice(9, 12)), headers, body: dechunk({ head, body: raw.subarray(i + 4) }).toString('latin1') });
    });
    s.write(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${type ? `Content-Type: ${type}\r\n` : ''}${body ? `Content-Length: ${body.length}\r\n` : ''}Connection: close\r\n\r\n`);
    if (body) s.write(body);
  });
}

/** A body that stops half way: the client sends part of it, then goes away. */
function abandon(port: number, path: string, type: string, length: number, part: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`);
      s.write(part, () => setImmediate(() => s.destroy()));
    });
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

interface Case { what: string; path: string; type: string; body: Buffer; status: number }
const upload = bytes(300_000);
const bigUpload = bytes(LARGE);
const cases: Case[] = [
  { what: 'small JSON', path: '/json', type: 'application/json', body: Buffer.from('{"a":[1,"caf\u00e9"],"b":null}'), status: 201 },
  { what: 'large JSON (spooled)', path: '/json', type: 'application/json', body: largeJson, status: 201 },
  { what: 'small urlencoded', path: '/form', type: 'application/x-www-form-urlencoded', body: Buffer.from('a=1&b=caf%C3%A9&c=x+y'), status: 200 },
  { what: 'large urlencoded (spooled)', path: '/form', type: 'application/x-www-form-urlencoded', body: largeForm, status: 200 },
  { what: 'small raw bytes', path: '/raw', type: 'application/octet-stream', body: bytes(1000), status: 200 },
  { what: 'large raw bytes (spooled)', path: '/raw', type: 'application/octet-stream', body: bigUpload, status: 200 },
  { what: 'a multipart upload', path: '/upload', type: `multipart/form-data; boundary=${BOUNDARY}`, body: multipart(upload), status: 200 },
  { what: 'a large multipart upload (spooled)', path: '/upload', type: `multipart/form-data; boundary=${BOUNDARY}`, body: multipart(bigUpload), status: 200 },
];

const parsers: Record<Kind, string> = {
  express: 'express.json / urlencoded / raw and multer',
  koa: 'ctx.req read by Koa and busboy',
  fastify: 'Fastify\'s JSON parser and its addContentTypeParser',
  hono: 'Hono\'s c.req.json() / parseBody() / arrayBuffer()',
};

for (const kind of ['express', 'koa', 'fastify', 'hono'] as Kind[]) {
  describe(`${kind}: request bodies through ${parsers[kind]}, bridged and on its own server`, () => {
    let p: Pair;
    beforeAll(async () => { p = await pair(kind); }, 30_000);
    afterAll(async () => { await p?.close(); });

    for (const c of cases) {
      it(`B3 ${kind === 'hono' ? 'B5 ' : ''}${c.what}: the same bytes as on the framework's own server (${c.body.length} bytes)`, async () => {
        const want = await send(p.own, 'POST', c.path, c.type, c.body);
        const got = await send(p.tsgi, 'POST', c.path, c.type, c.body);
        expect(want.status).toBe(c.status);
        expect(got).toEqual(want);
      }, 30_000);
    }

    it(`B3 ${kind}: a client that leaves half way through a body, large and small: both servers answer the next request alike`, async () => {
      for (const port of [p.own, p.tsgi]) {
        await abandon(port, '/json', 'application/json', largeJson.length, largeJson.subarray(0, 200_000));
        await abandon(port, '/upload', `multipart/form-data; boundary=${BOUNDARY}`, 5000, multipart(upload).subarray(0, 1000));
      }
      const warned = (): string[] => logged.filter((l) => /could not read the request body/.test(l)).sort();
      await waitFor(() => warned().length >= 2, 'tsgi to see both bodies abandoned');
      expect(warned()).toEqual(['warn: HTTP POST /json: could not read the request body', 'warn: HTTP POST /upload: could not read the request body']);
      logged.length = 0;
      const after = { own: await send(p.own, 'POST', '/json', 'application/json', Buffer.from('{"after":true}')), tsgi: await send(p.tsgi, 'POST', '/json', 'application/json', Buffer.from('{"after":true}')) };
      expect(after.own.status).toBe(201);
      expect(after.tsgi).toEqual(after.own);
    }, 30_000);

    it(`B3 ${kind}: an input that fails while the framework reads the body: the request fails, nothing is thrown at the process, and the app answers the next one`, async () => {
      const body = Buffer.from(JSON.stringify({ pad: 'x'.repeat(200_000) }));
      const r = await run(p.app, { REQUEST_METHOD: 'POST', REQUEST_URI: '/json', PATH_INFO: '/json', CONTENT_TYPE: 'application/json' }, {
        body,
        during: (ran) => {
          // The first block arrives; the next read fails (an async input whose client went away).
          const input = ran.environ['wsgi.input'] as WsgiInput & { read(n?: number | null): unknown };
          let reads = 0;
          input.read = ((n?: number | null) => (++reads === 1 ? body.subarray(0, Math.min(n ?? 65536, 65536)) : Promise.reject(new Error('the client went away')))) as never;
        },
      });
      // The framework's own answer to a broken body (400 or 500), the gateway's 500, or, had the head gone out, a cut: never a 2xx.
      if (kind === 'hono') {
        // Hono catches the failed read itself and answers with its own 500.
        expect(r.sink.text).toMatch(/^Status: 500 Internal Server Error\r\n[^]*\r\n\r\nInternal Server Error$/);
      } else {
        // req is destroyed with the input's error, and with it req.socket: the exchange is over, as
        // node:http would close the connection; nothing was sent yet, so the gateway's 500 (C18).
        expect(r.sink.text).toBe(`Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\n${ERROR_BODY}`);
        expect(r.errors).toMatch(/^the application raised an error: Error: the client went away\n/);
      }
      const next = await run(p.app, { REQUEST_METHOD: 'POST', REQUEST_URI: '/json', PATH_INFO: '/json', CONTENT_TYPE: 'application/json' }, { body: Buffer.from('{"next":1}') });
      expect(next.sink.text).toMatch(/^Status: 201 [^]*\r\n\r\n\{"value":\{"next":1\}\}$/);
    }, 30_000);
  });
}
