/**
 * Access-log lines (Apache's combined format followed by the duration in
 * microseconds, Apache's `%D`; or one JSON object per line) and the one
 * process-wide access-log destination. The servers write a line per request
 * there (`--access-log`), and so does the `logging()` middleware, so that both
 * end up in the same file and neither reaches the web server as stderr.
 */
import type { Environ } from './types.js';

/** What one finished request produced. */
export interface AccessRecord {
  /** Final status code (0 when no response was sent). */
  status: number;
  /** Body bytes sent. */
  bytes: number;
  /** When the request began. */
  when: Date;
  /** How long it took, microseconds. */
  micros: number;
  /** The error that ended it, if any. */
  error?: unknown;
}

/** `combined` (Apache's, plus the duration) or `json`. */
export type AccessFormat = 'combined' | 'json';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Apache's escaping of logged request data: `"` and `\` backslashed, control
 * and non-ASCII bytes as \xhh (C0, DEL and C1 among them, H4), so that no
 * request can forge or break a line, nor reach a terminal that shows the log.
 */
export function escapeLog(s: string): string {
  return s.replace(/["\\]|[^\x20-\x7e]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

// JSON.stringify escapes C0 controls, `"` and `\\`, but writes DEL, the C1 controls and the
// Unicode line separators as they are: a terminal obeys C1 controls (0x9b is CSI), and a
// JavaScript reader of old splits lines at U+2028.
const JSON_RAW = /[\x7f-\x9f\u2028\u2029]/;
const JSON_RAW_ALL = /[\x7f-\x9f\u2028\u2029]/g;

/** A JSON text with DEL, C1 controls and U+2028/U+2029 as \u escapes too (H4); still the same JSON value. */
function jsonSafe(json: string): string {
  return JSON_RAW.test(json) ? json.replace(JSON_RAW_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}

/** The request target as the client sent it (REQUEST_URI), or rebuilt when the gateway gave none. */
function target(env: Environ): string {
  return env.REQUEST_URI ?? `${env.SCRIPT_NAME}${env.PATH_INFO}${env.QUERY_STRING ? `?${env.QUERY_STRING}` : ''}`;
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

/** `METHOD target` of a request, for log messages (escaped). */
export function requestLine(env: Environ): string {
  return escapeLog(`${env.REQUEST_METHOD} ${target(env)}`);
}

/** One access-log line for a finished request. */
export function accessLine(env: Environ, r: AccessRecord, format: AccessFormat = 'combined'): string {
  if (format === 'json') {
    const line: Record<string, unknown> = {
      time: r.when.toISOString(),
      remote_addr: env.REMOTE_ADDR ?? null,
      remote_user: env.REMOTE_USER ?? null,
      method: env.REQUEST_METHOD,
      uri: target(env),
      protocol: env.SERVER_PROTOCOL,
      status: r.status || null,
      bytes: r.bytes,
      duration_us: r.micros,
      referer: env.HTTP_REFERER ?? null,
      user_agent: env.HTTP_USER_AGENT ?? null,
    };
    if (r.error !== undefined) line.error = r.error instanceof Error ? r.error.message : String(r.error);
    return jsonSafe(JSON.stringify(line));
  }
  return `${dash(env.REMOTE_ADDR)} - ${dash(env.REMOTE_USER as string | undefined)} [${clf(r.when)}] "${escapeLog(`${env.REQUEST_METHOD} ${target(env)} ${env.SERVER_PROTOCOL}`)}" ` +
    `${r.status || '-'} ${r.bytes || '-'} "${dash(env.HTTP_REFERER)}" "${dash(env.HTTP_USER_AGENT)}" ${r.micros}`;
}

let accessSink: ((line: string) => void) | null = null;

/** Installs (or, with null, removes) the process's access-log destination. */
export function setAccessLog(sink: ((line: string) => void) | null): void {
  accessSink = sink;
}

/** The installed access-log destination, or null when there is none (`--access-log` not given). */
export function accessLog(): ((line: string) => void) | null {
  return accessSink;
}
