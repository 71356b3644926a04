/**
 * The body loop: PEP 3333's "the server iterates over the result", written
 * once for sync and async bodies. It runs synchronously for as long as
 * nothing has to be waited for (a sync iterable whose sink never pushes back
 * costs no Promise, docs/design.md "Throughput"), and goes on asynchronously from the first
 * thing that does: an async iterator's next(), or socket backpressure (C17).
 */
import { ContractError } from '../contract/errors.js';
import { describe } from '../contract/head.js';
import { paceBuffers } from './gc-pacer.js';

/** A body's iterator, sync or async. */
export type BodyIterator = Iterator<unknown> | AsyncIterator<unknown>;

/** What the loop drives: the engine's response. */
export interface BodyHost {
  /** True when nothing more may be pulled: the response is over, or the request was aborted. */
  stopped(): boolean;
  /**
   * Sends one chunk. A Promise means "wait for this first"; the value (or
   * what it resolves to) is true when the body has given all it may (C20).
   */
  send(chunk: Uint8Array): boolean | Promise<boolean>;
  /** Resolves (to undefined) when the request is aborted. */
  aborted(): Promise<undefined>;
  /** Set when the iterator finished or threw by itself: as for-of, it then gets no return() (C17). */
  exhausted: boolean;
}

/**
 * Pulls `it` to its end. True when the body ended (or gave all its
 * Content-Length allows), false when it was stopped early; a Promise of that
 * only if something had to be waited for. Throws (or rejects) with the app's
 * error.
 */
export function pump(it: BodyIterator, async: boolean, host: BodyHost): boolean | Promise<boolean> {
  const loop = iterate(it, async, host);
  const step = loop.next();
  return step.done === true ? step.value : resume(loop, step.value);
}

/** The loop itself; it yields each thing it has to wait for and is resumed with its value. */
function* iterate(it: BodyIterator, async: boolean, host: BodyHost): Generator<Promise<unknown>, boolean, unknown> {
  for (;;) {
    if (host.stopped()) return false;
    let r: IteratorResult<unknown> | undefined;
    try {
      const next = it.next();
      r = (async ? yield Promise.race([next, host.aborted()]) : next) as IteratorResult<unknown> | undefined;
    } catch (err) {
      host.exhausted = true; // as for-of: an iterator whose next() threw is not returned
      throw err;
    }
    if (r === undefined) return false; // aborted while the app was producing
    if (r.done === true) {
      host.exhausted = true;
      return true;
    }
    const chunk = r.value;
    if (!(chunk instanceof Uint8Array)) throw notBytes(chunk);
    paceBuffers(chunk.byteLength);
    const sent = host.send(chunk);
    if (sent === true || (sent !== false && (yield sent) === true)) return true;
  }
}

/** Drives the loop from its first wait on. */
async function resume(loop: Generator<Promise<unknown>, boolean, unknown>, waiting: Promise<unknown>): Promise<boolean> {
  for (;;) {
    let value: unknown;
    let failed = false;
    try {
      value = await waiting;
    } catch (err) {
      value = err;
      failed = true;
    }
    const step = failed ? loop.throw(value) : loop.next(value);
    if (step.done === true) return step.value;
    waiting = step.value;
  }
}

/** C19: what the app returned must be an iterable of chunks. */
export function checkBody(body: unknown): void {
  if (body instanceof Uint8Array) {
    throw new ContractError('ERR_BAD_BODY', 'C19', `the app returned a ${describe(body)} directly; return [chunk] (an iterable of chunks) instead`);
  }
  if (typeof body === 'string') {
    throw new ContractError('ERR_BAD_BODY', 'C19', 'the app returned a string; return [Buffer.from(text)] (an iterable of Uint8Array chunks) instead');
  }
  if (body === null || (typeof body !== 'object' && typeof body !== 'function') ||
      (typeof (body as Iterable<unknown>)[Symbol.iterator] !== 'function' &&
       typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function')) {
    throw new ContractError('ERR_BAD_BODY', 'C19', `the app must return an iterable or async iterable of Uint8Array chunks, got ${body === undefined ? 'nothing' : describe(body)}`);
  }
}

/** C19: a body chunk that is not bytes, with the fix in the message. */
export function notBytes(chunk: unknown): ContractError {
  return new ContractError('ERR_NOT_BYTES', 'C19',
    `body chunks must be Uint8Array, got ${describe(chunk)}; ${typeof chunk === 'string' ? 'encode text with Buffer.from(text)' : 'yield bytes'}`);
}
