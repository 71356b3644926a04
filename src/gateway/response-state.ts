/**
 * The engine's state machine, and the only code that calls a ResponseSink:
 *
 *   before-head ──(first bytes, C14)──> streaming ──(end)──> done
 *        │  └─────(the whole response in one write: C20, C18)─────> done
 *        └──────────────┴──(error after the head, short body, abort)──> cut
 *
 * A sink that throws (or whose Promise rejects) means the peer is gone: the
 * response is cut and nothing more is sent.
 */
import { log } from '../contract/log.js';
import type { Header, ResponseState } from '../contract/types.js';
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

/** One response's state and its transitions; the engine decides which to take. */
export abstract class ResponseStates extends ResponseHead {
  /** environ['tsgi.response'] (ResponseProgress): a copy for middleware, never read back. */
  readonly progress: { status: string | undefined; state: ResponseState } = { status: undefined, state: 'before-head' };
  readonly #sink: ResponseSink;
  #state: ResponseState = 'before-head';
  #headSent = false;
  #sent = 0; // body bytes handed to the sink

  constructor(sink: ResponseSink) {
    super();
    this.#sink = sink;
  }

  /** True once the response is done or cut: nothing more goes to the sink. */
  protected over(): boolean {
    return this.#state === 'done' || this.#state === 'cut';
  }

  /** True until the head went out (C14). */
  protected beforeHead(): boolean {
    return this.#state === 'before-head';
  }

  protected headSent(): boolean {
    return this.#headSent;
  }

  /** Body bytes handed to the sink (C20). */
  protected get sent(): number {
    return this.#sent;
  }

  /** before-head -> streaming: the head with the first body bytes, if any. */
  protected sendHead(status: string, chunk: Uint8Array | null): void | Promise<void> {
    this.#headOut(status, 'streaming', chunk === null ? 0 : chunk.length);
    try {
      return this.#wait(this.#sink.head(status, this.headers, chunk, false));
    } catch (e) {
      this.#gone(e);
    }
  }

  /** before-head -> done: head, whole body and end in a single write (docs/design.md, "Throughput"). */
  protected sendWhole(status: string, headers: readonly Header[], chunk: Uint8Array): void | Promise<void> {
    this.#headOut(status, 'done', chunk.length);
    try {
      return this.#wait(this.#sink.head(status, headers, chunk.length ? chunk : null, true));
    } catch (e) {
      this.#gone(e);
    }
  }

  /** streaming: one more non-empty chunk. */
  protected sendChunk(chunk: Uint8Array): void | Promise<void> {
    this.#sent += chunk.length;
    try {
      return this.#wait(this.#sink.write(chunk));
    } catch (e) {
      this.#gone(e);
    }
  }

  /** streaming -> done. */
  protected end(): void {
    this.#to('done');
    try {
      this.#sink.end();
    } catch (e) {
      this.#gone(e);
    }
  }

  /** before-head | streaming -> cut: the sink cuts the response off. */
  protected cut(reason: unknown): void {
    if (this.over()) return;
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
