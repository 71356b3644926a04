/**
 * The head of a listener's response as node:http would write it, for the
 * `res` side of the bridge (node-response.ts): its header list read from
 * node:http's own store, the status line, the Date header, and Node-shaped
 * errors.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { LastSeen } from '../contract/last-seen.js';
import { nodeInternal } from '../contract/node-internals.js';
import type { Header } from '../contract/types.js';
import { dropped } from './target.js';

/** An error shaped as Node's own (a `code` to branch on). */
export function nodeError(code: string, message: string, Type: ErrorConstructor = Error): Error {
  const e = new Type(message);
  (e as { code?: string }).code = code;
  return e;
}

/** node:http's header store: lower-case name → [name as set, value]. */
type HeaderStore = Record<string, [string, unknown]>;

/**
 * The symbol under which node:http's OutgoingMessage keeps its headers (what
 * setHeader and appendHeader fill, and what node:http itself reads when it
 * writes the head). Reading it in one pass costs a third of what
 * getRawHeaderNames plus a getHeader per name cost (an array per response,
 * every name lower-cased again). Found and checked once, on a probe; when a
 * Node version keeps its headers otherwise, the public methods are used.
 */
const OUT_HEADERS: symbol | undefined = (() => {
  if (!nodeInternal('kOutHeaders')) return undefined;
  try {
    const probe = new ServerResponse(new IncomingMessage(null as never));
    probe.setHeader('X-Probe', 'a');
    for (const sym of Object.getOwnPropertySymbols(probe)) {
      if (sym.description !== 'kOutHeaders') continue;
      const store = (probe as unknown as Record<symbol, unknown>)[sym] as HeaderStore | null;
      const entry = store?.['x-probe'];
      if (Array.isArray(entry) && entry[0] === 'X-Probe' && entry[1] === 'a' && Object.keys(store!).length === 1) return sym;
    }
  } catch { /* the public methods, below */ }
  return undefined;
})();

let dateText: string | undefined;
const forgetDate = (): void => { dateText = undefined; };
/**
 * The Date header, made once a second as node:http makes its own: kept until
 * an unref'd timer clears it at the next second, so that a request reads no
 * clock.
 */
export function httpDate(): string {
  if (dateText === undefined) {
    const now = new Date();
    dateText = now.toUTCString();
    setTimeout(forgetDate, 1000 - now.getMilliseconds()).unref();
  }
  return dateText;
}

/** A status as startResponse takes it, and the `_header` node:http would have begun with. */
export type StatusLine = { code: number; reason: string; status: string; header: string };
/** The last status line made (the line holds its own code and reason, which are what is compared). */
const lines = new LastSeen<StatusLine, StatusLine>();

/**
 * The status line of `code` and `reason`, the reason checked as node:http
 * checks it. An app answers with the same status nearly every time: the last
 * one is kept, so that the check and the two strings are not made again.
 */
export function statusLine(code: number, reason: string): StatusLine {
  const last = lines.result;
  if (last !== undefined && code === last.code && reason === last.reason) return last;
  if (/[^\t\x20-\x7e\x80-\xff]/.test(reason)) throw nodeError('ERR_INVALID_CHAR', 'Invalid character in statusMessage', TypeError);
  const status = `${code} ${reason}`;
  const line: StatusLine = { code, reason, status, header: `HTTP/1.1 ${status}\r\n` };
  return lines.remember(line, line);
}

/** What headList found besides the list (bits). */
export const CHUNKED = 1; // a Transfer-Encoding the app set (dropped)
export const HAS_LENGTH = 2; // a Content-Length
export const HAS_DATE = 4; // a Date

/**
 * Fills `headers` with the response's headers for startResponse, in
 * node:http's order and case, and says what it found (CHUNKED, HAS_LENGTH,
 * HAS_DATE). `isHead`: the request was a HEAD.
 */
export function headList(res: ServerResponse, headers: Header[], isHead: boolean): number {
  let found = 0;
  const store = OUT_HEADERS === undefined ? undefined : (res as unknown as Record<symbol, HeaderStore | null>)[OUT_HEADERS];
  if (store !== undefined) {
    // node:http's own store, read as its _storeHeader reads it: one entry per
    // lower-case name, [name as first set, value].
    if (store !== null) {
      for (const lower in store) {
        const entry = store[lower]!;
        found |= headerOut(headers, lower, entry[0], entry[1], isHead);
      }
    }
  } else {
    for (const raw of (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames()) {
      const lower = raw.toLowerCase();
      found |= headerOut(headers, lower, raw, res.getHeader(lower), isHead);
    }
  }
  return found;
}

/** One stored header into the list; returns what it was (CHUNKED, HAS_LENGTH, HAS_DATE or 0). */
function headerOut(headers: Header[], lower: string, raw: string, v: unknown, isHead: boolean): number {
  // B4: node:http's connection management is the gateway's, not the app's.
  if (dropped(lower)) return lower === 'transfer-encoding' ? CHUNKED : 0;
  let r = 0;
  if (lower === 'content-length') {
    // A HEAD response carries no body; the gateway would cut one shorter than its
    // declared length (C20), and the web server answers HEAD from the head alone.
    if (isHead) return HAS_LENGTH;
    r = HAS_LENGTH;
  } else if (lower === 'date') r = HAS_DATE;
  if (Array.isArray(v)) for (const one of v) headers.push([raw, String(one)]);
  else if (v !== undefined) headers.push([raw, typeof v === 'string' ? v : String(v)]);
  return r;
}
