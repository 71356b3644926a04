/**
 * The engine: runs ONE request of an app against a ResponseSink. This is the
 * TypeScript `run_with_cgi` (PEP 3333 "Specification Details"), and the only
 * place PEP 3333 response semantics live (C11–C22).
 */
import { Buffer } from 'node:buffer';
import { ContractError, GatewayError } from '../contract/errors.js';
import { checkHeaders, checkStatus, describe } from '../contract/head.js';
import { log } from '../contract/log.js';
import type { App, Body, Environ, Header, WsgiErrors } from '../contract/types.js';
import type { RequestAbort } from './abort.js';

/**
 * What an adapter gives the engine: how to frame a head and body chunks for
 * its protocol. A method may return a Promise to ask the engine to wait
 * (socket backpressure); returning nothing means "go on".
 */
export interface ResponseSink {
  /**
   * Send status and headers together with the first body bytes (`chunk`, may
   * be null). `last` is true when this is the whole response: the sink may
   * frame head, body and end in a single write.
   */
  head(status: string, headers: Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void>;
  /** Send a body chunk (never empty). */
  write(chunk: Uint8Array): void | Promise<void>;
  /** The response is complete. */
  end(): void;
  /**
   * The response cannot be completed (error after the head was sent, a body
   * shorter than its Content-Length, or the request was aborted): cut it off.
   */
  abort(reason: unknown): void;
}

/** The fixed 500 body (the text of PEP 3333's reference gateway, vector W6). */
export const ERROR_BODY: Buffer = Buffer.from('A server error occurred.  Please contact the administrator.', 'latin1');
const ERROR_STATUS = '500 Internal Server Error';
const EMPTY = new Uint8Array(0);

/**
 * Runs `app` for `environ` against `sink`; `abort` is the request's abort
 * state (the one behind environ['tsgi.abort']). Never rejects.
 */
export function runApp(app: App, environ: Environ, sink: ResponseSink, abort: RequestAbort): Promise<void> {
  return runRequest(app, environ, sink, abort) ?? DONE;
}

const DONE = Promise.resolve();

/**
 * As runApp, but returns undefined when the request was finished without
 * waiting for anything: the common case of a synchronous app returning one
 * chunk costs no promise at all (docs/design.md, "Throughput"). The servers' hot path.
 */
export function runRequest(app: App, environ: Environ, sink: ResponseSink, abort: RequestAbort): Promise<void> | undefined {
  if (requestHook !== null) sink = requestHook(environ, sink, abort);
  return new Run(sink, environ['wsgi.errors'], abort).start(app, environ);
}

/**
 * Sees every request the servers run: given the request's sink, returns the
 * sink the engine writes to (usually a wrapper that watches the status, the
 * bytes and the end). The CLI's access log, `--max-requests` count and
 * `--request-timeout` live behind it, in one place rather than in every adapter.
 */
export type RequestHook = (environ: Environ, sink: ResponseSink, abort: RequestAbort) => ResponseSink;

let requestHook: RequestHook | null = null;

/** Installs (or, with null, removes) the process's request hook. */
export function setRequestHook(hook: RequestHook | null): void {
  requestHook = hook;
}

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;

class Run {
  readonly #sink: ResponseSink;
  readonly #errors: WsgiErrors;
  readonly #signal: RequestAbort;
  #status: string | undefined;
  #headers: Header[] = [];
  #declared = -1;       // Content-Length the app gave, or -1
  #sent = 0;            // body bytes handed to the sink
  #headersSent = false;
  #wrote = false;       // write() was called
  #overflow = false;    // the app produced more than its Content-Length
  #dead = false;        // the sink failed or the request was aborted: send nothing more
  #exhausted = false;   // the body iterator reported done
  #pending: Promise<void> | undefined; // backpressure from write()
  #aborted: Promise<undefined> | undefined;

  constructor(sink: ResponseSink, errors: WsgiErrors, signal: RequestAbort) {
    this.#sink = sink;
    this.#errors = errors;
    this.#signal = signal;
  }

  /** PEP 3333 start_response (C11–C13, C15). */
  readonly startResponse = (status: string, headers: Header[], excInfo?: unknown): ((data: Uint8Array) => void) => {
    if (excInfo !== undefined && excInfo !== null) {
      // C15: too late to change anything once the head is out: re-raise the app's error.
      if (this.#headersSent) throw excInfo;
    } else if (this.#status !== undefined) {
      throw new ContractError('ERR_HEADERS_ALREADY_SET', 'C15',
        'Headers already set: startResponse() was called a second time without excInfo');
    }
    checkStatus(status);
    const declared = checkHeaders(headers);
    this.#status = status;
    this.#headers = headers.slice();
    this.#declared = declared;
    return this.write;
  };

  /** PEP 3333 write() (C16). */
  readonly write = (data: Uint8Array): void => {
    if (this.#status === undefined) {
      throw new ContractError('ERR_WRITE_BEFORE_START', 'C16', 'write() was called before startResponse()');
    }
    if (!(data instanceof Uint8Array)) {
      throw new ContractError('ERR_NOT_BYTES', 'C19', `write() takes a Uint8Array, got ${describe(data)}; encode text first (Buffer.from(text))`);
    }
    this.#wrote = true;
    if (this.#dead) return;
    const p = this.#emit(data, true);
    if (p) this.#pending = this.#pending ? this.#pending.then(() => p) : p;
  };

  /** Calls the app; finishes synchronously when it can (see runRequest). */
  start(app: App, environ: Environ): Promise<void> | undefined {
    let result: unknown;
    try {
      result = app(environ, this.startResponse);
    } catch (err) {
      return this.#failed(err);
    }
    if (Array.isArray(result) && result.length <= 1 && this.#pending === undefined) {
      const done = this.#quick(result);
      if (done !== false) return done;
    }
    return this.#run(result);
  }

  /**
   * C20's single-write case done synchronously: an array of at most one
   * chunk, after startResponse and no write(). Returns false to take the
   * general path instead (anything unusual, including errors to report).
   */
  #quick(body: unknown[]): Promise<void> | undefined | false {
    const chunk = body.length === 1 ? body[0] : EMPTY;
    const status = this.#status;
    if (status === undefined || this.#headersSent || this.#wrote || this.#signal.aborted || !(chunk instanceof Uint8Array)) return false;
    if (this.#declared < 0) this.#headers.push(['Content-Length', String(chunk.length)]);
    else if (this.#declared !== chunk.length) return false;
    this.#headersSent = true;
    this.#sent = chunk.length;
    let p: void | Promise<void> = undefined;
    try {
      p = this.#sink.head(status, this.#headers, chunk.length ? chunk : null, true);
    } catch (e) {
      this.#gone(e);
    }
    this.#dead = true; // the sink has the whole response
    this.#exhausted = true;
    const closed = callClose(body, this);
    if (p === undefined && closed === undefined) return undefined;
    return (async () => {
      if (p) await p.catch((e: unknown) => this.#gone(e));
      if (closed) await closed;
    })();
  }

  async #failed(err: unknown): Promise<void> {
    if (this.#pending) await this.#settle(this.#pending);
    this.#fail(err);
  }

  async #run(result: unknown): Promise<void> {
    let body: Body;
    try {
      body = (isThenable(result) ? await result : result) as Body;
      checkBody(body);
    } catch (err) {
      if (this.#pending) await this.#settle(this.#pending);
      this.#fail(err);
      return;
    }
    let it: AnyIterator | undefined;
    let finished = false;
    try {
      if (this.#pending) await this.#settle(this.#pending);
      if (Array.isArray(body)) {
        finished = await this.#array(body);
      } else if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
        it = (body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
        finished = await this.#async(it as AsyncIterator<unknown>);
      } else {
        it = (body as Iterable<unknown>)[Symbol.iterator]();
        finished = await this.#sync(it as Iterator<unknown>);
      }
      if (finished) this.#finish();
      else if (!this.#dead) this.#cut(this.#signal.aborted ? this.#signal.reason : new Error('response stopped'));
    } catch (err) {
      this.#fail(err);
    } finally {
      // C17: an iterator left early gets return() so its finally blocks run; close() exactly once.
      // Both are waited for, so that a CGI process does not exit in the middle of them; return()
      // only for a grace period, since a generator parked on a promise that never settles cannot
      // run its finally block before that promise does.
      let returned: Promise<unknown> | undefined;
      if (!this.#exhausted && it && typeof it.return === 'function') {
        try {
          const r = it.return();
          if (isThenable(r)) returned = Promise.resolve(r).catch((e) => this.#report('return() of the body iterator failed', e));
        } catch (e) {
          this.#report('return() of the body iterator failed', e);
        }
      }
      const closed = callClose(body, this);
      if (returned) await within(returned, RETURN_GRACE_MS);
      if (closed) await closed;
    }
  }

  /** Arrays: the common case, with the single-write fast path (C20). */
  async #array(body: unknown[]): Promise<boolean> {
    const n = body.length;
    if (n <= 1 && !this.#headersSent && !this.#wrote) {
      const chunk = n === 1 ? body[0] : EMPTY;
      if (!(chunk instanceof Uint8Array)) throw notBytes(chunk);
      const status = this.#needStatus();
      if (this.#declared < 0) {
        // C20: the gateway knows the whole length; tell the web server.
        this.#headers.push(['Content-Length', String(chunk.length)]);
      } else if (this.#declared !== chunk.length) {
        return this.#sync(body[Symbol.iterator]());
      }
      this.#headersSent = true;
      this.#sent = chunk.length;
      if (this.#signal.aborted) return false;
      const p = this.#call(() => this.#sink.head(status, this.#headers, chunk.length ? chunk : null, true));
      if (p) await this.#settle(p);
      this.#dead = true; // the sink has the whole response
      return true;
    }
    return this.#sync(body[Symbol.iterator]());
  }

  /**
   * One chunk of the body: checked (C19), sent, and waited on only when the
   * sink pushes back. Returns true when no more should be pulled (C20).
   */
  #send(chunk: unknown): boolean | Promise<boolean> {
    if (!(chunk instanceof Uint8Array)) throw notBytes(chunk);
    const p = this.#emit(chunk, false);
    if (p || this.#pending) return this.#drain(p);
    return this.#overflow;
  }

  async #drain(p: void | Promise<void>): Promise<boolean> {
    if (p) await this.#settle(p);
    if (this.#pending) await this.#settle(this.#pending);
    return this.#overflow;
  }

  async #sync(it: Iterator<unknown>): Promise<boolean> {
    for (;;) {
      if (this.#dead || this.#signal.aborted) return false;
      let r: IteratorResult<unknown>;
      try {
        r = it.next();
      } catch (err) {
        this.#exhausted = true; // as for-of: an iterator whose next() threw is not returned
        throw err;
      }
      if (r.done) { this.#exhausted = true; return true; }
      const stop = this.#send(r.value);
      if (stop === true || (stop !== false && await stop)) return true;
    }
  }

  async #async(it: AsyncIterator<unknown>): Promise<boolean> {
    for (;;) {
      if (this.#dead || this.#signal.aborted) return false;
      let r: IteratorResult<unknown> | undefined;
      try {
        r = await Promise.race([it.next(), this.#abortPromise()]);
      } catch (err) {
        this.#exhausted = true;
        throw err;
      }
      if (r === undefined) return false; // aborted while the app was producing
      if (r.done) { this.#exhausted = true; return true; }
      const stop = this.#send(r.value);
      if (stop === true || (stop !== false && await stop)) return true;
    }
  }

  /** Hand one chunk to the sink; the head goes with the first non-empty chunk or the first write() (C14). */
  #emit(chunk: Uint8Array, fromWrite: boolean): void | Promise<void> {
    if (this.#dead || this.#overflow) return;
    const status = this.#needStatus();
    if (this.#declared >= 0) {
      const room = this.#declared - this.#sent;
      if (chunk.length > room) {
        // C20: never more than the declared length.
        this.#overflow = true;
        this.#report(`the app produced more body than its Content-Length (${this.#declared}); the rest was dropped`);
        chunk = chunk.subarray(0, room);
      }
    }
    if (!this.#headersSent) {
      if (chunk.length === 0 && !fromWrite) return; // C14: empty chunks send nothing
      this.#headersSent = true;
      this.#sent += chunk.length;
      return this.#call(() => this.#sink.head(status, this.#headers, chunk.length ? chunk : null, false));
    }
    if (chunk.length === 0) return;
    this.#sent += chunk.length;
    return this.#call(() => this.#sink.write(chunk));
  }

  /** The body ended normally. */
  #finish(): void {
    if (this.#dead) return;
    if (!this.#headersSent) {
      const status = this.#needStatus();
      this.#headersSent = true;
      if (this.#declared < 0) {
        // Nothing was sent at all, so the length is known: 0 (vector W5).
        this.#headers.push(['Content-Length', '0']);
      } else if (this.#declared > 0) {
        this.#call(() => this.#sink.head(status, this.#headers, null, false));
        this.#short();
        return;
      }
      this.#dead = true;
      this.#call(() => this.#sink.head(status, this.#headers, null, true));
      return;
    }
    if (this.#declared >= 0 && this.#sent < this.#declared) {
      this.#short();
      return;
    }
    this.#dead = true;
    this.#call(() => this.#sink.end());
  }

  #short(): void {
    // C20: a body shorter than its Content-Length must not look complete.
    const msg = `the app sent ${this.#sent} body bytes but declared Content-Length ${this.#declared}; the response was cut off`;
    this.#report(msg);
    this.#cut(new GatewayError('ERR_BAD_CONTENT_LENGTH', msg));
  }

  /** C18: an error from the app. */
  #fail(err: unknown): void {
    this.#report('the application raised an error', err);
    if (this.#dead) return;
    if (!this.#headersSent) {
      this.#headersSent = true;
      this.#dead = true;
      const headers: Header[] = [['Content-Type', 'text/plain'], ['Content-Length', String(ERROR_BODY.length)]];
      this.#call(() => this.#sink.head(ERROR_STATUS, headers, ERROR_BODY, true));
      return;
    }
    this.#cut(err);
  }

  #cut(reason: unknown): void {
    if (this.#dead) return;
    this.#dead = true;
    try {
      this.#sink.abort(reason);
    } catch (e) {
      log('error', `response sink failed to abort: ${String(e)}`);
    }
  }

  #needStatus(): string {
    if (this.#status === undefined) {
      throw new ContractError('ERR_NO_START_RESPONSE', 'C16', 'the app produced a body chunk (or returned) without calling startResponse()');
    }
    return this.#status;
  }

  /** Call into the sink; a sink that throws means the peer is gone: stop sending. */
  #call(fn: () => void | Promise<void>): void | Promise<void> {
    try {
      const p = fn();
      if (p) return p.catch((e: unknown) => this.#gone(e));
    } catch (e) {
      this.#gone(e);
    }
  }

  #gone(e: unknown): void {
    if (!this.#dead) log('debug', `response sink failed, the client is gone: ${String(e)}`);
    this.#dead = true;
  }

  async #settle(p: Promise<void>): Promise<void> {
    this.#pending = undefined;
    await Promise.race([p, this.#abortPromise()]);
  }

  #abortPromise(): Promise<undefined> {
    this.#aborted ??= this.#signal.wait().then(() => undefined);
    return this.#aborted;
  }

  /** Log to wsgi.errors (the stack goes there, never to the client: C18). */
  #report(what: string, err?: unknown): void {
    const detail = err === undefined ? '' : `: ${err instanceof Error ? (err.stack ?? err.message) : describe(err)}`;
    this.#errors.write(`${what}${detail}\n`);
  }

  /** @internal used by callClose */
  reportClose(err: unknown): void {
    this.#report('close() of the response body failed', err);
  }
}

/** Calls the body's close(), if any; returns a promise only when close() returned one. */
function callClose(body: unknown, run: Run): Promise<unknown> | undefined {
  const close = body !== null && typeof body === 'object' ? (body as { close?: unknown }).close : undefined;
  if (typeof close !== 'function') return undefined;
  try {
    const r: unknown = close.call(body);
    if (isThenable(r)) return Promise.resolve(r).catch((e) => run.reportClose(e));
  } catch (e) {
    run.reportClose(e);
  }
  return undefined;
}

/** How long an iterator's return() may take to run its finally blocks (C17). */
const RETURN_GRACE_MS = 1000;

/** Resolves when `p` settles or after `ms`, whichever is first. */
function within(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise((resolve) => { timer = setTimeout(resolve, ms); });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/** C19: what the app returned must be an iterable of chunks. */
function checkBody(body: unknown): void {
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

function notBytes(chunk: unknown): ContractError {
  return new ContractError('ERR_NOT_BYTES', 'C19',
    `body chunks must be Uint8Array, got ${describe(chunk)}; ${typeof chunk === 'string' ? 'encode text with Buffer.from(text)' : 'yield bytes'}`);
}
