/**
 * `logging()`: one access-log line per request, written when the response is
 * over (the gateway closed the body), so that the status, the bytes and the
 * duration are the real ones, including for streamed and failed responses.
 */
import type { Environ } from '../contract/types.js';
import { finalStatus, observe, type Observed } from './body.js';
import type { Middleware } from './compose.js';

/** Options of {@link logging}. */
export interface LoggingOptions {
  /**
   * `combined` (default): Apache's combined format, followed by the duration
   * in microseconds (Apache's `%D`). `json`: one JSON object per line.
   */
  format?: 'combined' | 'json';
  /** Where lines go. Default: the request's wsgi.errors (the web server's error log under CGI). */
  write?: (line: string, environ: Environ) => void;
  /** Clock for tests: milliseconds, default performance.now(). */
  now?: () => number;
  /** Wall clock for the timestamp, default `new Date()`. */
  date?: () => Date;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Wraps an app with an access log. */
export function logging(options: LoggingOptions = {}): Middleware {
  const json = options.format === 'json';
  const now = options.now ?? (() => performance.now());
  const date = options.date ?? (() => new Date());
  const write = options.write ?? ((line: string, environ: Environ) => environ['wsgi.errors'].write(`${line}\n`));
  return (app) => (environ, startResponse) => {
    const t0 = now();
    const when = date();
    return observe(app, (env, seen) => {
      const micros = Math.max(0, Math.round((now() - t0) * 1000));
      write(json ? jsonLine(env, seen, when, micros) : combinedLine(env, seen, when, micros), env);
    })(environ, startResponse);
  };
}

/** The request target as the client sent it (REQUEST_URI), or rebuilt when the gateway gave none. */
function target(env: Environ): string {
  return env.REQUEST_URI ?? `${env.SCRIPT_NAME}${env.PATH_INFO}${env.QUERY_STRING ? `?${env.QUERY_STRING}` : ''}`;
}

/**
 * Apache's escaping of logged request data: `"` and `\` backslashed, control
 * and non-ASCII bytes as \xhh, so that no request can forge or break a line.
 */
export function escapeLog(s: string): string {
  return s.replace(/["\\]|[^\x20-\x7e]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

function clf(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${sign}${p(Math.floor(abs / 60))}${p(abs % 60)}`;
}

function dash(v: string | undefined): string {
  return v === undefined || v === '' ? '-' : escapeLog(v);
}

function combinedLine(env: Environ, seen: Observed, when: Date, micros: number): string {
  const status = finalStatus(seen);
  return `${dash(env.REMOTE_ADDR)} - ${dash(env.REMOTE_USER as string | undefined)} [${clf(when)}] "${escapeLog(`${env.REQUEST_METHOD} ${target(env)} ${env.SERVER_PROTOCOL}`)}" ` +
    `${status || '-'} ${seen.bytes || '-'} "${dash(env.HTTP_REFERER)}" "${dash(env.HTTP_USER_AGENT)}" ${micros}`;
}

function jsonLine(env: Environ, seen: Observed, when: Date, micros: number): string {
  const line: Record<string, unknown> = {
    time: when.toISOString(),
    remote_addr: env.REMOTE_ADDR ?? null,
    remote_user: env.REMOTE_USER ?? null,
    method: env.REQUEST_METHOD,
    uri: target(env),
    protocol: env.SERVER_PROTOCOL,
    status: finalStatus(seen) || null,
    bytes: seen.bytes,
    duration_us: micros,
    referer: env.HTTP_REFERER ?? null,
    user_agent: env.HTTP_USER_AGENT ?? null,
  };
  if (seen.error !== undefined) line.error = seen.error instanceof Error ? seen.error.message : String(seen.error);
  return JSON.stringify(line);
}
