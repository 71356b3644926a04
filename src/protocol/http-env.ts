/**
 * HTTP request → CGI variables, for the dev HTTP server. Pure: takes the
 * request line parts and the raw header list node:http hands over.
 */
import { applyMount, normalizeMount } from '../contract/mount.js';
import { unquote } from './uri.js';
import { addVar } from './vars.js';

/** The parts of an HTTP request the variables are made from. */
export interface HttpRequestParts {
  method: string;
  /** The raw request-target, e.g. `/caf%E9?x=1`. */
  url: string;
  /** `1.1`, `1.0`. */
  httpVersion: string;
  /** Alternating names and values, latin-1 decoded, as node:http's `rawHeaders`. */
  rawHeaders: readonly string[];
  serverName: string;
  serverPort: string;
  remoteAddr?: string | undefined;
  remotePort?: string | undefined;
  https?: boolean;
  /** URL prefix the app is mounted at (SCRIPT_NAME); '' by default. Servers leave this to the intake (admit). */
  mount?: string;
}

const KEY_CACHE = new Map<string, string | null>();

/**
 * `X-Foo` → `HTTP_X_FOO`. A name with `_` gives null: it would collide with the
 * `-` form once mapped, which lets a client forge a header a proxy set.
 */
export function headerKey(name: string): string | null {
  let key = KEY_CACHE.get(name);
  if (key !== undefined) return key;
  key = name.includes('_') ? null : `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
  if (KEY_CACHE.size < 1000) KEY_CACHE.set(name, key);
  return key;
}

/** Builds the CGI variables of one request (C2, C4, C7, C8). */
export function httpVars(p: HttpRequestParts): Record<string, string> {
  const url = p.url;
  const q = url.indexOf('?');
  let rawPath = q < 0 ? url : url.slice(0, q);
  // An absolute-form target (`GET http://host/path`): keep only the path.
  if (rawPath.charCodeAt(0) !== 47) {
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(rawPath);
    rawPath = m ? (m[1] ?? '/') : rawPath;
  }
  const path = unquote(rawPath);
  const vars: Record<string, string> = {
    REQUEST_METHOD: p.method,
    SCRIPT_NAME: '',
    PATH_INFO: path,
    QUERY_STRING: q < 0 ? '' : url.slice(q + 1),
    REQUEST_URI: url,
    SERVER_NAME: p.serverName,
    SERVER_PORT: p.serverPort,
    SERVER_PROTOCOL: `HTTP/${p.httpVersion}`,
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'tsgi',
  };
  if (p.remoteAddr) vars.REMOTE_ADDR = p.remoteAddr;
  if (p.remotePort) vars.REMOTE_PORT = p.remotePort;
  if (p.https) vars.HTTPS = 'on';
  const raw = p.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'content-type') { vars.CONTENT_TYPE = value; continue; }
    if (lower === 'content-length') { vars.CONTENT_LENGTH = value; continue; }
    const key = headerKey(name);
    // Repeated headers are joined as the web servers join them (addVar).
    if (key !== null) addVar(vars, key, value);
  }
  // The intake's mount split (contract/mount.ts), applied here too for callers that pass `mount`.
  if (p.mount !== undefined) applyMount(vars, normalizeMount(p.mount));
  return vars;
}
