// The lighter global Response (B6): the same members, errors and bytes on the
// wire as Node's Response, without the stream Node makes for a string body.
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { fromFetch, type FetchHandler } from '../../src/bridges/from-fetch.js';
import { installLightResponse, LightResponse, uninstallLightResponse } from '../../src/bridges/light-response.js';
import { run } from '../helpers.js';

const Native = globalThis.Response;
afterEach(() => uninstallLightResponse());

type Init = ConstructorParameters<typeof Response>[1];
const cases: [string, () => [unknown, Init]][] = [
  ['string', () => ['Hello, world!\n', undefined]],
  ['string with status, reason and headers', () => ['made', { status: 201, statusText: 'Made It', headers: { 'X-A': '1', 'Content-Type': 'text/html' } }]],
  ['non-ASCII string', () => ['café ✓', { headers: [['x-b', '2'], ['x-b', '3']] }]],
  ['empty string', () => ['', undefined]],
  ['null body 204', () => [null, { status: 204 }]],
  ['undefined body', () => [undefined, { status: 404 }]],
  ['bytes', () => [new Uint8Array([1, 2, 250]), { status: 200 }]],
  ['Buffer', () => [Buffer.from('buf'), undefined]],
  ['ArrayBuffer', () => [new Uint8Array([9, 8]).buffer, undefined]],
  ['Headers with Set-Cookie', () => { const h = new Headers(); h.append('Set-Cookie', 'a=1'); h.append('Set-Cookie', 'b=2'); return ['c', { headers: h }]; }],
  ['URLSearchParams (Node\'s)', () => [new URLSearchParams('a=1&b=2'), undefined]],
  ['stream (Node\'s)', () => [new ReadableStream({ start(c) { c.enqueue(new Uint8Array([65, 66])); c.close(); } }), undefined]],
];

async function members(r: Response): Promise<unknown> {
  const before = { status: r.status, statusText: r.statusText, ok: r.ok, type: r.type, url: r.url, redirected: r.redirected, bodyUsed: r.bodyUsed, headers: [...r.headers], tag: Object.prototype.toString.call(r) };
  const text = await r.text();
  let again = '';
  try { await r.text(); } catch (e) { again = (e as Error).constructor.name; }
  return { ...before, text, after: r.bodyUsed, again };
}

describe('LightResponse', () => {
  it('B6 every member answers as Node\'s Response does, for bodies it holds and bodies it leaves to Node', async () => {
    for (const [name, make] of cases) {
      const native = await members(new Native(...(make() as [never, Init])));
      installLightResponse();
      const made = new Response(...(make() as [never, Init]));
      const light = await members(made);
      uninstallLightResponse();
      expect(made instanceof LightResponse, name).toBe(true);
      expect(light, name).toEqual(native);
    }
  });

  it('B6 what Node refuses is refused with Node\'s error', () => {
    const bad: [unknown, Init][] = [['x', { status: 204 }], ['', { status: 304 }], ['x', { status: 99 }], ['x', { status: 600 }], ['x', { headers: { 'bad name': '1' } }], ['x', { statusText: 'line\nbreak' }], [null, { status: 1.5 }]];
    for (const [body, init] of bad) {
      let nativeErr = '';
      let lightErr = '';
      try { new Native(body as never, init); } catch (e) { nativeErr = `${(e as Error).name}: ${(e as Error).message}`; }
      installLightResponse();
      try { new Response(body as never, init); } catch (e) { lightErr = `${(e as Error).name}: ${(e as Error).message}`; }
      uninstallLightResponse();
      expect(nativeErr, JSON.stringify(init)).not.toBe('');
      expect(lightErr, JSON.stringify(init)).toBe(nativeErr);
    }
  });

  it('B6 instanceof holds for light and Node Responses, subclasses keep their members, the statics are Node\'s', async () => {
    installLightResponse();
    const light = new Response('x');
    const native = await fetchless();
    class Mine extends Response { hello(): string { return 'hi'; } }
    const mine = new Mine('body');
    expect([light instanceof Response, light instanceof Native, native instanceof Response]).toEqual([true, true, true]);
    expect([mine instanceof Mine, mine instanceof Response, light instanceof Mine, mine.hello(), await mine.text()]).toEqual([true, true, false, 'hi', 'body']);
    expect([Response.json({ a: 1 }).headers.get('content-type'), Response.redirect('http://h/x', 307).status, Response.error().type]).toEqual(['application/json', 307, 'error']);
    const c = new Response('twice');
    const copy = c.clone();
    expect([await c.text(), await copy.text()]).toEqual(['twice', 'twice']);
    // Headers changed after construction are the ones sent.
    const later = new Response('h');
    later.headers.append('Set-Cookie', 'late=1');
    expect(later.headers.getSetCookie()).toEqual(['late=1']);
  });

  const fetchless = async (): Promise<Response> => new Native('native');

  it('B6 through the bridge: the same bytes as with Node\'s Response, and a sent Response cannot be read again', async () => {
    const hono = new Hono();
    hono.get('/t', (c) => c.text('text'));
    hono.get('/j', (c) => c.json({ a: [1, 'é'] }, 202));
    hono.get('/h', (c) => { c.header('Set-Cookie', 'a=1'); c.header('Set-Cookie', 'b=2', { append: true }); return c.html('<p>é</p>'); });
    hono.get('/boom', () => { throw new Error('x'); });
    hono.onError((_e, c) => c.text('broke', 500));
    let kept: Response | undefined;
    const handlers: [string, FetchHandler, Record<string, string>][] = [
      ['hono text', hono, { HTTP_HOST: 'h', PATH_INFO: '/t', REQUEST_URI: '/t' }],
      ['hono json', hono, { HTTP_HOST: 'h', PATH_INFO: '/j', REQUEST_URI: '/j' }],
      ['hono cookies', hono, { HTTP_HOST: 'h', PATH_INFO: '/h', REQUEST_URI: '/h' }],
      ['hono 404', hono, { HTTP_HOST: 'h', PATH_INFO: '/none', REQUEST_URI: '/none' }],
      ['hono 500', hono, { HTTP_HOST: 'h', PATH_INFO: '/boom', REQUEST_URI: '/boom' }],
      ['HEAD', hono, { REQUEST_METHOD: 'HEAD', HTTP_HOST: 'h', PATH_INFO: '/t', REQUEST_URI: '/t' }],
      ['bytes', () => new Response(new Uint8Array([0, 1, 2]), { status: 203 }), {}],
      ['empty', () => new Response(''), {}],
      ['204', () => new Response(null, { status: 204 }), {}],
    ];
    for (const [name, handler, vars] of handlers) {
      const native = (await run(fromFetch(handler), vars)).sink.text;
      const light = (await run(fromFetch(handler, { lightResponse: true }), vars)).sink.text;
      uninstallLightResponse();
      expect(light, name).toBe(native);
    }
    installLightResponse();
    await run(fromFetch(() => (kept = new Response('once'))));
    expect(kept!.bodyUsed).toBe(true);
    await expect(kept!.text()).rejects.toThrow(TypeError);
  });

  it('B6 installing leaves a Response someone else installed alone; uninstalling puts Node\'s back', () => {
    expect(installLightResponse()).toBe(true);
    expect(globalThis.Response).toBe(LightResponse);
    uninstallLightResponse();
    expect(globalThis.Response).toBe(Native);
    class Other extends Native {}
    globalThis.Response = Other;
    try {
      expect(installLightResponse()).toBe(false);
      expect(globalThis.Response).toBe(Other);
    } finally {
      globalThis.Response = Native;
    }
  });

  // Replacing a global changes the whole process: the command leaves Node's Response alone for
  // a fetch app unless the operator opts in.
  it('B6 tsgi cgi of a fetch app: Node\'s global Response unless TSGI_FETCH_RESPONSE=light', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-light-'));
    const app = join(dir, 'app.mjs');
    writeFileSync(app, 'export default { fetch: () => new Response(globalThis.Response.name) };\n');
    const bin = new URL('../../bin/tsgi.cjs', import.meta.url).pathname;
    const env = { PATH: process.env.PATH ?? '', GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SERVER_PROTOCOL: 'HTTP/1.1', SERVER_NAME: 'localhost', SERVER_PORT: '80', SCRIPT_NAME: '/app', PATH_INFO: '/' };
    const body = (extra: Record<string, string>): string => {
      const r = spawnSync(process.execPath, [bin, 'cgi', app], { env: { ...env, ...extra }, encoding: 'latin1' });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Status: 200 OK\r\n/);
      return r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4);
    };
    expect(body({})).toBe('Response');
    expect(body({ TSGI_FETCH_RESPONSE: 'native' })).toBe('Response');
    expect(body({ TSGI_FETCH_RESPONSE: 'light' })).toMatch(/^_*LightResponse$/); // the bundle may prefix the class's name
  });
});
