/**
 * `logging()`: one access-log line per request, written when the response is
 * over (the gateway closed the body), so that the status, the bytes and the
 * duration are the real ones, including for streamed and failed responses.
 */
import { accessLine, accessLog } from '../contract/access-log.js';
import { log } from '../contract/log.js';
import type { Environ } from '../contract/types.js';
import { finalStatus, observe } from './body.js';
import type { Middleware } from './compose.js';

/** Options of {@link logging}. */
export interface LoggingOptions {
  /**
   * `combined` (default): Apache's combined format, followed by the duration
   * in microseconds (Apache's `%D`). `json`: one JSON object per line.
   */
  format?: 'combined' | 'json';
  /**
   * Where lines go. Default: tsgi's own log at level info (standard error;
   * under CGI, the web server's error log), in place of the dev server's
   * shorter request line; or the process's access log when an embedding
   * program installed one (setAccessLog). Under `tsgi … --access-log` the
   * server itself writes each request's line, in its `--access-log-format`,
   * and this layer adds none: one line per request either way. Never
   * wsgi.errors: under FastCGI that is the web server's error log, where
   * access lines do not belong. A `write` given here is a destination of its
   * own, always written.
   */
  write?: (line: string, environ: Environ) => void;
  /** Clock for tests: milliseconds, default performance.now(). */
  now?: () => number;
  /** Wall clock for the timestamp, default `new Date()`. */
  date?: () => Date;
}

/**
 * The environ key saying this request's access line is taken care of (the
 * server's `--access-log`, the dev server's request line, logging()).
 */
const LOGGED = 'tsgi.logged';

/** Wraps an app with an access log. */
export function logging(options: LoggingOptions = {}): Middleware {
  const json = options.format === 'json';
  const now = options.now ?? (() => performance.now());
  const date = options.date ?? (() => new Date());
  const own = options.write !== undefined;
  const write = options.write ?? ((line: string) => {
    const sink = accessLog();
    if (sink !== null) sink(line);
    else log('info', line);
  });
  return (app) => (environ, startResponse) => {
    // One request, one line in tsgi's log (or the server's access log): `tsgi.logged` says a
    // line is already on its way there, from the server (`--access-log`) or another logging()
    // layer. This layer then adds none, and otherwise claims the request, so the dev server's
    // own request line is left out. A `write` of its own is another destination: always written.
    if (!own) {
      if (environ[LOGGED] === true) return app(environ, startResponse);
      environ[LOGGED] = true;
    }
    const t0 = now();
    const when = date();
    return observe(app, (env, seen) => {
      const micros = Math.max(0, Math.round((now() - t0) * 1000));
      const record = { status: finalStatus(seen), bytes: seen.bytes, when, micros, ...(seen.error !== undefined ? { error: seen.error } : {}) };
      write(accessLine(env, record, json ? 'json' : 'combined'), env);
    })(environ, startResponse);
  };
}


export { escapeLog } from '../contract/access-log.js';
