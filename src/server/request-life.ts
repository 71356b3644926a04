/**
 * One request's life in a socket server (FastCGI, uwsgi): the counts the
 * server keeps, the body sources to release, the abort state, and the run of
 * the app. Both servers' request classes extend this one class, so the counts
 * cannot drift apart; as a base class rather than a member it costs a request
 * no object and no closure of its own.
 */
import type { Environ } from '../contract/types.js';
import { RequestAbort } from '../gateway/abort.js';
import { runRequest, type ResponseSink } from '../gateway/engine.js';
import type { ByteSource } from '../gateway/input.js';
import type { AppContext } from './socket-server.js';

/**
 * A server's sink that can stop waiting for its app: `--request-timeout`
 * answered the request (or cut it off), so the server stops counting it as
 * in flight and a stop does not wait for an app that ignores `tsgi.abort`
 * (P6). The app's later return changes nothing.
 */
export interface Abandonable {
  abandon(): void;
}

/** A request from admission to disposal. */
export abstract class RequestLife implements Abandonable {
  /** The request's abort state (`tsgi.abort`). */
  readonly abortState = new RequestAbort();
  readonly #ctx: AppContext;
  #counted = false;
  #over = false;
  #sources: ByteSource[] | null = null;

  constructor(ctx: AppContext) {
    this.#ctx = ctx;
  }

  /** F11: counts towards the concurrent-request limit from now until `release()`. */
  admit(): void {
    if (this.#counted) return;
    this.#counted = true;
    this.#ctx.state.active++;
  }

  /** The response is complete (or can no longer be sent): the request no longer counts (F11). */
  release(): void {
    if (!this.#counted) return;
    this.#counted = false;
    this.#ctx.state.active--;
  }

  /** Keeps `source` to be released when the request ends. */
  own(source: ByteSource): ByteSource {
    (this.#sources ??= []).push(source);
    return source;
  }

  /** Releases the body sources (temp files). */
  dispose(): void {
    const s = this.#sources;
    if (s === null) return;
    this.#sources = null;
    for (let i = 0; i < s.length; i++) s[i]!.dispose?.();
  }

  /**
   * Runs the app on `environ` into `sink`. S6: the app counts as running
   * until it has returned and its body's close() ran; then `appFinished()`
   * tells the protocol, the sources are released and the request stops
   * counting.
   */
  run(environ: Environ, sink: ResponseSink): void {
    this.#ctx.state.running++;
    const running = runRequest(this.#ctx.app, environ, sink, this.abortState);
    // The synchronous path (most requests) allocates no closure.
    if (running === undefined) this.#done();
    else void running.then(() => this.#done());
  }

  /** The app has returned and its body's close() ran. */
  protected abstract appFinished(): void;

  /** P6: timed out and answered: the request is over for the server now, whenever the app returns. */
  abandon(): void {
    this.#done();
  }

  #done(): void {
    if (this.#over) return;
    this.#over = true;
    this.dispose();
    this.appFinished();
    this.release();
    this.#ctx.state.appDone();
  }
}
