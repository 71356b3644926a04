// Request and Response: UTF-8 text over bytes-as-string environ, body limits,
// JSON / form / multipart (busboy) parsing, and Response as an app.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/contract/types.js';
import { HttpError } from '../../src/helpers/http-error.js';
import { Request } from '../../src/helpers/request.js';
import { Response } from '../../src/helpers/response.js';
import { validate } from '../../src/middleware/validate.js';
import { serveHttp } from '../../src/server/http.js';
import { b, makeEnviron, run } from '../helpers.js';

const req = (vars: Record<string, string> = {}, body?: Buffer, limits = {}): Request => new Request(makeEnviron(vars, body).environ, limits);

async function rejection(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return err as HttpError;
  }
  throw new Error('expected an HttpError');
}

function multipart(boundary: string, parts: Array<{ name: string; filename?: string; type?: string; data: string | Buffer }>): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    // Browsers send the part headers (file names included) as UTF-8.
    out.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}\r\n` +
      `${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`, 'utf8'));
    out.push(typeof p.data === 'string' ? Buffer.from(p.data, 'utf8') : p.data, b('\r\n'));
  }
  out.push(b(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

describe('Request', () => {
  it('gives method, path, query, headers and URL as UTF-8 text; the environ stays bytes', () => {
    const r = req({
      REQUEST_METHOD: 'PUT', SCRIPT_NAME: '/app', PATH_INFO: '/caf\xc3\xa9', QUERY_STRING: 'q=%C3%A9t%C3%A9&q=2&raw=\xc3\xa9&sp=a+b',
      HTTP_HOST: 'example.com:8080', HTTP_X_NAME: 'Jos\xc3\xa9', CONTENT_TYPE: 'text/plain; charset=utf-8', REQUEST_URI: '/app/caf%C3%A9?q=1',
    });
    expect([r.method, r.path, r.scriptName]).toEqual(['PUT', '/café', '/app']);
    expect(r.query.getAll('q')).toEqual(['été', '2']);
    expect([r.query.get('raw'), r.query.get('sp')]).toEqual(['é', 'a b']);
    expect(r.header('x-name')).toBe('José');
    expect(r.header('Content-Type')).toBe('text/plain; charset=utf-8');
    expect(r.contentType).toBe('text/plain');
    expect(r.headers).toMatchObject({ host: 'example.com:8080', 'x-name': 'José', 'content-type': 'text/plain; charset=utf-8' });
    expect(r.url.href).toBe('http://example.com:8080/app/caf%C3%A9?q=1');
    expect(r.environ.PATH_INFO).toBe('/caf\xc3\xa9');
  });

  it('parses cookies with the cookie package (percent-decoded, first of a repeated name wins)', () => {
    const r = req({ HTTP_COOKIE: 'a=1; b=hello%20world; a=2; __proto__=x' });
    expect(r.cookies.a).toBe('1');
    expect(r.cookies.b).toBe('hello world');
    expect(Object.getPrototypeOf(r.cookies)).toBe(null);
  });

  it('reads the body as bytes, text and JSON; a second read of the stream is refused but bytes() is cached', async () => {
    const r = req({ CONTENT_TYPE: 'application/json' }, Buffer.from('{"name":"Zoë"}', 'utf8'));
    expect(await r.json()).toEqual({ name: 'Zoë' });
    expect(await r.text()).toBe('{"name":"Zoë"}');
    await expect(r.form()).rejects.toThrow(/expected a form body/);
  });

  it('refuses bad JSON with 400 and a non-JSON type with 415', async () => {
    expect((await rejection(req({ CONTENT_TYPE: 'application/json' }, b('{"a":')).json())).status).toBe(400);
    expect((await rejection(req({ CONTENT_TYPE: 'text/plain' }, b('{}')).json())).status).toBe(415);
    expect(await req({ CONTENT_TYPE: 'application/vnd.api+json' }, b('[1]')).json()).toEqual([1]);
  });

  it('enforces maxBodyBytes with 413, from CONTENT_LENGTH before reading', async () => {
    const e = await rejection(req({}, Buffer.alloc(11), { maxBodyBytes: 10 }).bytes());
    expect([e.status, e.code]).toEqual([413, 'ERR_LIMIT_BODY']);
    expect((await req({}, Buffer.alloc(10), { maxBodyBytes: 10 }).bytes()).length).toBe(10);
  });

  it('parses url-encoded forms as UTF-8, with a field limit', async () => {
    const f = await req({ CONTENT_TYPE: 'application/x-www-form-urlencoded' }, b('name=Jos%C3%A9&tags=a&tags=b+c')).form();
    expect([f.get('name'), f.getAll('tags')]).toEqual(['José', ['a', 'b c']]);
    const e = await rejection(req({ CONTENT_TYPE: 'application/x-www-form-urlencoded' }, b('a=1&b=2&c=3'), { maxFields: 2 }).form());
    expect(e.status).toBe(413);
  });

  it('parses multipart/form-data with busboy: fields and files, UTF-8 file names', async () => {
    const data = multipart('XyZ', [
      { name: 'title', data: 'Hello é' },
      { name: 'upload', filename: 'r\u00e9sum\u00e9.txt', type: 'text/plain', data: 'file body\r\nline 2' },
      { name: 'bin', filename: 'x.bin', type: 'application/octet-stream', data: Buffer.from([0, 255, 13, 10, 45, 45]) },
    ]);
    const m = await req({ CONTENT_TYPE: 'multipart/form-data; boundary=XyZ' }, data).multipart();
    expect(m.fields.get('title')).toBe('Hello é');
    expect(m.files.map((f) => [f.field, f.filename, f.mimeType, f.data.toString('latin1')])).toEqual([
      ['upload', 'résumé.txt', 'text/plain', 'file body\r\nline 2'],
      ['bin', 'x.bin', 'application/octet-stream', '\x00\xff\r\n--'],
    ]);
  });

  it('enforces multipart limits: file size, file count, whole body; a broken body is a 400', async () => {
    const type = { CONTENT_TYPE: 'multipart/form-data; boundary=B' };
    const big = multipart('B', [{ name: 'f', filename: 'a', data: 'x'.repeat(100) }]);
    expect((await rejection(req(type, big, { maxFileBytes: 50 }).multipart())).message).toMatch(/file a is larger than 50 bytes/);
    const many = multipart('B', [1, 2, 3].map((i) => ({ name: `f${i}`, filename: `${i}`, data: 'x' })));
    expect((await rejection(req(type, many, { maxFiles: 2 }).multipart())).status).toBe(413);
    expect((await rejection(req(type, big, { maxMultipartBytes: 64 }).multipart())).status).toBe(413);
    expect((await rejection(req(type, b('--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated')).multipart())).status).toBe(400);
    expect((await rejection(req({ CONTENT_TYPE: 'multipart/form-data' }, b('x')).multipart())).status).toBe(400);
  });
});

describe('Request over a real socket, with a real client', () => {
  it('a multipart upload from fetch() (undici\'s FormData encoding) arrives field for field and byte for byte', async () => {
    const app: App = async (environ, start) => {
      const m = await new Request(environ).multipart();
      const files = m.files.map((f) => ({ field: f.field, filename: f.filename, type: f.mimeType, sha: createHash('sha256').update(f.data).digest('hex') }));
      return Response.json({ fields: [...m.fields], files }).send(start);
    };
    const srv = await serveHttp(validate(app), { port: 0, accessLog: false });
    try {
      const data = Buffer.alloc(300_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
      const form = new FormData();
      form.append('title', 'Grüße');
      form.append('doc', new Blob([data], { type: 'application/pdf' }), 'rapport-été.pdf');
      const res = await fetch(`http://127.0.0.1:${srv.port}/upload`, { method: 'POST', body: form });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        fields: [['title', 'Grüße']],
        files: [{ field: 'doc', filename: 'rapport-été.pdf', type: 'application/pdf', sha: createHash('sha256').update(data).digest('hex') }],
      });
    } finally {
      await srv.close();
    }
  });
});

describe('Response', () => {
  it('text, JSON, HTML and bytes bodies, sent as an app, pass the validator byte for byte', async () => {
    const cases: Array<[Response, string]> = [
      [Response.text('héllo'), 'Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\r\nh\xc3\xa9llo'],
      [Response.json({ a: 'é' }, { status: 201 }), 'Status: 201 Created\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"a":"\xc3\xa9"}'],
      [Response.html('<b>x</b>', { headers: { 'X-Mode': 'résumé' } }), 'Status: 200 OK\r\nX-Mode: r\xc3\xa9sum\xc3\xa9\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 8\r\n\r\n<b>x</b>'],
      [Response.bytes(Buffer.from([1, 2])), 'Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\n\x01\x02'],
      [Response.redirect('/été?a=1'), 'Status: 302 Found\r\nLocation: /%C3%A9t%C3%A9?a=1\r\nContent-Type: application/octet-stream\r\nContent-Length: 0\r\n\r\n'],
      [Response.empty(), 'Status: 204 No Content\r\nContent-Length: 0\r\n\r\n'],
      [new Response(null, { status: 304, headers: [['ETag', '"x"'], ['Content-Type', 'text/plain']] }), 'Status: 304 Not Modified\r\nETag: "x"\r\nContent-Length: 0\r\n\r\n'],
    ];
    for (const [res, bytes] of cases) expect((await run(validate(res.toApp()))).sink.text).toBe(bytes);
  });

  it('sets and deletes cookies through the cookie package, HttpOnly and SameSite=Lax by default', async () => {
    const res = Response.text('ok').setCookie('theme', 'dark mode', { maxAge: 60 }).deleteCookie('old');
    const text = (await run(validate(res.toApp()))).sink.text;
    expect(text).toContain('\r\nSet-Cookie: theme=dark%20mode; Max-Age=60; Path=/; HttpOnly; SameSite=Lax\r\n');
    expect(text).toContain('\r\nSet-Cookie: old=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax\r\n');
  });

  it('headers: set replaces, append adds, get reads text; the status is checked', () => {
    const r = new Response('x').append('X-A', '1').append('x-a', '2');
    expect(r.headers.filter((h) => h[0].toLowerCase() === 'x-a')).toHaveLength(2);
    r.set('X-A', 'é');
    expect([r.get('x-a'), r.headers.length]).toEqual(['é', 1]);
    r.status = 418;
    expect(r.statusLine).toBe("418 I'm a Teapot");
    expect(() => { r.status = 99; }).toThrow(/not an HTTP status code/);
    expect(() => Response.json(undefined)).toThrow(/cannot be serialised/);
  });

  it('a header value with CR/LF never reaches the wire: the gateway refuses it (C12)', async () => {
    const app: App = Response.text('x', { headers: { 'X-Bad': 'a\r\nSet-Cookie: evil=1' } }).toApp();
    const r = await run(app);
    expect(r.sink.text).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(r.sink.text).not.toContain('evil');
  });
});
