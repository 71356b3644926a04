/**
 * `cors()`: Cross-Origin Resource Sharing (the Fetch standard's CORS
 * protocol). Preflights are answered here; other responses get
 * `Access-Control-Allow-Origin` set to the request's origin when it is
 * allowed, always with `Vary: Origin` so that no cache serves one origin's
 * answer to another. `*` is never combined with credentials: that pairing is
 * refused when the middleware is built.
 */
import { GatewayError } from '../contract/errors.js';
import { isToken } from '../contract/head.js';
import type { Environ, Header, StartResponse } from '../contract/types.js';
import { respond } from './body.js';
import type { Middleware } from './compose.js';

/** Options of {@link cors}. */
export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`, exact match), `'*'`, or a predicate. */
  origins: readonly string[] | '*' | ((origin: string) => boolean);
  /** Allow cookies and HTTP auth cross-origin (`Access-Control-Allow-Credentials`). Not with `'*'`. */
  credentials?: boolean;
  /** Methods a preflight may ask for (default GET, HEAD, POST, PUT, PATCH, DELETE). */
  methods?: readonly string[];
  /** Request headers a preflight may ask for (default: any it asks for). */
  allowHeaders?: readonly string[];
  /** Response headers scripts may read (`Access-Control-Expose-Headers`). */
  exposeHeaders?: readonly string[];
  /** How long a browser may cache a preflight, in seconds (default 600). */
  maxAge?: number;
}

/** Adds CORS to an app. */
export function cors(options: CorsOptions): Middleware {
  const { origins } = options;
  const credentials = options.credentials === true;
  if (origins === '*' && credentials) {
    throw new GatewayError('ERR_BAD_OPTION', "cors(): origins '*' cannot be combined with credentials; list the allowed origins");
  }
  if (origins !== '*' && typeof origins !== 'function' && !Array.isArray(origins)) {
    throw new GatewayError('ERR_BAD_OPTION', "cors(): origins must be an array of origins, '*' or a function");
  }
  const list = Array.isArray(origins) ? new Set(origins as readonly string[]) : undefined;
  const allowed = (origin: string): boolean =>
    origins === '*' || (list ? list.has(origin) : (origins as (o: string) => boolean)(origin));
  const methods = (options.methods ?? ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).map((m) => m.toUpperCase());
  for (const m of methods) if (!isToken(m)) throw new GatewayError('ERR_BAD_OPTION', `cors(): method ${JSON.stringify(m)} is not a token`);
  const allowHeaders = options.allowHeaders?.map((h) => h.toLowerCase());
  const expose: string | undefined = options.exposeHeaders?.length ? options.exposeHeaders.join(', ') : undefined;
  const maxAge = String(Math.max(0, Math.floor(options.maxAge ?? 600)));

  /** The headers every response to `origin` carries. */
  const base = (origin: string | undefined): Header[] => {
    const h: Header[] = [];
    if (origins !== '*') h.push(['Vary', 'Origin']);
    if (origin === undefined || !allowed(origin)) return h;
    h.push(['Access-Control-Allow-Origin', origins === '*' ? '*' : origin]);
    if (credentials) h.push(['Access-Control-Allow-Credentials', 'true']);
    if (expose) h.push(['Access-Control-Expose-Headers', expose]);
    return h;
  };

  const preflight = (environ: Environ, origin: string, startResponse: StartResponse): Uint8Array[] => {
    const method = (environ.HTTP_ACCESS_CONTROL_REQUEST_METHOD ?? '').trim();
    const asked = (environ.HTTP_ACCESS_CONTROL_REQUEST_HEADERS ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    const vary: Header = ['Vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'];
    const headersOk = allowHeaders === undefined ? asked.every(isToken) : asked.every((h) => allowHeaders.includes(h));
    if (!allowed(origin) || !methods.includes(method) || !headersOk) {
      return respond(startResponse, '403 Forbidden', [['Content-Type', 'text/plain; charset=utf-8'], vary], 'CORS preflight refused\n');
    }
    const h: Header[] = [vary, ['Access-Control-Allow-Origin', origins === '*' ? '*' : origin]];
    if (credentials) h.push(['Access-Control-Allow-Credentials', 'true']);
    h.push(['Access-Control-Allow-Methods', methods.join(', ')]);
    if (asked.length) h.push(['Access-Control-Allow-Headers', asked.join(', ')]);
    h.push(['Access-Control-Max-Age', maxAge]);
    startResponse('204 No Content', h);
    return [];
  };

  return (app) => (environ, startResponse) => {
    const origin = environ.HTTP_ORIGIN;
    if (origin !== undefined && environ.REQUEST_METHOD === 'OPTIONS' && environ.HTTP_ACCESS_CONTROL_REQUEST_METHOD !== undefined) {
      return preflight(environ, origin, startResponse);
    }
    const extra = base(origin);
    if (extra.length === 0) return app(environ, startResponse);
    return app(environ, (status, headers, excInfo) =>
      startResponse(status, Array.isArray(headers) ? [...withoutCors(headers), ...extra] : headers, excInfo));
  };
}

/** The app's own Access-Control-* headers would contradict this layer's: this layer decides. */
function withoutCors(headers: Header[]): Header[] {
  return headers.filter((h) => !(Array.isArray(h) && typeof h[0] === 'string' && /^access-control-allow-/i.test(h[0])));
}
