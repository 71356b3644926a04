// H1: a path rule holds for every spelling of a path that the app below may
// route to the same handler. The apps below are real Express and Hono apps
// behind the real bridges, served by the dev HTTP server and reached with raw
// request targets on a socket (an HTTP client would tidy them first).
import { Buffer } from 'node:buffer';
import express from 'express';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromFetch } from '../../src/bridges/from-fetch.js';
import { fromNodeListener } from '../../src/bridges/from-node-listener.js';
import type { App, Header } from '../../src/contract/types.js';
import { auth } from '../../src/middleware/auth.js';
import { compose } from '../../src/middleware/compose.js';
import { DECODE_ROUNDS, matcher, pathForms } from '../../src/middleware/paths.js';
import { serveHttp, type HttpServer } from '../../src/server/http.js';
import { fetchRaw } from '../integration/http-client.js';
import { b, makeEnviron, run } from '../helpers.js';

const BASIC = `Basic ${Buffer.from('admin:pw').toString('base64')}`;

/** The Express app of the README's example: its secret under /admin, routed case-insensitively (Express's default). */
function expressApp(): express.Express {
  const app = express();
  app.get('/admin/secret', (_req, res) => { res.send('SECRET'); });
  app.get('/admin/:file', (req, res) => { res.send(`ADMIN FILE ${req.params.file}`); });
  app.get('/health', (_req, res) => { res.send('HEALTHY'); });
  app.get('/public', (_req, res) => { res.send('PUBLIC'); });
  app.use((req, res) => { res.status(404).send(`no route for ${req.url}`); });
  return app;
}

/** A Hono app: routes on the decoded path, case-sensitively. */
function honoApp(): Hono {
  const app = new Hono();
  app.get('/admin/secret', (c) => c.text('SECRET'));
  app.get('/admin/:file', (c) => c.text(`ADMIN FILE ${c.req.param('file')}`));
  app.get('/health', (c) => c.text('HEALTHY'));
  app.notFound((c) => c.text('no route', 404));
  return app;
}

// Spellings of /admin/… that some router sends to an /admin handler, or that an
// attacker would try: case, percent-encoding (of letters, slashes, dots, twice
// over), dot segments, repeated slashes, path parameters, trailing dots,
// backslashes, an absolute-form target.
const SPELLINGS = [
  '/admin/secret', '/ADMIN/secret', '/Admin/Secret', '/aDmIn/SECRET/', '/%61dmin/secret', '/%41DMIN/secret', '/ad%6Din/secret',
  '/%2561dmin/secret', '/%252561dmin/secret', '//admin/secret', '/admin//secret', '/./admin/secret', '/x/../admin/secret',
  '/X/../ADMIN/secret', '/%2e/admin/secret', '/x/%2e%2e/admin/secret', '/x/%252e%252e/admin/secret', '/x%2F..%2Fadmin/secret',
  '/x%2f..%2fadmin/secret', '/admin%2Fsecret', '/admin/..%2Fpublic', '/ADMIN/..%2Fpublic', '/admin/.%2e/public', '/admin;x/secret',
  '/admin./secret', '/admin/secret;x', '/admin/secret.', '/admin%20/secret', '/admin\\secret', '/\\admin/secret',
  '/admin%00/secret', 'http://evil.example/ADMIN/secret',
];

async function serve(app: App): Promise<HttpServer> {
  return serveHttp(app, { port: 0, accessLog: false });
}
const get = (srv: HttpServer, target: string, extra = ''): ReturnType<typeof fetchRaw> =>
  fetchRaw(srv.port, `GET ${target} HTTP/1.0\r\nHost: test${extra}`);

describe('H1 auth() protect: every spelling the app below may route to /admin', () => {
  let open: HttpServer;
  let guarded: HttpServer;
  let honoOpen: HttpServer;
  let honoGuarded: HttpServer;
  beforeAll(async () => {
    open = await serve(fromNodeListener(expressApp()));
    guarded = await serve(compose(fromNodeListener(expressApp()), auth({ basic: { admin: 'pw' }, protect: ['/admin'] })));
    honoOpen = await serve(fromFetch(honoApp()));
    honoGuarded = await serve(compose(fromFetch(honoApp()), auth({ basic: { admin: 'pw' }, protect: ['/admin'] })));
  });
  afterAll(async () => {
    await Promise.all([open.close(0), guarded.close(0), honoOpen.close(0), honoGuarded.close(0)]);
  });

  it('H1 Express (case-insensitive routes) behind fromNodeListener + compose: /ADMIN/secret and /Admin/Secret are 401, as /admin/secret is', async () => {
    // What Express itself does with these: the secret, whatever the letter case.
    for (const t of ['/admin/secret', '/ADMIN/secret', '/Admin/Secret']) {
      const r = await get(open, t);
      expect(`${t} ${r.status} ${r.body.toString()}`).toBe(`${t} 200 SECRET`);
    }
    for (const t of ['/admin/secret', '/ADMIN/secret', '/Admin/Secret']) {
      const r = await get(guarded, t);
      expect(`${t} ${r.status}`).toBe(`${t} 401`);
      expect(r.head).toContain('\r\nWWW-Authenticate: Basic realm="tsgi", charset="UTF-8"\r\n');
      expect(r.body.toString()).toBe('Unauthorized\n');
      // With the credentials, Express answers as it would without the layer.
      const ok = await get(guarded, t, `\r\nAuthorization: ${BASIC}`);
      expect(`${t} ${ok.status} ${ok.body.toString()}`).toBe(`${t} 200 SECRET`);
    }
  });

  it('H1 Express: no spelling of an /admin path reaches an /admin handler without credentials (encoded, dotted, doubled, ;params, trailing dots)', async () => {
    const reached: string[] = [];
    for (const t of SPELLINGS) {
      const bare = await get(open, t);
      if (/^(SECRET|ADMIN FILE)/.test(bare.body.toString())) reached.push(t);
      const r = await get(guarded, t);
      // 400 is node:http refusing the target itself; anything else must be the 401.
      expect(`${t} ${r.status}`).toMatch(new RegExp(`^${t.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')} (401|400)$`));
      expect(r.body.toString(), t).not.toMatch(/SECRET|ADMIN FILE/);
    }
    // The list holds spellings Express really routes to an admin handler, not just ones it ignores.
    expect(reached).toEqual(expect.arrayContaining(['/ADMIN/secret', '/Admin/Secret', '/aDmIn/SECRET/', '/admin/..%2Fpublic', '/ADMIN/..%2Fpublic', '/admin/secret;x', '/admin/secret.']));
  });

  it('H1 Hono (decodes the path once, case-sensitive) behind fromFetch: %61dmin and every other spelling is 401', async () => {
    const reached: string[] = [];
    for (const t of SPELLINGS) {
      const bare = await get(honoOpen, t);
      if (/^(SECRET|ADMIN FILE)/.test(bare.body.toString())) reached.push(t);
      const r = await get(honoGuarded, t);
      expect(r.body.toString(), t).not.toMatch(/SECRET|ADMIN FILE/);
      expect([400, 401], t).toContain(r.status);
    }
    expect(reached).toEqual(expect.arrayContaining(['/admin/secret', '/%61dmin/secret', '/ad%6Din/secret', '/admin/..%2Fpublic']));
  });

  it('H1 what lies outside the prefix stays open: /public, /administrator, /health', async () => {
    for (const [t, body] of [['/public', 'PUBLIC'], ['/health', 'HEALTHY'], ['/administrator', 'no route for /administrator']]) {
      const r = await get(guarded, t!);
      expect(`${t} ${r.status} ${r.body.toString()}`).toBe(`${t} ${t === '/administrator' ? 404 : 200} ${body}`);
    }
  });
});

describe('H1 path rules in process', () => {
  const TEXT: Header[] = [['Content-Type', 'text/plain']];
  const ok: App = (_e, s) => { s('200 OK', TEXT); return [b('open')]; };

  it('H1 a PATH_INFO the web server tidied does not hide the raw target Express routes by (nginx: /admin/..%2Fpublic → PATH_INFO /public)', async () => {
    const app = compose(fromNodeListener(expressApp()), auth({ apiKeys: ['k-123456'], protect: ['/admin'] }));
    const r = await run(app, { PATH_INFO: '/public', REQUEST_URI: '/admin/..%2Fpublic' });
    expect(r.sink.text).toMatch(/^Status: 401 /);
    // Mounted: the raw target is taken relative to SCRIPT_NAME, as the bridge hands it to Express.
    const m = await run(app, { SCRIPT_NAME: '/app', PATH_INFO: '/public', REQUEST_URI: '/app/ADMIN/..%2Fpublic?x=1' });
    expect(m.sink.text).toMatch(/^Status: 401 /);
    const pub = await run(app, { SCRIPT_NAME: '/app', PATH_INFO: '/public', REQUEST_URI: '/app/public?x=1' });
    expect(pub.sink.text).toContain('PUBLIC');
  });

  it('H1 targets Express reads through url.parse: white space trimmed off the ends (raw 0xA0, tab), x:/path, a backslash ending the host', async () => {
    // What Express itself routes each to, without auth(): the /admin handler (the reason for the rule).
    const bare = fromNodeListener(expressApp());
    const app = compose(fromNodeListener(expressApp()), auth({ apiKeys: ['k-123456'], protect: ['/admin'] }));
    for (const uri of ['/admin/secret\xa0', '/admin/secret\t', '/ADMIN/secret\xa0\xa0', 'x:/admin/secret', 'http://h\\admin/secret', '\xa0/admin/secret']) {
      expect((await run(bare, { PATH_INFO: uri.startsWith('/') ? uri : '/x', REQUEST_URI: uri })).sink.text, JSON.stringify(uri)).toContain('SECRET');
      expect((await run(app, { PATH_INFO: uri.startsWith('/') ? uri : '/x', REQUEST_URI: uri })).sink.text, JSON.stringify(uri)).toMatch(/^Status: 401 /);
    }
    // A trailing blank in the query is the query's: /public stays open.
    expect((await run(app, { PATH_INFO: '/public', REQUEST_URI: '/public?x=\xa0' })).sink.text).toContain('PUBLIC');
  });

  it('H1 exclude applies only when every spelling is excluded, in the case written; protect in any case', async () => {
    const app = auth({ apiKeys: ['k-123456'], exclude: ['/health'] })(ok);
    expect((await run(app, { PATH_INFO: '/health', REQUEST_URI: '/health?full=1' })).sink.text).toContain('open');
    for (const [p, uri] of [['/health/../admin', '/health/../admin'], ['/admin', '/health/..%2Fadmin'], ['/HEALTH', '/HEALTH'],
      ['/health', '/health%2F..%2Fadmin'], ['/health/x', '/health/x%252F..%252F..%252Fadmin']]) {
      expect((await run(app, { PATH_INFO: p!, REQUEST_URI: uri! })).sink.text, uri).toMatch(/^Status: 401 /);
    }
  });

  it(`H1 a path still encoded after ${DECODE_ROUNDS} rounds of decoding is protected and never excluded`, async () => {
    const deep = `/${'%25'.repeat(1)}${'25'.repeat(DECODE_ROUNDS)}61dmin`;
    expect(pathForms(makeEnviron({ PATH_INFO: deep }).environ)).toBeUndefined();
    const prot = auth({ apiKeys: ['k-123456'], protect: ['/admin'] })(ok);
    const excl = auth({ apiKeys: ['k-123456'], exclude: ['/'] })(ok);
    expect((await run(prot, { PATH_INFO: deep })).sink.text).toMatch(/^Status: 401 /);
    expect((await run(excl, { PATH_INFO: deep })).sink.text).toMatch(/^Status: 401 /);
    // One round less is spelled out in full: /admin, protected; and a plain path stays one spelling.
    const shallow = `/%${'25'.repeat(DECODE_ROUNDS - 1)}61dmin`;
    expect(pathForms(makeEnviron({ PATH_INFO: shallow }).environ)).toContain('/admin');
    expect(pathForms(makeEnviron({ PATH_INFO: '/a/b.css', REQUEST_URI: '/a/b.css?v=1' }).environ)).toEqual(['/a/b.css']);
  });

  it('H1 spelling out a hostile path stays linear in its length: 60 000 dots or encodings in one segment', () => {
    // A quadratic step here would hold the event loop for seconds on one request; the
    // limit below is three orders of magnitude above the linear cost.
    const dots = `/admin/${'.'.repeat(60_000)}x`;
    expect(pathForms(makeEnviron({ PATH_INFO: dots, REQUEST_URI: dots }).environ)).toContain(dots);
    const trailing = `/admin${'.'.repeat(60_000)}/x`;
    expect(pathForms(makeEnviron({ PATH_INFO: trailing }).environ)).toContain('/admin/x');
    const encoded = `/${'%2e'.repeat(20_000)}/admin`;
    expect(pathForms(makeEnviron({ PATH_INFO: '/x', REQUEST_URI: encoded }).environ)).toContain(`/${'.'.repeat(20_000)}/admin`);
  }, 5_000); // linear: milliseconds; the quadratic trim took over 7 s for the first input alone

  it('H1 RegExp rules: tested on every spelling, case-insensitively when they protect, and never stateful (a /g flag)', () => {
    const env = (p: string, uri = p) => makeEnviron({ PATH_INFO: p, REQUEST_URI: uri }).environ;
    const prot = matcher([/^\/admin(\/|$)/g], true, 'test');
    for (let i = 0; i < 3; i++) expect(prot(env('/admin/x'))).toBe(true);
    expect(prot(env('/ADMIN/x'))).toBe(true);
    expect(prot(env('/x/../admin'))).toBe(true);
    expect(prot(env('/pub', '/%61dmin'))).toBe(true);
    expect(prot(env('/administrator'))).toBe(false);
    const excl = matcher([/^\/health$/], false, 'test', 'all');
    expect(excl(env('/health'))).toBe(true);
    expect(excl(env('/HEALTH'))).toBe(false);
    expect(excl(env('/health', '/admin/..%2Fhealth'))).toBe(false);
  });

  it('H1 a prefix is text: a non-ASCII prefix matches the UTF-8 bytes PATH_INFO holds', () => {
    const prot = matcher(['/caf\u00e9'], false, 'test');
    expect(prot(makeEnviron({ PATH_INFO: '/caf\xc3\xa9/menu' }).environ)).toBe(true);
    expect(prot(makeEnviron({ PATH_INFO: '/CAF\xc3\xa9' }).environ)).toBe(true);
    expect(prot(makeEnviron({ PATH_INFO: '/cafe' }).environ)).toBe(false);
  });
});
