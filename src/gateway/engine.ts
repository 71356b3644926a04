/**
 * The engine: runs ONE request of an app against a ResponseSink. This is the
 * TypeScript `run_with_cgi` (PEP 3333 "Specification Details"), and the only
 * place PEP 3333 response semantics live (C11–C22), in parts:
 * start-response.ts (start_response and write()), body-loop.ts (iterating
 * the body), finish.ts (Content-Length and close()), response-state.ts (the
 * state machine, the only caller of the sink) and, here, the run of one
 * request that ties them together, with C18's error response.
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from '../contract/errors.js';
import { describe } from '../contract/head.js';
import { logText } from '../contract/log.js';
import type { App, Environ, Header, WsgiErrors } from '../contract/types.js';
import type { RequestAbort } from './abort.js';
import { checkBody, notBytes, pump, type BodyHost, type BodyIterator } from './body-loop.js';
import { closeBody, isThenable, overflowMessage, shortBody, wholeHeaders, type Reporter } from './finish.js';
import { ResponseStates, type ResponseSink } from './response-state.js';

export type { ResponseSink } from './response-state.js';

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
 * waiting for anything: a synchronous app returning an array or a sync
 * iterable costs no promise at all (docs/design.md, "Throughput"). The servers'
 * hot path.
 */
export function runRequest(app: App, environ: Environ, sink: ResponseSink, abort: RequestAbort): Promise<void> | undefined {
  if (requestHook !== null) sink = requestHook(environ, sink, abort);
  const run = new Run(sink, environ['wsgi.errors'], abort);
  environ['tsgi.response'] = run.progress;
  return run.start(app, environ);
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

class Run extends ResponseStates implements BodyHost, Reporter {
  exhausted = false;
  readonly #errors: WsgiErrors;
  readonly #abort: RequestAbort;
  #overflow = false; // C20: the app produced more than its Content-Length
  #pending: Promise<void> | undefined; // backpressure from write()
  #aborted: Promise<undefined> | undefined;

  constructor(sink: ResponseSink, errors: WsgiErrors, abort: RequestAbort) {
    super(sink);
    this.#errors = errors;
    this.#abort = abort;
  }

  /** Calls the app; finishes synchronously when it can (see runRequest). */
  start(app: App, environ: Environ): Promise<void> | undefined {
    let result: unknown;
    try {
      result = app(environ, this.startResponse);
    } catch (err) {
      if (this.#pending === undefined) return this.#fail(err);
      return this.#settle(this.#pending).then(() => this.#fail(err));
    }
    if (this.#pending === undefined && (Array.isArray(result) || !isThenable(result))) return this.#respond(result);
    return this.#later(result);
  }

  /** The app's Promise, or its write()s, have to be waited for first. */
  async #later(result: unknown): Promise<void> {
    let body: unknown;
    try {
      body = isThenable(result) ? await result : result;
    } catch (err) {
      if (this.#pending) await this.#settle(this.#pending);
      this.#fail(err);
      return;
    }
    if (this.#pending) await this.#settle(this.#pending);
    await this.#respond(body);
  }

  /** Sends the body: in one write when the gateway holds it whole (C20), else through the body loop. */
  #respond(body: unknown): Promise<void> | undefined {
    const array = Array.isArray(body);
    if (!array) {
      try {
        checkBody(body);
      } catch (err) {
        return this.#fail(err); // C19: not a body, so there is nothing to close either
      }
    }
    let it: BodyIterator | undefined;
    let outcome: boolean | Promise<boolean> = false;
    try {
      const whole = array ? this.#wholeBody(body) : undefined;
      if (whole !== undefined) {
        outcome = this.#abort.aborted ? false : this.#whole(whole);
      } else {
        const async = typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
        it = async ? (body as AsyncIterable<unknown>)[Symbol.asyncIterator]() : (body as Iterable<unknown>)[Symbol.iterator]();
        outcome = pump(it, async, this);
      }
      if (typeof outcome === 'boolean') this.#ended(outcome);
    } catch (err) {
      this.#fail(err);
    }
    if (typeof outcome !== 'boolean') return this.#endLater(outcome, body, it);
    return closeBody(body, it, this.exhausted, this) as Promise<void> | undefined;
  }

  async #endLater(outcome: Promise<boolean>, body: unknown, it: BodyIterator | undefined): Promise<void> {
    try {
      this.#ended(await outcome);
    } catch (err) {
      this.#fail(err);
    }
    await closeBody(body, it, this.exhausted, this);
  }

  /** C20: the one chunk of an array the gateway can send whole with its head, or undefined to stream it. */
  #wholeBody(body: unknown[]): Uint8Array | undefined {
    if (body.length > 1 || this.headSent() || this.wrote) return undefined;
    const chunk = body.length === 1 ? body[0] : EMPTY;
    if (!(chunk instanceof Uint8Array)) throw notBytes(chunk);
    this.needStatus();
    return this.declared < 0 || this.declared === chunk.length ? chunk : undefined;
  }

  /** The whole body in the head's write (C20); like the loop's outcome, a Promise only to wait on the sink. */
  #whole(chunk: Uint8Array): boolean | Promise<boolean> {
    const headers = wholeHeaders(this.headers, this.declared, chunk.length)!; // defined: #wholeBody checked the length
    const p = this.sendWhole(this.needStatus(), headers, chunk);
    return p ? this.#drain(p) : true;
  }

  /** The body loop is over: finish the response (C20), or cut it when the loop was stopped. */
  #ended(finished: boolean): void {
    if (this.over()) return; // already over (the single write, a sink gone)
    if (!finished) {
      this.cut(this.#abort.aborted ? this.#abort.reason : new Error('response stopped'));
    } else if (this.beforeHead()) {
      // Nothing was sent at all, so the length is known: 0 (vector W5), unless the app declared more.
      const status = this.needStatus();
      const headers = wholeHeaders(this.headers, this.declared, 0);
      if (headers !== undefined) void this.sendWhole(status, headers, EMPTY);
      else {
        void this.sendHead(status, null);
        this.#short();
      }
    } else if (shortBody(this.declared, this.sent) !== undefined) {
      this.#short();
    } else {
      this.end();
    }
  }

  /** BodyHost: one chunk, sent, and waited on only when the sink pushes back. */
  send(chunk: Uint8Array): boolean | Promise<boolean> {
    const p = this.#emit(chunk, false);
    if (p || this.#pending) return this.#drain(p);
    return this.#overflow;
  }

  stopped(): boolean {
    return this.over() || this.#abort.aborted;
  }

  aborted(): Promise<undefined> {
    this.#aborted ??= this.#abort.wait().then(() => undefined);
    return this.#aborted;
  }

  protected written(data: Uint8Array): void {
    const p = this.#emit(data, true);
    if (p) this.#pending = this.#pending ? this.#pending.then(() => p) : p;
  }

  /** Hands one chunk on; the head goes with the first non-empty chunk or the first write() (C14). */
  #emit(chunk: Uint8Array, fromWrite: boolean): void | Promise<void> {
    if (this.over() || this.#overflow) return;
    const status = this.needStatus();
    const declared = this.declared;
    if (declared >= 0 && chunk.length > declared - this.sent) {
      // C20: never more than the declared length.
      this.#overflow = true;
      this.report(overflowMessage(declared));
      chunk = chunk.subarray(0, declared - this.sent);
    }
    if (this.beforeHead()) {
      if (chunk.length === 0 && !fromWrite) return; // C14: empty chunks send nothing
      return this.sendHead(status, chunk.length ? chunk : null);
    }
    return chunk.length === 0 ? undefined : this.sendChunk(chunk);
  }

  /** C18: an error from the app: the fixed 500 while the head is held back, else the response is cut. */
  #fail(err: unknown): undefined {
    this.report('the application raised an error', err);
    if (this.beforeHead()) {
      const headers: Header[] = [['Content-Type', 'text/plain'], ['Content-Length', String(ERROR_BODY.length)]];
      void this.sendWhole(ERROR_STATUS, headers, ERROR_BODY);
    } else {
      this.cut(err);
    }
    return undefined;
  }

  #short(): void {
    // C20: a body shorter than its Content-Length must not look complete.
    const msg = shortBody(this.declared, this.sent)!;
    this.report(msg);
    this.cut(new GatewayError('ERR_BAD_CONTENT_LENGTH', msg));
  }

  async #drain(p: void | Promise<void>): Promise<boolean> {
    if (p) await this.#settle(p);
    if (this.#pending) await this.#settle(this.#pending);
    return this.#overflow;
  }

  async #settle(p: Promise<void>): Promise<void> {
    this.#pending = undefined;
    await Promise.race([p, this.aborted()]);
  }

  /** Log to wsgi.errors (the stack goes there, never to the client: C18). */
  report(what: string, err?: unknown): void {
    const detail = err === undefined ? '' : `: ${err instanceof Error ? (err.stack ?? err.message) : describe(err)}`;
    // H4: an error's message may quote the request (bad input: …); this line is the gateway's, in the web server's log.
    this.#errors.write(`${logText(`${what}${detail}`)}\n`);
  }
}
