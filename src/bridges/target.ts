/**
 * What a Node framework calls the request target, made from the environ. Both
 * bridges use it, so a listener's `req.url` and a fetch handler's URL agree.
 */
import type { Environ } from '../contract/types.js';

// RFC 3986 §2: characters a path may hold as they are; anything else is percent-encoded.
const UNSAFE = /[^!$&'()*+,;=:@/?%\-._~0-9A-Za-z]/g;
const hex = (c: string): string => {
  const n = c.charCodeAt(0);
  return `%${n < 16 ? '0' : ''}${n.toString(16).toUpperCase()}`;
};

/**
 * The raw request target relative to the app's mount point: REQUEST_URI with
 * SCRIPT_NAME taken off its front when it is there (a `--mount` prefix, a
 * cgi-bin script, an `app.fcgi` starter), so that routes are written as if
 * the app were served at `/`, which is how these frameworks are served.
 * Without REQUEST_URI: PATH_INFO re-encoded, then the query. The result is
 * bytes-as-string, as node:http's own `req.url` is (C4).
 */
export function requestTarget(environ: Environ): string {
  const uri = environ.REQUEST_URI;
  const script = environ.SCRIPT_NAME;
  if (typeof uri === 'string' && uri !== '') {
    if (script === '' || !uri.startsWith(script)) return uri;
    const next = uri.charCodeAt(script.length);
    // Only at a segment boundary: /app must not be taken off /application.
    if (Number.isNaN(next)) return '/';
    if (next === 47) return uri.slice(script.length);
    if (next === 63) return `/${uri.slice(script.length)}`;
    return uri;
  }
  const path = (environ.PATH_INFO || '/').replace(UNSAFE, hex);
  const q = environ.QUERY_STRING;
  return q ? `${path}?${q}` : path;
}

/**
 * The target as it may appear in a URL: bytes that are not printable ASCII
 * (a raw 0xE9 that the web server passed through) are percent-encoded as the
 * byte they are, never as the UTF-8 of U+00E9.
 */
export function urlSafe(target: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x21-\x7e]/.test(target) ? target.replace(/[^\x21-\x7e]/g, hex) : target;
}

/** `scheme://host` of the request: HTTP_HOST, else SERVER_NAME with a port that is not the scheme's default. */
export function origin(environ: Environ): string {
  const scheme = environ['wsgi.url_scheme'] === 'https' ? 'https' : 'http';
  let host = environ.HTTP_HOST;
  if (!host) {
    const port = environ.SERVER_PORT;
    const name = environ.SERVER_NAME.includes(':') && !environ.SERVER_NAME.startsWith('[') ? `[${environ.SERVER_NAME}]` : environ.SERVER_NAME;
    host = (scheme === 'https' ? port === '443' : port === '80') || !port ? name : `${name}:${port}`;
  }
  return `${scheme}://${urlSafe(host)}`;
}

/** `HTTP_X_FOO` → `x-foo`, memoized: the same dozen names come with every request. */
const NAMES = new Map<string, string>();
export function headerName(key: string): string {
  let name = NAMES.get(key);
  if (name === undefined) {
    name = key.slice(5).toLowerCase().replace(/_/g, '-');
    if (NAMES.size < 1000) NAMES.set(key, name);
  }
  return name;
}

/** `x-foo` → `X-Foo`: the case rawHeaders show (the web server did not pass the original). */
const RAW = new Map<string, string>();
export function rawName(name: string): string {
  let raw = RAW.get(name);
  if (raw === undefined) {
    raw = name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
    if (RAW.size < 1000) RAW.set(name, raw);
  }
  return raw;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade', 'status']);

/** A bit for each length a name in HOP has. */
const HOP_LENGTHS = [...HOP].reduce((bits, name) => bits | (1 << name.length), 0);

/**
 * Whether a response header (its name in lower case) is hop-by-hop or
 * gateway-only (C13, C12's `Status`): a Node framework may set one, the
 * gateway must not pass it on, so the bridges drop it rather than fail.
 */
export function dropped(lower: string): boolean {
  // Most names an app sets (content-type, content-length, etag, x-powered-by …)
  // have a length no dropped name has: told apart without hashing them.
  return lower.length < 32 && (HOP_LENGTHS & (1 << lower.length)) !== 0 && HOP.has(lower);
}
