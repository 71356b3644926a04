/**
 * `debugErrors()`: in development, an app error that happens before the
 * response has started becomes an HTML page with the error and its stack
 * instead of the gateway's terse 500. Off unless asked for (`enabled: true`):
 * a stack trace tells an attacker about your code, so never in production.
 *
 * It uses PEP 3333's own mechanism: startResponse with excInfo replaces the
 * status and headers as long as nothing has been sent (C15). An error after
 * the first body byte can only cut the response off, as without this layer.
 */
import { WRAPPED_BODY, type Body, type Environ, type Header, type StartResponse } from '../contract/types.js';
import { isThenable } from './body.js';
import type { Middleware } from './compose.js';

/** Options of {@link debugErrors}. */
export interface DebugErrorsOptions {
  /** Show error pages (default false: the layer does nothing). */
  enabled?: boolean;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// Credentials stay off the page even in development: pages get pasted into bug reports.
const SECRET = /^HTTP_(?:AUTHORIZATION|COOKIE|PROXY_AUTHORIZATION|X_API_KEY)$/;

/** HTML-escapes text. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The debug page for `err` raised while answering `environ`. */
export function errorPage(err: unknown, environ: Environ): string {
  const e = err instanceof Error ? err : new Error(String(err));
  const rows = Object.keys(environ).sort()
    .filter((k) => typeof environ[k] === 'string')
    .map((k) => `<tr><th>${escapeHtml(k)}</th><td>${SECRET.test(k) ? '[hidden]' : escapeHtml(environ[k] as string)}</td></tr>`).join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(e.name)}: ${escapeHtml(e.message)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;overflow:auto}th{text-align:left;padding-right:1em;vertical-align:top}td{font-family:monospace;word-break:break-all}</style>
</head><body>
<h1>${escapeHtml(e.name)}: ${escapeHtml(e.message)}</h1>
<p>${escapeHtml(environ.REQUEST_METHOD)} ${escapeHtml(`${environ.SCRIPT_NAME}${environ.PATH_INFO}`)}</p>
<pre>${escapeHtml(e.stack ?? String(e))}</pre>
<h2>Environ</h2>
<table>
${rows}
</table>
<p><small>tsgi debugErrors(): development only.</small></p>
</body></html>
`;
}

/** Shows errors as HTML pages, when enabled. */
export function debugErrors(options: DebugErrorsOptions = {}): Middleware {
  if (options.enabled !== true) return (app) => app;
  return (app) => (environ, startResponse) => {
    let sent = false; // a body byte or write() went out: too late for a page
    const start: StartResponse = (status, headers, excInfo) => {
      const write = startResponse(status, headers, excInfo);
      return (data) => { sent = true; write(data); };
    };
    const page = (err: unknown): Uint8Array[] => {
      environ['wsgi.errors'].write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      const html = Buffer.from(errorPage(err, environ), 'utf8');
      const headers: Header[] = [['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', String(html.length)], ['Cache-Control', 'no-store']];
      startResponse('500 Internal Server Error', headers, err ?? new Error('error'));
      return [html];
    };
    const wrap = (body: Body): Body => guard(body, page, () => sent, () => { sent = true; });
    let result: ReturnType<typeof app>;
    try {
      result = app(environ, start);
    } catch (err) {
      return page(err);
    }
    return isThenable(result) ? Promise.resolve(result).then(wrap, page) : wrap(result);
  };
}

/** The body, with an error raised before its first non-empty chunk turned into the page. */
function guard(body: Body, page: (err: unknown) => Uint8Array[], sent: () => boolean, mark: () => void): Body {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const close = (): unknown => (typeof body.close === 'function' ? body.close() : undefined);
  const isAsync = typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function';
  if (!isAsync && typeof (body as Iterable<Uint8Array>)[Symbol.iterator] !== 'function') return body;
  async function* pages(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        if (chunk instanceof Uint8Array && chunk.length) mark();
        yield chunk;
      }
    } catch (err) {
      if (sent()) throw err;
      yield* page(err);
    }
  }
  function* syncPages(): Generator<Uint8Array> {
    try {
      for (const chunk of body as Iterable<Uint8Array>) {
        if (chunk instanceof Uint8Array && chunk.length) mark();
        yield chunk;
      }
    } catch (err) {
      if (sent()) throw err;
      yield* page(err);
    }
  }
  const wrapped = isAsync ? { [Symbol.asyncIterator]: pages, close } : { [Symbol.iterator]: syncPages, close };
  return Object.assign(wrapped, { [WRAPPED_BODY]: body });
}
