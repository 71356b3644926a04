// auth() and cors(): exact responses, and their hostile cases (wrong keys,
// forged Basic headers, credentials with '*', disallowed origins).
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import type { App, Environ, Header } from '../../src/contract/types.js';
import { auth, safeEqual } from '../../src/middleware/auth.js';
import { cors } from '../../src/middleware/cors.js';
import { validate } from '../../src/middleware/validate.js';
import { b, run } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TEXT: Header[] = [['Content-Type', 'text/plain']];
let last: Environ | undefined;
const whoami: App = (env, s) => {
  last = env;
  s('200 OK', TEXT);
  return [b(`user=${env.REMOTE_USER ?? '-'} auth=${JSON.stringify(env['tsgi.auth'] ?? null)}`)];
};
const basicHeader = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
const DENIED = 'Status: 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\n' +
  'WWW-Authenticate: Basic realm="tsgi", charset="UTF-8"\r\nWWW-Authenticate: ApiKey header="X-API-Key"\r\n' +
  'Cache-Control: no-store\r\nContent-Length: 13\r\n\r\nUnauthorized\n';

describe('auth()', () => {
  const app = validate(auth({ apiKeys: ['k-123456', 'second-key'], basic: { alice: 's3cret', 'jos\u00e9': 'p\u00e4ss' }, protect: ['/admin'] })(whoami));

  it('answers 401 with WWW-Authenticate when no credentials are given', async () => {
    expect((await run(app, { PATH_INFO: '/admin' })).sink.text).toBe(DENIED);
  });

  it('refuses wrong API keys: a prefix, a longer key, another case, empty', async () => {
    for (const key of ['k-12345', 'k-1234567', 'K-123456', 'k-123456 ', 'second-key\0']) {
      expect((await run(app, { PATH_INFO: '/admin/x', HTTP_X_API_KEY: key })).sink.text).toBe(DENIED);
    }
  });

  it('accepts each configured API key and records which one', async () => {
    const r = await run(app, { PATH_INFO: '/admin/x', HTTP_X_API_KEY: 'second-key' });
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\nuser=- auth={"scheme":"apikey","user":"1"}');
  });

  it('a wrong API key is refused even with good Basic credentials alongside', async () => {
    const r = await run(app, { PATH_INFO: '/admin', HTTP_X_API_KEY: 'nope', HTTP_AUTHORIZATION: basicHeader('alice', 's3cret') });
    expect(r.sink.text).toBe(DENIED);
  });

  it('accepts Basic credentials, sets REMOTE_USER (bytes-as-string) and AUTH_TYPE', async () => {
    const r = await run(app, { PATH_INFO: '/admin', HTTP_AUTHORIZATION: basicHeader('jos\u00e9', 'p\u00e4ss') });
    expect(r.sink.text).toContain('\r\n\r\nuser=jos\xc3\xa9 auth={"scheme":"basic","user":"jos\u00e9"}');
    expect(last!.AUTH_TYPE).toBe('Basic');
  });

  it('refuses wrong passwords, unknown users, no colon, bad base64 and other schemes', async () => {
    for (const h of [basicHeader('alice', 'wrong'), basicHeader('alice', 's3cret '), basicHeader('mallory', 's3cret'),
      `Basic ${Buffer.from('alices3cret').toString('base64')}`, 'Basic !!!', 'Bearer abc', basicHeader('', '')]) {
      expect((await run(app, { PATH_INFO: '/admin', HTTP_AUTHORIZATION: h })).sink.text).toBe(DENIED);
    }
  });

  it('protects only the configured paths, at segment boundaries', async () => {
    expect((await run(app, { PATH_INFO: '/' })).sink.text).toContain('\r\n\r\nuser=- auth=null');
    expect((await run(app, { PATH_INFO: '/administrator' })).sink.text).toContain('auth=null');
    expect((await run(app, { PATH_INFO: '/admin/' })).sink.text).toBe(DENIED);
  });

  it('a protected path cannot be reached by spelling it differently: //, /./, /x/../', async () => {
    for (const p of ['//admin', '/./admin', '/x/../admin', '/admin/./', '//admin//x']) {
      expect((await run(app, { PATH_INFO: p })).sink.text, p).toBe(DENIED);
    }
    expect(() => auth({ apiKeys: ['k'], protect: ['admin'] })).toThrow(/must start with '\/'/);
    // An exclusion applies only when the path is excluded both as sent and tidied.
    const ex = auth({ apiKeys: ['k-123456'], exclude: ['/health'] })(whoami);
    expect((await run(ex, { PATH_INFO: '/health' })).sink.text).toContain('auth=null');
    for (const p of ['/admin/../health', '/health/../admin']) expect((await run(ex, { PATH_INFO: p })).sink.text, p).toMatch(/^Status: 401 /);
  });

  it('exclude wins over protect; an async check works; options are checked', async () => {
    const a = auth({ basic: async (u, p) => u === 'bob' && p === 'pw', exclude: [/^\/health$/] })(whoami);
    expect((await run(a, { PATH_INFO: '/health' })).sink.text).toContain('auth=null');
    expect((await run(a, { HTTP_AUTHORIZATION: basicHeader('bob', 'pw') })).sink.text).toContain('user=bob');
    expect((await run(a, { HTTP_AUTHORIZATION: basicHeader('bob', 'px') })).sink.text).toMatch(/^Status: 401 /);
    expect(() => auth({})).toThrow(GatewayError);
    expect(() => auth({ apiKeys: [''] })).toThrow(/apiKeys\[0\]/);
  });

  it('a basic password that is not set (the README snippet without ADMIN_PASSWORD) fails at construction, naming the user', () => {
    const env: Record<string, string | undefined> = {};
    expect(() => auth({ basic: { admin: env.ADMIN_PASSWORD! }, protect: ['/admin'] }))
      .toThrow('auth(): the password of basic user "admin" is undefined; it must be a non-empty string (is the environment variable it is read from set?)');
    expect(() => auth({ basic: { admin: '' } })).toThrow(/basic user "admin" is empty/);
    expect(() => auth({ basic: { 'a:b': 'pw' } })).toThrow(/can never log in/);
    expect(() => auth({ basic: {} })).toThrow(/basic has no users/);
    expect(() => auth({ basic: 'admin:pw' as never })).toThrow(/basic must be a \{ user: password \} object or a check function/);
    expect(() => auth({ apiKeys: 'k' as never })).toThrow(/apiKeys must be a list/);
    expect(() => auth({ apiKeys: ['k'], apiKeyHeader: 'X Key' })).toThrow(/apiKeyHeader "X Key" is not a header name/);
    expect(() => auth({ apiKeys: ['k'], realm: 'a\r\nX-Evil: 1' })).toThrow(/realm .* has a control character/);
    for (const bad of [undefined, null]) expect(() => auth(bad as never)).toThrow(GatewayError);
  });

  it('the README snippet with ADMIN_PASSWORD unset: tsgi says which option, not a TypeError from inside the bundle', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-auth-'));
    const file = join(dir, 'app.mjs');
    writeFileSync(file, `import { compose, auth } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/middleware.js')).href)};
const app = (_e, s) => { s('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('hi')]; };
export default compose(app, auth({ basic: { admin: process.env.ADMIN_PASSWORD }, protect: ['/admin'] }));
`);
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/tsgi.cjs'), 'http', file, '--port', '0'], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('auth(): the password of basic user "admin" is undefined');
    expect(r.stderr).not.toContain('"data" argument');
  });

  it('safeEqual compares strings of any length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('cors()', () => {
  const hello: App = (_e, s) => { s('200 OK', [['Content-Type', 'text/plain'], ['Access-Control-Allow-Origin', '*']]); return [b('hi')]; };
  const app = validate(cors({ origins: ['https://app.example'], credentials: true, exposeHeaders: ['X-Total'] })(hello));

  it('reflects an allowed origin with Vary: Origin and credentials, replacing the app\'s own CORS headers', async () => {
    const r = await run(app, { HTTP_ORIGIN: 'https://app.example' });
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nVary: Origin\r\n' +
      'Access-Control-Allow-Origin: https://app.example\r\nAccess-Control-Allow-Credentials: true\r\n' +
      'Access-Control-Expose-Headers: X-Total\r\nContent-Length: 2\r\n\r\nhi');
  });

  it('gives a disallowed origin (including a look-alike and "null") no CORS headers, only Vary', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.evil', 'http://app.example', 'null', 'https://APP.example']) {
      expect((await run(app, { HTTP_ORIGIN: origin })).sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nVary: Origin\r\nContent-Length: 2\r\n\r\nhi');
    }
    expect((await run(app)).sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nVary: Origin\r\nContent-Length: 2\r\n\r\nhi');
  });

  it('answers an allowed preflight itself with 204', async () => {
    const r = await run(app, { REQUEST_METHOD: 'OPTIONS', HTTP_ORIGIN: 'https://app.example', HTTP_ACCESS_CONTROL_REQUEST_METHOD: 'PUT', HTTP_ACCESS_CONTROL_REQUEST_HEADERS: 'Content-Type, X-Token' });
    expect(r.sink.text).toBe('Status: 204 No Content\r\nVary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n' +
      'Access-Control-Allow-Origin: https://app.example\r\nAccess-Control-Allow-Credentials: true\r\n' +
      'Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE\r\nAccess-Control-Allow-Headers: content-type, x-token\r\n' +
      'Access-Control-Max-Age: 600\r\nContent-Length: 0\r\n\r\n');
  });

  it('refuses a preflight from another origin, for another method, or with headers not allowed', async () => {
    const strict = cors({ origins: ['https://app.example'], allowHeaders: ['content-type'] })(hello);
    for (const vars of <Array<Record<string, string>>>[
      { HTTP_ORIGIN: 'https://evil.example', HTTP_ACCESS_CONTROL_REQUEST_METHOD: 'GET' },
      { HTTP_ORIGIN: 'https://app.example', HTTP_ACCESS_CONTROL_REQUEST_METHOD: 'TRACE' },
      { HTTP_ORIGIN: 'https://app.example', HTTP_ACCESS_CONTROL_REQUEST_METHOD: 'GET', HTTP_ACCESS_CONTROL_REQUEST_HEADERS: 'x-secret' },
    ]) {
      const r = await run(strict, { REQUEST_METHOD: 'OPTIONS', ...vars });
      expect(r.sink.text).toMatch(/^Status: 403 Forbidden\r\n/);
      expect(r.sink.text).not.toContain('Access-Control-Allow-Origin');
    }
  });

  it("never combines '*' with credentials: refused when built", () => {
    expect(() => cors({ origins: '*', credentials: true })).toThrow(/cannot be combined with credentials/);
  });

  it("'*' without credentials answers '*' and needs no Vary", async () => {
    const r = await run(cors({ origins: '*' })(hello), { HTTP_ORIGIN: 'https://any.example' });
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: 2\r\n\r\nhi');
  });

  it('a predicate decides per origin; a plain OPTIONS (no preflight) reaches the app', async () => {
    const p = cors({ origins: (o) => o.endsWith('.trusted.example') })(hello);
    expect((await run(p, { HTTP_ORIGIN: 'https://a.trusted.example' })).sink.text).toContain('Access-Control-Allow-Origin: https://a.trusted.example\r\n');
    expect((await run(p, { REQUEST_METHOD: 'OPTIONS', HTTP_ORIGIN: 'https://a.trusted.example' })).sink.text).toContain('\r\n\r\nhi');
  });
});
