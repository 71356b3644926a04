/**
 * One request's life in a socket server (FastCGI, uwsgi): the counts the
 * server keeps, the body sources to release, the abort state, and the run of
 * the app. Both servers' request classes extend this one class, so the counts
 * cannot drift apart; as a base class rather than a member it costs a request
 * no object and no closure of its own.
 */
import { log, logs } from '../contract/log.js';
import type { App, Environ } from '../contract/types.js';
import { RequestAbort } from '../gateway/abort.js';
import { runRequest, type ResponseSink } from '../gateway/engine.js';
import type { ByteSource } from '../gateway/input.js';
import { busyApp, type Waiter } from './request-queue.js';
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
export abstract class RequestLife implements Abandonable, Waiter {
  /** The request's abort state (`tsgi.abort`). */
  readonly abortState = new RequestAbort();
  readonly #ctx: AppContext;
  #counted = false;
  #over = false;
  #sources: ByteSource[] | null = null;
  /** O7: set while the request waits for a slot. */
  #waiting: { environ: Environ; sink: ResponseSink } | null = null;

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
   * counting. O7: with every slot busy it first waits in the server's queue.
   */
  run(environ: Environ, sink: ResponseSink): void {
    const state = this.#ctx.state;
    if (state.queue.mustWait()) {
      // O7: no slot free: wait for one, at most the queue timeout.
      this.#waiting = { environ, sink };
      // O7: a client that leaves while its request waits (FCGI_ABORT_REQUEST, the connection lost) takes it out.
      void this.abortState.wait().then(this.#left);
      this.waitChanged(true);
      state.queue.push(this);
      if (logs('debug') && this.#waiting !== null) log('debug', `${String(environ.REQUEST_METHOD)} ${String(environ.REQUEST_URI ?? environ.PATH_INFO)}: every request slot is busy; waiting (${state.queue.length} waiting)`);
      return;
    }
    this.#go(environ, sink);
  }

  #go(environ: Environ, sink: ResponseSink, app: App = this.#ctx.app): void {
    this.#ctx.state.running++;
    const running = runRequest(app, environ, sink, this.abortState);
    // The synchronous path (most requests) allocates no closure.
    if (running === undefined) this.#done();
    else void running.then(() => this.#done());
  }

  /** O7: waiting for a slot. */
  get waiting(): boolean {
    return this.#waiting !== null;
  }

  /** O7 (the queue calls it): a slot is free. A request whose client has left is never run. */
  proceed(): void {
    const w = this.#waiting;
    if (w === null) return;
    this.#waiting = null;
    this.waitChanged(false);
    if (this.abortState.aborted) { this.#ctx.state.queue.counts.dropped++; this.#drop(); return; }
    this.#go(w.environ, w.sink);
  }

  /** O7 (the queue calls it): no slot came free in time: 503, without running the app. */
  expire(waitedMs: number): void {
    const w = this.#waiting;
    if (w === null) return;
    this.#waiting = null;
    this.waitChanged(false);
    const limits = this.#ctx.state.limits;
    log('warn', `${String(w.environ.REQUEST_METHOD)} ${String(w.environ.REQUEST_URI ?? w.environ.PATH_INFO)}: no request slot free after ${waitedMs} ms (maxRequests ${limits.maxRequests}, queue timeout ${limits.queueTimeoutMs} ms); answered 503`);
    // Through the engine, so that the 503 is logged and counted like any response; the app is not called.
    this.#go(w.environ, w.sink, busyApp(limits.queueTimeoutMs));
  }

  /** O7: the client left while the request waited: out of the queue, never run. */
  readonly #left = (): void => {
    if (this.#waiting === null) return;
    this.#ctx.state.queue.remove(this);
    this.#waiting = null;
    this.waitChanged(false);
    this.#drop();
  };

  #drop(): void {
    // Over without ever running: nothing may count it as a finished app later.
    this.#over = true;
    if (logs('debug')) log('debug', `a waiting request was dropped unrun: ${String(this.abortState.reason instanceof Error ? this.abortState.reason.message : this.abortState.reason)}`);
    this.dispose();
    this.appFinished();
    this.release();
  }

  /**
   * O7: the request begins (`true`) or ends (`false`) its wait for a slot. A
   * protocol that stopped reading its connection reads it again meanwhile, to
   * see the web server leave.
   */
  protected waitChanged(_waiting: boolean): void { /* nothing by default */ }

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
