/**
 * `session()`: server-side sessions. The cookie holds only a random id
 * (144 bits) and its HMAC-SHA256 under your secret; the data stays in the
 * store. A cookie whose signature does not verify is ignored before the store
 * is asked, so forged or guessed ids never reach it. The cookie is HttpOnly,
 * SameSite=Lax, and Secure when the request came over https.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCookie, stringifySetCookie } from 'cookie';
import { GatewayError } from '../contract/errors.js';
import { isToken } from '../contract/head.js';
import { fromWsgiString, wsgiString } from '../contract/latin1.js';
import type { Environ, Header } from '../contract/types.js';
import { isThenable, watchBody } from './body.js';
import type { Middleware } from './compose.js';
import { MemoryStore, type SessionData, type SessionStore } from './session-store.js';

/** Options of {@link session}. */
export interface SessionOptions {
  /** The signing secret, at least 32 characters; a list to rotate (the first signs, all verify). */
  secret: string | readonly string[];
  /** The cookie name (default `tsgi.sid`). */
  cookieName?: string;
  /** Lifetime in seconds, of the cookie and of the stored entry (default 86400). */
  maxAge?: number;
  /** Where sessions live (default: a MemoryStore of 10000 entries). */
  store?: SessionStore;
  /** Cookie path (default: the app's SCRIPT_NAME, or `/`). */
  path?: string;
  /** Cookie domain (default: none, the host only). */
  domain?: string;
  /** Force Secure on or off (default: on under https). */
  secure?: boolean;
  /** SameSite (default `lax`). */
  sameSite?: 'lax' | 'strict' | 'none';
  /** Clock for tests (ms since the epoch). */
  now?: () => number;
}

/** `environ['tsgi.session']`: the request's session. */
export class Session {
  #id: string | undefined;
  #data: SessionData;
  #changed = false;
  #destroyed = false;
  #old: string | undefined;
  readonly #isNew: boolean;

  /** @internal */
  constructor(id: string | undefined, data: SessionData | undefined) {
    this.#id = id;
    this.#data = data ?? {};
    this.#isNew = id === undefined;
  }

  /** The session id (made when the session is first saved). */
  get id(): string | undefined { return this.#id; }
  /** True when the request came without a valid session. */
  get isNew(): boolean { return this.#isNew; }
  /** True when the data changed during this request. */
  get changed(): boolean { return this.#changed; }

  get<T = unknown>(key: string): T | undefined { return this.#data[key] as T | undefined; }
  set(key: string, value: unknown): void { this.#data[key] = value; this.#changed = true; this.#destroyed = false; }
  delete(key: string): void { if (key in this.#data) { delete this.#data[key]; this.#changed = true; } }
  /** A copy of all the data. */
  toJSON(): SessionData { return { ...this.#data }; }

  /** A new id for the same data (call it at login: defeats session fixation). */
  regenerate(): void {
    if (this.#id !== undefined) this.#old ??= this.#id;
    this.#id = undefined;
    this.#changed = true;
  }

  /** Forget the session: the entry is deleted and the cookie cleared. */
  destroy(): void {
    if (this.#id !== undefined) this.#old ??= this.#id;
    this.#id = undefined;
    this.#data = {};
    this.#destroyed = true;
    this.#changed = true;
  }

  /** @internal what to do with the store and the cookie; clears `changed`. */
  commit(newId: () => string): { save?: { id: string; data: SessionData }; drop?: string; cookie?: 'set' | 'clear' } {
    if (!this.#changed) return {};
    this.#changed = false;
    const out: ReturnType<Session['commit']> = {};
    if (this.#old !== undefined) { out.drop = this.#old; this.#old = undefined; }
    if (this.#destroyed) { out.cookie = 'clear'; return out; }
    const fresh = this.#id === undefined;
    if (fresh) this.#id = newId();
    out.save = { id: this.#id!, data: { ...this.#data } };
    out.cookie = 'set'; // re-sent on every change: cookie and entry expire maxAge after the last one
    return out;
  }
}

/** The request's session; throws if session() is not in front of the app. */
export function getSession(environ: Environ): Session {
  const s = environ['tsgi.session'];
  if (!(s instanceof Session)) throw new GatewayError('ERR_BAD_OPTION', "environ['tsgi.session'] is missing: wrap the app in session()");
  return s;
}

/** Adds `environ['tsgi.session']`. */
export function session(options: SessionOptions): Middleware {
  const secrets = (typeof options.secret === 'string' ? [options.secret] : [...(options.secret ?? [])]);
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length < 32)) {
    throw new GatewayError('ERR_BAD_OPTION', 'session(): secret must be a string of at least 32 characters (or a list of them); generate one with `openssl rand -base64 48`');
  }
  const name = options.cookieName ?? 'tsgi.sid';
  if (!isToken(name)) throw new GatewayError('ERR_BAD_OPTION', `session(): cookieName ${JSON.stringify(name)} is not a cookie name token`);
  const maxAge = options.maxAge ?? 86_400;
  const store = options.store ?? new MemoryStore();
  const now = options.now ?? Date.now;
  const sign = (id: string, secret = secrets[0]!): string => createHmac('sha256', secret).update(id).digest('base64url');
  const newId = (): string => randomBytes(18).toString('base64url');

  /** The id in a cookie value `id.signature`, if some secret signed it. */
  const verify = (value: string): string | undefined => {
    const dot = value.indexOf('.');
    if (dot !== 24 || value.length > 80) return undefined;
    const id = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'utf8');
    let ok = false;
    for (const s of secrets) {
      const want = Buffer.from(sign(id, s), 'utf8');
      if (want.length === given.length && timingSafeEqual(want, given)) ok = true;
    }
    return ok ? id : undefined;
  };

  const cookie = (environ: Environ, action: 'set' | 'clear', id: string): Header =>
    ['Set-Cookie', wsgiString(stringifySetCookie(name, action === 'set' ? `${id}.${sign(id)}` : '', {
      httpOnly: true,
      sameSite: options.sameSite ?? 'lax',
      // Browsers drop a SameSite=None cookie that is not Secure.
      secure: options.secure ?? (environ['wsgi.url_scheme'] === 'https' || options.sameSite === 'none'),
      path: options.path ?? (environ.SCRIPT_NAME || '/'),
      ...(options.domain ? { domain: options.domain } : {}),
      maxAge: action === 'set' ? maxAge : 0,
    }))];

  /** Applies what the session says to the store; returns the cookie header to send, if any. */
  const persist = (environ: Environ, s: Session): { header?: Header; wait?: Promise<unknown> } => {
    const c = s.commit(newId);
    const waits: unknown[] = [];
    if (c.drop !== undefined) waits.push(store.delete(c.drop));
    if (c.save) waits.push(store.set(c.save.id, c.save.data, now() + maxAge * 1000));
    const pending = waits.filter(isThenable);
    const out: { header?: Header; wait?: Promise<unknown> } = {};
    if (pending.length) out.wait = Promise.all(pending);
    if (c.cookie) out.header = cookie(environ, c.cookie, c.save?.id ?? '');
    return out;
  };

  return (app) => (environ, startResponse) => {
    let id: string | undefined;
    const raw = environ.HTTP_COOKIE;
    if (raw !== undefined) {
      const value = parseCookie(fromWsgiString(raw))[name];
      if (value !== undefined) id = verify(value);
    }
    const run = (data: SessionData | undefined): ReturnType<typeof app> => {
      const s = new Session(data === undefined ? undefined : id, data);
      environ['tsgi.session'] = s;
      const waits: Promise<unknown>[] = [];
      const result = app(environ, (status, headers, excInfo) => {
        // Saved before the head goes out, so that the next request already finds it.
        const p = persist(environ, s);
        if (p.wait) waits.push(p.wait);
        return startResponse(status, p.header && Array.isArray(headers) ? [...headers, p.header] : headers, excInfo);
      });
      const finish = (body: Awaited<typeof result>): Awaited<typeof result> => watchBody(body, {
        close: () => {
          // Changes made while the body streamed can no longer set a cookie, but are kept.
          const p = persist(environ, s);
          if (p.wait) waits.push(p.wait);
          // An async store's writes finish before the request counts as done (the gateway waits on close()).
          return waits.length ? Promise.all(waits) : undefined;
        },
      });
      return isThenable(result) ? Promise.resolve(result).then(finish) : finish(result);
    };
    if (id === undefined) return run(undefined);
    const found = store.get(id);
    return isThenable(found) ? Promise.resolve(found).then(run) : run(found);
  };
}

export { MemoryStore, type MemoryStoreOptions, type SessionData, type SessionStore } from './session-store.js';
