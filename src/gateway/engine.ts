/**
 * The engine: runs ONE request of an app against a ResponseSink. This is the
 * TypeScript `run_with_cgi` (PEP 3333 "Specification Details"), and the only
 * place PEP 3333 response semantics live (C11–C22), in parts:
 * start-response.ts (start_response and write(), the base of Run),
 * body-loop.ts (iterating the body), finish.ts (Content-Length and close())
 * and, here, the run of one request that ties them together, with C18's
 * error response, and the response's state machine, the only code that
 * calls the sink:
 *
 *   before-head ──(first bytes, C14)──> streaming ──(end)──> done
 *        │  └─────(the whole response in one write: C20, C18)─────> done
 *        └──────────────┴──(error after the head, short body, abort)──> cut
 *
 * A sink that throws (or whose Promise rejects) means the peer is gone: the
 * response is cut and nothing more is sent.
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from '../contract/errors.js';
import { describe } from '../contract/head.js';
import { log, logText } from '../contract/log.js';
import type { App, Environ, Header, ResponseState, WsgiErrors } from '../contract/types.js';
import type { RequestAbort } from './abort.js';
import { checkBody, notBytes, pump, type BodyHost, type BodyIterator } from './body-loop.js';
import { closeBody, isThenable, overflowMessage, shortBody, wholeHeaders, type Reporter } from './finish.js';
import type { FileWrapper } from './file-wrapper.js';
import { fileBody, offloadHead, offloadSpec, unbufferedHeaders, type OffloadSpec } from './offload.js';
import { ResponseHead } from './start-response.js';

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
  head(status: string, headers: readonly Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void>;
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
 * waiting for anything: a synchronous app returning an array or a sync
 * iterable costs no promise at all (docs/design.md, "Throughput"). The servers'
 * hot path.
 */
export function runRequest(app: App, environ: Environ, sink: ResponseSink, abort: RequestAbort): Promise<void> | undefined {
  if (requestHook !== null) sink = requestHook(environ, sink, abort);
  const run = new Run(sink, environ['wsgi.errors'], abort, offloadSpec(environ['tsgi.offload']));
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

/** One request: the app's run (here) on top of what it set through start_response (ResponseHead). */
class Run extends ResponseHead implements BodyHost, Reporter {
  exhausted = false;
  /** environ['tsgi.response'] (ResponseProgress): a copy for middleware, never read back. */
  readonly progress: { status: string | undefined; state: ResponseState } = { status: undefined, state: 'before-head' };
  readonly #sink: ResponseSink;
  readonly #errors: WsgiErrors;
  readonly #abort: RequestAbort;
  #state: ResponseState = 'before-head';
  #headSent = false;
  #sent = 0; // body bytes handed to the sink
  #overflow = false; // C20: the app produced more than its Content-Length
  #pending: Promise<void> | undefined; // backpressure from write()
  #aborted: Promise<undefined> | undefined;
  /** X1: how this server offloads files, read from the environ before the app could change it. */
  readonly #offload: OffloadSpec | undefined;
  /** The front's SERVER_SOFTWARE (X2: who would act on X-Accel-Buffering). */
  #front: string | undefined = undefined;

  constructor(sink: ResponseSink, errors: WsgiErrors, abort: RequestAbort, offload: OffloadSpec | undefined) {
    super();
    this.#sink = sink;
    this.#errors = errors;
    this.#abort = abort;
    this.#offload = offload;
  }

  /** Calls the app; finishes synchronously when it can (see runRequest). */
  start(app: App, environ: Environ): Promise<void> | undefined {
    const front = environ.SERVER_SOFTWARE;
    if (typeof front === 'string') this.#front = front;
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
    const file = this.#offload === undefined ? undefined : fileBody(body);
    if (file !== undefined && this.#offloaded(file, this.#offload!)) {
      void closeBody(body, undefined, false, this); // the outermost close(): each wrapper closes what it wraps
      return this.#respond([]);
    }
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

  /** X1: a whole file from file_wrapper, nothing sent yet, becomes a head naming it for the web server; true when it did. */
  #offloaded(body: FileWrapper, spec: OffloadSpec): boolean {
    const headers = this.headSent() || this.wrote ? undefined : offloadHead(spec, body.fd, this.status, this.headers);
    if (headers !== undefined) this.replaceHeaders(headers);
    return headers !== undefined;
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
    const p = this.#sendWhole(this.needStatus(), headers, chunk);
    return p ? this.#drain(p) : true;
  }

  /** The body loop is over: finish the response (C20), or cut it when the loop was stopped. */
  #ended(finished: boolean): void {
    if (this.#over()) return; // already over (the single write, a sink gone)
    if (!finished) {
      this.#cut(this.#abort.aborted ? this.#abort.reason : new Error('response stopped'));
    } else if (this.#state === 'before-head') {
      // Nothing was sent at all, so the length is known: 0 (vector W5), unless the app declared more.
      const status = this.needStatus();
      const headers = wholeHeaders(this.headers, this.declared, 0);
      if (headers !== undefined) void this.#sendWhole(status, headers, EMPTY);
      else {
        void this.#sendHead(status, null);
        this.#short();
      }
    } else if (shortBody(this.declared, this.#sent) !== undefined) {
      this.#short();
    } else {
      this.#end();
    }
  }

  /** BodyHost: one chunk, sent, and waited on only when the sink pushes back. */
  send(chunk: Uint8Array): boolean | Promise<boolean> {
    const p = this.#emit(chunk, false);
    if (p || this.#pending) return this.#drain(p);
    return this.#overflow;
  }

  stopped(): boolean {
    return this.#over() || this.#abort.aborted;
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
    if (this.#over() || this.#overflow) return;
    const status = this.needStatus();
    const declared = this.declared;
    if (declared >= 0 && chunk.length > declared - this.#sent) {
      // C20: never more than the declared length.
      this.#overflow = true;
      this.report(overflowMessage(declared));
      chunk = chunk.subarray(0, declared - this.#sent);
    }
    if (this.#state === 'before-head') {
      if (chunk.length === 0 && !fromWrite) return; // C14: empty chunks send nothing
      return this.#sendHead(status, chunk.length ? chunk : null);
    }
    return chunk.length === 0 ? undefined : this.#sendChunk(chunk);
  }

  /** C18: an error from the app: the fixed 500 while the head is held back, else the response is cut. */
  #fail(err: unknown): undefined {
    this.report('the application raised an error', err);
    if (this.#state === 'before-head') {
      const headers: Header[] = [['Content-Type', 'text/plain'], ['Content-Length', String(ERROR_BODY.length)]];
      void this.#sendWhole(ERROR_STATUS, headers, ERROR_BODY);
    } else {
      this.#cut(err);
    }
    return undefined;
  }

  #short(): void {
    // C20: a body shorter than its Content-Length must not look complete.
    const msg = shortBody(this.declared, this.#sent)!;
    this.report(msg);
    this.#cut(new GatewayError('ERR_BAD_CONTENT_LENGTH', msg));
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

  // The state machine: the only code that calls the sink.

  /** True once the head went to the web server (C15 then re-raises excInfo). */
  protected headSent(): boolean {
    return this.#headSent;
  }

  /** True once the response is done or cut: nothing more goes to the sink. */
  #over(): boolean {
    return this.#state === 'done' || this.#state === 'cut';
  }

  /** before-head -> streaming: the head with the first body bytes, if any. */
  #sendHead(status: string, chunk: Uint8Array | null): void | Promise<void> {
    this.#headOut(status, 'streaming', chunk === null ? 0 : chunk.length);
    try {
      // X2: a stream that must not wait in the web server's buffers says so.
      return this.#wait(this.#sink.head(status, unbufferedHeaders(this.headers, this.#front), chunk, false));
    } catch (e) {
      this.#gone(e);
    }
  }

  /** before-head -> done: head, whole body and end in a single write (docs/design.md, "Throughput"). */
  #sendWhole(status: string, headers: readonly Header[], chunk: Uint8Array): void | Promise<void> {
    this.#headOut(status, 'done', chunk.length);
    try {
      return this.#wait(this.#sink.head(status, headers, chunk.length ? chunk : null, true));
    } catch (e) {
      this.#gone(e);
    }
  }

  /** streaming: one more non-empty chunk. */
  #sendChunk(chunk: Uint8Array): void | Promise<void> {
    this.#sent += chunk.length;
    try {
      return this.#wait(this.#sink.write(chunk));
    } catch (e) {
      this.#gone(e);
    }
  }

  /** streaming -> done. */
  #end(): void {
    this.#to('done');
    try {
      this.#sink.end();
    } catch (e) {
      this.#gone(e);
    }
  }

  /** before-head | streaming -> cut: the sink cuts the response off. */
  #cut(reason: unknown): void {
    if (this.#over()) return;
    this.#to('cut');
    try {
      this.#sink.abort(reason);
    } catch (e) {
      log('error', `response sink failed to abort: ${String(e)}`);
    }
  }

  /** -> cut: the sink failed, so the client is gone. */
  #gone(e: unknown): void {
    if (this.#state !== 'cut') log('debug', `response sink failed, the client is gone: ${String(e)}`);
    this.#to('cut');
  }

  #headOut(status: string, state: ResponseState, bytes: number): void {
    this.#headSent = true;
    this.#sent = bytes;
    this.progress.status = status;
    this.#to(state);
  }

  #to(state: ResponseState): void {
    this.#state = state;
    this.progress.state = state;
  }

  #wait(p: void | Promise<void>): void | Promise<void> {
    if (p) return p.catch((e: unknown) => this.#gone(e));
  }
}
