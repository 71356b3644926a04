/**
 * Finishing a response: the Content-Length rules that apply once the gateway
 * knows how the body ended (C20), and the body's close() and an early
 * iterator's return() (C17, PEP 3333 "the server must call close()").
 */
import type { Header } from '../contract/types.js';
import type { BodyIterator } from './body-loop.js';

/** Where finishing reports what went wrong: wsgi.errors (C18). */
export interface Reporter {
  report(what: string, err?: unknown): void;
}

/**
 * C20 for a body the gateway holds whole (an array of at most one chunk, no
 * write(), or nothing sent at all): the headers for sending it in one write,
 * with Content-Length added when the app gave none. Undefined when the app
 * declared a different length: the body is then streamed, so that
 * {@link shortBody} or the overflow rule applies.
 */
export function wholeHeaders(headers: readonly Header[], declared: number, length: number): readonly Header[] | undefined {
  if (declared < 0) {
    // A copy with one more pair (the list is the checked pairs, shared): at its
    // exact size, where a copy extended by a push would grow to 17 slots (V8).
    const n = headers.length;
    const out = new Array<Header>(n + 1);
    for (let i = 0; i < n; i++) out[i] = headers[i]!;
    out[n] = ['Content-Length', String(length)];
    return out;
  }
  return declared === length ? headers : undefined;
}

/**
 * C20: when a body ends short of its declared Content-Length, the message to
 * log before the response is cut off (it must not look complete); undefined
 * when the length is right or none was declared.
 */
export function shortBody(declared: number, sent: number): string | undefined {
  if (declared < 0 || sent >= declared) return undefined;
  return `the app sent ${sent} body bytes but declared Content-Length ${declared}; the response was cut off`;
}

/** C20: the log line when the app produced more than it declared. */
export function overflowMessage(declared: number): string {
  return `the app produced more body than its Content-Length (${declared}); the rest was dropped`;
}

/** How long an iterator's return() may take to run its finally blocks (C17). */
const RETURN_GRACE_MS = 1000;

/**
 * C17: an iterator left early gets return() so its finally blocks run, and
 * the body's close() is called (exactly once: the engine calls this once).
 * Both are waited for, so that a CGI process does not exit in the middle of
 * them; return() only for a grace period, since a generator parked on a
 * promise that never settles cannot run its finally block before that promise
 * does. Returns a Promise only when there is something to wait for.
 */
export function closeBody(body: unknown, it: BodyIterator | undefined, exhausted: boolean, to: Reporter): Promise<unknown> | undefined {
  let returned: Promise<unknown> | undefined;
  if (!exhausted && it !== undefined && typeof it.return === 'function') {
    try {
      const r: unknown = it.return();
      if (isThenable(r)) returned = Promise.resolve(r).catch((e: unknown) => to.report('return() of the body iterator failed', e));
    } catch (e) {
      to.report('return() of the body iterator failed', e);
    }
  }
  const closed = callClose(body, to);
  if (returned === undefined) return closed;
  return within(returned, RETURN_GRACE_MS).then(() => closed);
}

/** Calls the body's close(), if any; a Promise only when close() returned one. */
function callClose(body: unknown, to: Reporter): Promise<unknown> | undefined {
  const close = body !== null && typeof body === 'object' ? (body as { close?: unknown }).close : undefined;
  if (typeof close !== 'function') return undefined;
  try {
    const r: unknown = close.call(body);
    if (isThenable(r)) return Promise.resolve(r).catch((e: unknown) => to.report('close() of the response body failed', e));
  } catch (e) {
    to.report('close() of the response body failed', e);
  }
  return undefined;
}

/**
 * Resolves when `p` settles (true) or after `ms` (false), whichever is first;
 * with `ms` Infinity, only when `p` settles. A rejection counts as settling.
 */
export function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = p.then(() => true, () => true);
  if (!Number.isFinite(ms)) return settled;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, ms, false); });
  return Promise.race([settled, limit]).finally(() => clearTimeout(timer));
}

/** True for a Promise or any other thenable. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}
