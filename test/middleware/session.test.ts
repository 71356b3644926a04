// session(): the cookie's attributes, the visit counter across requests, and
// the hostile cases: forged, tampered and re-signed cookies, expiry, a full store.
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import type { App, Header } from '../../src/contract/types.js';
import { getSession, MemoryStore, session, type Session, type SessionData, type SessionStore } from '../../src/middleware/session.js';
import { validate } from '../../src/middleware/validate.js';
import { b, run } from '../helpers.js';

const SECRET = 'a-test-secret-that-is-long-enough-1234';
const TEXT: Header[] = [['Content-Type', 'text/plain']];

/** Counts visits in the session; `?logout` destroys it, `?login` regenerates the id. */
const counter: App = (env, s) => {
  const sess = env['tsgi.session'] as Session;
  if (env.QUERY_STRING === 'logout') sess.destroy();
  else if (env.QUERY_STRING === 'peek') { /* read only */ } else {
    if (env.QUERY_STRING === 'login') sess.regenerate();
    sess.set('n', (sess.get<number>('n') ?? 0) + 1);
  }
  s('200 OK', TEXT);
  return [b(`n=${sess.get<number>('n') ?? 0} new=${sess.isNew}`)];
};

function cookieOf(text: string): string | undefined {
  return /\r\nSet-Cookie: ([^\r]*)\r\n/.exec(text)?.[1];
}
const pair = (setCookie: string): string => setCookie.split(';', 1)[0]!;
const body = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);

/** A store that records what is asked of it. */
class SpyStore implements SessionStore {
  inner = new MemoryStore();
  calls: string[] = [];
  get(id: string): SessionData | undefined { this.calls.push(`get ${id}`); return this.inner.get(id); }
  set(id: string, d: SessionData, e: number): void { this.calls.push(`set ${id}`); this.inner.set(id, d, e); }
  delete(id: string): void { this.calls.push(`delete ${id}`); this.inner.delete(id); }
}

describe('session()', () => {
  it('sets an HttpOnly, SameSite=Lax cookie holding a signed random id, and counts visits', async () => {
    const app = validate(session({ secret: SECRET })(counter));
    const first = await run(app);
    const set = cookieOf(first.sink.text)!;
    expect(set).toMatch(/^tsgi\.sid=[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{43}; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(body(first.sink.text)).toBe('n=1 new=true');
    const second = await run(app, { HTTP_COOKIE: `other=1; ${pair(set)}` });
    expect(body(second.sink.text)).toBe('n=2 new=false');
    const third = await run(app, { HTTP_COOKIE: pair(set) });
    expect(body(third.sink.text)).toBe('n=3 new=false');
  });

  it('adds Secure under https, and uses the mount point as the cookie path', async () => {
    const r = await run(session({ secret: SECRET })(counter), { HTTPS: 'on', SCRIPT_NAME: '/shop' });
    expect(cookieOf(r.sink.text)).toMatch(/; Path=\/shop; HttpOnly; Secure; SameSite=Lax$/);
  });

  it('sends no cookie and stores nothing when the session is not touched', async () => {
    const store = new SpyStore();
    const r = await run(session({ secret: SECRET, store })(counter), { QUERY_STRING: 'peek' });
    expect(cookieOf(r.sink.text)).toBeUndefined();
    expect(store.calls).toEqual([]);
  });

  it('ignores forged and tampered cookies without asking the store, and starts a new session', async () => {
    const store = new SpyStore();
    const app = session({ secret: SECRET, store })(counter);
    const set = pair(cookieOf((await run(app)).sink.text)!);
    const [name, value] = set.split('=') as [string, string];
    const [id, sig] = value.split('.') as [string, string];
    const other = session({ secret: 'another-secret-that-is-long-enough-5678' })(counter);
    const foreign = pair(cookieOf((await run(other)).sink.text)!).split('=')[1]!;
    store.calls = [];
    for (const forged of [
      `${id}.${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`, // one character of the signature changed
      `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}.${sig}`,  // the id changed, signature kept
      id, `${id}.`, `.${sig}`, `${id}.${sig}.${sig}`, foreign, `${id}.${sig}x`, 'x'.repeat(5000),
    ]) {
      const r = await run(app, { HTTP_COOKIE: `${name}=${forged}` });
      expect(body(r.sink.text)).toBe('n=1 new=true');
    }
    expect(store.calls.filter((c) => c.startsWith('get'))).toEqual([]);
    // The genuine cookie still works.
    expect(body((await run(app, { HTTP_COOKIE: set })).sink.text)).toBe('n=2 new=false');
  });

  it('rotates secrets: a cookie signed with an old secret still verifies when it is listed second', async () => {
    const store = new MemoryStore();
    const old = pair(cookieOf((await run(session({ secret: SECRET, store })(counter))).sink.text)!);
    const rotated = session({ secret: ['a-brand-new-secret-that-is-long-enough-9', SECRET], store })(counter);
    expect(body((await run(rotated, { HTTP_COOKIE: old })).sink.text)).toBe('n=2 new=false');
  });

  it('expires sessions after maxAge', async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now });
    const app = session({ secret: SECRET, store, maxAge: 60, now: () => now })(counter);
    const set = pair(cookieOf((await run(app)).sink.text)!);
    now += 59_000;
    expect(body((await run(app, { HTTP_COOKIE: set })).sink.text)).toBe('n=2 new=false');
    now += 61_000;
    expect(body((await run(app, { HTTP_COOKIE: set })).sink.text)).toBe('n=1 new=true');
  });

  it('keeps at most maxEntries sessions, dropping the least recently used', async () => {
    const store = new MemoryStore({ maxEntries: 2 });
    const app = session({ secret: SECRET, store })(counter);
    const a = pair(cookieOf((await run(app)).sink.text)!);
    const b2 = pair(cookieOf((await run(app)).sink.text)!);
    await run(app, { HTTP_COOKIE: a }); // a is now the most recently used
    await run(app); // a third session evicts b
    expect(store.size).toBe(2);
    expect(body((await run(app, { HTTP_COOKIE: a })).sink.text)).toBe('n=3 new=false');
    expect(body((await run(app, { HTTP_COOKIE: b2 })).sink.text)).toBe('n=1 new=true');
  });

  it('destroy() deletes the entry and clears the cookie; regenerate() moves the data to a new id', async () => {
    const store = new SpyStore();
    const app = session({ secret: SECRET, store })(counter);
    const set = pair(cookieOf((await run(app)).sink.text)!);
    const login = await run(app, { HTTP_COOKIE: set, QUERY_STRING: 'login' });
    const moved = pair(cookieOf(login.sink.text)!);
    expect(moved).not.toBe(set);
    expect(body(login.sink.text)).toBe('n=2 new=false');
    expect(body((await run(app, { HTTP_COOKIE: set })).sink.text)).toBe('n=1 new=true'); // the old id is gone
    const out = await run(app, { HTTP_COOKIE: moved, QUERY_STRING: 'logout' });
    expect(cookieOf(out.sink.text)).toBe('tsgi.sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax');
    expect(body((await run(app, { HTTP_COOKIE: moved })).sink.text)).toBe('n=1 new=true');
  });

  it('works with an asynchronous store', async () => {
    const inner = new MemoryStore();
    const store: SessionStore = {
      get: async (id) => inner.get(id),
      set: async (id, d, e) => inner.set(id, d, e),
      delete: async (id) => inner.delete(id),
    };
    const app = validate(session({ secret: SECRET, store })(counter));
    const set = pair(cookieOf((await run(app)).sink.text)!);
    expect(body((await run(app, { HTTP_COOKIE: set })).sink.text)).toBe('n=2 new=false');
  });

  it('SameSite=None is always Secure; getSession() finds the session or says what is missing', async () => {
    const r = await run(session({ secret: SECRET, sameSite: 'none' })(counter));
    expect(cookieOf(r.sink.text)).toMatch(/; HttpOnly; Secure; SameSite=None$/);
    let found: Session | undefined;
    await run(session({ secret: SECRET })((env, s) => { found = getSession(env); s('204 No Content', []); return []; }));
    expect(found).toBeDefined();
    const bare = await run((env, s) => { getSession(env); s('204 No Content', []); return []; });
    expect(bare.errors).toContain("environ['tsgi.session'] is missing: wrap the app in session()");
  });

  it('refuses a short secret and a bad cookie name', () => {
    expect(() => session({ secret: 'short' })).toThrow(GatewayError);
    expect(() => session({ secret: [] })).toThrow(/at least 32/);
    expect(() => session({ secret: SECRET, cookieName: 'a b' })).toThrow(/cookieName/);
  });
});
