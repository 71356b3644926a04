/**
 * `auth()`: API keys in a request header and/or HTTP Basic (RFC 7617), on
 * the paths you protect. Secrets are compared in constant time: both sides
 * are hashed to a fixed length first, so neither the length nor the first
 * differing byte shows in the timing, and every configured key is compared.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../contract/errors.js';
import { describe, isToken } from '../contract/head.js';
import { fromWsgiString, wsgiString } from '../contract/latin1.js';
import type { Environ, Header } from '../contract/types.js';
import { respond } from './body.js';
import type { Middleware } from './compose.js';
import { matcher, type PathRule } from './paths.js';

/** Checks a user name and password (text); may be async. */
export type BasicCheck = (user: string, password: string) => boolean | Promise<boolean>;

/** Options of {@link auth}. Give `apiKeys`, `basic`, or both. */
export interface AuthOptions {
  /** Accepted API keys, sent in `apiKeyHeader`. */
  apiKeys?: readonly string[];
  /** The header carrying the key (default `X-API-Key`). */
  apiKeyHeader?: string;
  /** HTTP Basic: user name → password, or a check function. */
  basic?: Readonly<Record<string, string>> | BasicCheck;
  /** The Basic realm (default `tsgi`). */
  realm?: string;
  /**
   * Paths that need credentials (default: all). A request is protected when
   * any spelling of its path falls under a prefix, in any letter case
   * (percent-encoded, with `//`, `.` or `..`, as sent or as the gateway
   * decoded it: H1, see paths.ts); RegExps are tested on every spelling too.
   */
  protect?: PathRule;
  /**
   * Paths that never do, even under `protect` (e.g. a health check): only
   * when every spelling of the path is excluded, in the letter case written.
   */
  exclude?: PathRule;
}

/** Who a request authenticated as, in `environ['tsgi.auth']`. */
export interface AuthInfo {
  scheme: 'apikey' | 'basic';
  /** The Basic user name (text), or the index of the matching API key. */
  user: string;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time equality of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

const BASIC = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;
const DUMMY = digest('tsgi: no such user');

/**
 * A password from a `basic` map, checked when the layer is built: a password
 * read from an environment variable that is not set is undefined, and must
 * fail here, naming the user, not at the first request inside the hash.
 */
function checkPassword(user: string, password: unknown): string {
  if (user === '' || user.includes(':')) {
    // RFC 7617 §2: the user-id cannot contain a colon, and an empty one cannot be told from none.
    throw new GatewayError('ERR_BAD_OPTION', `auth(): basic user ${JSON.stringify(user)} can never log in: a user name is non-empty and has no ':'`);
  }
  if (typeof password !== 'string' || password === '') {
    throw new GatewayError('ERR_BAD_OPTION',
      `auth(): the password of basic user ${JSON.stringify(user)} is ${password === '' ? 'empty' : password === undefined ? 'undefined' : describe(password)}; it must be a non-empty string (is the environment variable it is read from set?)`);
  }
  return password;
}

/** Requires credentials on the protected paths; answers 401 otherwise. */
export function auth(options: AuthOptions): Middleware {
  if (options === null || typeof options !== 'object') throw new GatewayError('ERR_BAD_OPTION', 'auth(): give an options object with apiKeys, basic, or both');
  if (options.apiKeys !== undefined && !Array.isArray(options.apiKeys)) throw new GatewayError('ERR_BAD_OPTION', `auth(): apiKeys must be a list of strings, got ${describe(options.apiKeys)}`);
  const keys = (options.apiKeys ?? []).map((k, i) => {
    if (typeof k !== 'string' || k.length === 0) throw new GatewayError('ERR_BAD_OPTION', `auth(): apiKeys[${i}] must be a non-empty string`);
    return digest(k);
  });
  const basic = options.basic;
  if (keys.length === 0 && basic === undefined) throw new GatewayError('ERR_BAD_OPTION', 'auth(): give apiKeys, basic, or both');
  if (basic !== undefined && typeof basic !== 'function' && (basic === null || typeof basic !== 'object')) {
    throw new GatewayError('ERR_BAD_OPTION', `auth(): basic must be a { user: password } object or a check function, got ${describe(basic)}`);
  }
  const keyHeader = options.apiKeyHeader ?? 'X-API-Key';
  if (typeof keyHeader !== 'string' || !isToken(keyHeader)) throw new GatewayError('ERR_BAD_OPTION', `auth(): apiKeyHeader ${describe(keyHeader)} is not a header name`);
  const header = `HTTP_${keyHeader.toUpperCase().replace(/-/g, '_')}`;
  const realm = String(options.realm ?? 'tsgi').replace(/["\\]/g, '');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(realm)) throw new GatewayError('ERR_BAD_OPTION', `auth(): realm ${describe(realm)} has a control character`);
  const users = basic !== undefined && typeof basic !== 'function'
    ? new Map(Object.entries(basic).map(([u, p]) => [u, digest(checkPassword(u, p))]))
    : undefined;
  if (users?.size === 0) throw new GatewayError('ERR_BAD_OPTION', 'auth(): basic has no users: nobody could log in');
  const checkUser: BasicCheck | undefined = typeof basic === 'function' ? basic
    : users ? (user, password) => {
      // An unknown user costs the same comparison as a known one.
      const want = users.get(user);
      const ok = timingSafeEqual(digest(password), want ?? DUMMY);
      return ok && want !== undefined;
    } : undefined;
  const challenge: Header[] = [];
  if (checkUser) challenge.push(['WWW-Authenticate', wsgiString(`Basic realm="${realm}", charset="UTF-8"`)]);
  if (keys.length) challenge.push(['WWW-Authenticate', wsgiString(`ApiKey header="${keyHeader}"`)]);
  const isProtected = matcher(options.protect, true, 'auth(): protect');
  const isExcluded = matcher(options.exclude, false, 'auth(): exclude', 'all');

  const matchKey = (given: string): number => {
    const d = digest(given);
    let found = -1;
    for (let i = 0; i < keys.length; i++) if (timingSafeEqual(d, keys[i]!) && found < 0) found = i;
    return found;
  };

  return (app) => (environ, startResponse) => {
    if (!isProtected(environ) || isExcluded(environ)) return app(environ, startResponse);
    const deny = (): Uint8Array[] => respond(startResponse, '401 Unauthorized',
      [['Content-Type', 'text/plain; charset=utf-8'], ...challenge, ['Cache-Control', 'no-store']], 'Unauthorized\n');
    const allow = (info: AuthInfo): ReturnType<typeof app> => {
      environ['tsgi.auth'] = info;
      if (info.scheme === 'basic') {
        environ.REMOTE_USER = wsgiString(info.user);
        environ.AUTH_TYPE = 'Basic';
      }
      return app(environ, startResponse);
    };
    if (keys.length) {
      const given = environ[header as `HTTP_${string}`];
      if (typeof given === 'string' && given !== '') {
        const i = matchKey(given);
        return i >= 0 ? allow({ scheme: 'apikey', user: String(i) }) : deny();
      }
    }
    if (checkUser) {
      const creds = basicCredentials(environ);
      if (creds) {
        const ok = checkUser(creds.user, creds.password);
        if (typeof ok === 'object' && ok !== null && typeof (ok as Promise<boolean>).then === 'function') {
          return (ok as Promise<boolean>).then((yes) => (yes ? allow({ scheme: 'basic', user: creds.user }) : deny()));
        }
        return ok ? allow({ scheme: 'basic', user: creds.user }) : deny();
      }
    }
    return deny();
  };
}

/** The Basic credentials of a request (UTF-8, RFC 7617 §2.1), or undefined. */
export function basicCredentials(environ: Environ): { user: string; password: string } | undefined {
  const m = BASIC.exec(environ.HTTP_AUTHORIZATION ?? '');
  if (!m) return undefined;
  const decoded = fromWsgiString(Buffer.from(m[1]!, 'base64').toString('latin1'));
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
