/**
 * The per-request bookkeeping of a production server, behind the engine's
 * one request hook (setRequestHook): the access-log line when a response is
 * over, the count of served requests (`--max-requests`), the requests in
 * flight (named when a worker hangs or stops), and `--request-timeout`
 * (504 before the head, the response cut off after it; `tsgi.abort` fires).
 */
import { accessLine, requestLine, type AccessFormat } from '../contract/access-log.js';
import { GatewayError } from '../contract/errors.js';
import { log } from '../contract/log.js';
import type { Environ, Header } from '../contract/types.js';
import type { RequestAbort } from '../gateway/abort.js';
import { setRequestHook, type ResponseSink } from '../gateway/engine.js';
import type { Abandonable } from './request-life.js';
import { declaredLength, type WorkerStats } from './worker-stats.js';

/** What the tracker does. */
export interface TrackerOptions {
  /** Where access-log lines go (none: no line is built). */
  accessLog?: ((line: string) => void) | null;
  /** `combined` (default) or `json`. */
  accessFormat?: AccessFormat;
  /** Abort a request still running after this, ms (0 or absent: never). */
  requestTimeoutMs?: number;
  /** Called after each finished request with the number served so far. */
  onFinished?: (served: number) => void;
  /** Shows each request while it runs (`--timeout`: the master names a stuck worker's requests). */
  board?: { start(line: string): number; end(slot: number): void };
  /** O1, O2: counts each finished request for the master's metrics and status. */
  stats?: WorkerStats;
}

const TIMEOUT_BODY = Buffer.from('Gateway Timeout: the application took too long to answer.\n', 'latin1');

/** Tracks the requests of this process; `install()` puts it behind the engine. */
export class RequestTracker {
  /** Requests finished so far. */
  served = 0;
  readonly inFlight = new Set<TrackedSink>();
  readonly options: TrackerOptions;
  #sweep: ReturnType<typeof setInterval> | undefined;

  constructor(options: TrackerOptions) {
    this.options = options;
  }

  /** Routes every request through this tracker (and starts the timeout sweep). */
  install(): void {
    setRequestHook((environ, sink, abort) => new TrackedSink(this, environ, sink, abort));
    const ms = this.options.requestTimeoutMs ?? 0;
    if (ms > 0) {
      // A coarse sweep, not a timer per request: the hot path pays nothing for it.
      this.#sweep = setInterval(() => {
        const now = performance.now();
        for (const r of this.inFlight) if (now - r.started > ms) r.timeout(ms);
      }, Math.max(50, Math.min(1000, Math.floor(ms / 4))));
      this.#sweep.unref();
    }
  }

  /** Takes the tracker out of the engine. */
  uninstall(): void {
    setRequestHook(null);
    if (this.#sweep) clearInterval(this.#sweep);
  }

  /** The requests in flight, for a log line: `GET /slow (running 3.2 s)`. */
  describe(max = 10): string[] {
    const now = performance.now();
    const out: string[] = [];
    for (const r of this.inFlight) {
      if (out.length === max) { out.push(`and ${this.inFlight.size - max} more`); break; }
      out.push(`${r.line} (running ${((now - r.started) / 1000).toFixed(1)} s)`);
    }
    return out;
  }

  /** A request is over. */
  finished(r: TrackedSink): void {
    this.inFlight.delete(r);
    this.options.board?.end(r.slot);
    this.served++;
    this.options.stats?.observe(r.status, declaredLength(r.environ), r.bytes, performance.now() - r.started);
    const sink = this.options.accessLog;
    if (sink) {
      const micros = Math.max(0, Math.round((performance.now() - r.started) * 1000));
      sink(accessLine(r.environ, { status: r.status, bytes: r.bytes, when: r.when, micros, ...(r.error !== undefined ? { error: r.error } : {}) }, this.options.accessFormat));
    }
    this.options.onFinished?.(this.served);
  }
}

/** One request's sink, wrapped: watches the status, the bytes and the end. */
class TrackedSink implements ResponseSink {
  readonly environ: Environ;
  readonly started = performance.now();
  readonly when = new Date();
  status = 0;
  bytes = 0;
  error: unknown = undefined;
  /** Its place on the in-flight board, if there is one. */
  slot = -1;
  #tracker: RequestTracker;
  #inner: ResponseSink;
  #abort: RequestAbort;
  #headSent = false;
  #done = false;

  constructor(tracker: RequestTracker, environ: Environ, inner: ResponseSink, abort: RequestAbort) {
    this.#tracker = tracker;
    this.environ = environ;
    this.#inner = inner;
    this.#abort = abort;
    tracker.inFlight.add(this);
    if (tracker.options.board) this.slot = tracker.options.board.start(this.line);
    // The server writes this request's access line: a logging() layer in the app adds none (P8: one line per request).
    if (tracker.options.accessLog) environ['tsgi.logged'] = true;
  }

  /** `METHOD target`, escaped. */
  get line(): string {
    return requestLine(this.environ);
  }

  head(status: string, headers: readonly Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void> {
    if (this.#done) return;
    this.#headSent = true;
    this.status = Number(status.slice(0, 3));
    if (chunk) this.bytes += chunk.length;
    const p = this.#inner.head(status, headers, chunk, last);
    if (last) this.#finish();
    return p;
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.#done) return;
    this.bytes += chunk.length;
    return this.#inner.write(chunk);
  }

  end(): void {
    if (this.#done) return;
    this.#inner.end();
    this.#finish();
  }

  abort(reason: unknown): void {
    if (this.#done) return;
    this.error = reason;
    this.#inner.abort(reason);
    this.#finish();
  }

  /** `--request-timeout`: 504 when nothing was sent yet, else cut the response off; either way `tsgi.abort` fires. */
  timeout(ms: number): void {
    if (this.#done) return;
    const err = new GatewayError('ERR_REQUEST_TIMEOUT', `${this.line}: still running after ${ms / 1000} s (--request-timeout); aborted`);
    // P6: said in the error log (the access log, when there is one, has its 504 too).
    const age = ((performance.now() - this.started) / 1000).toFixed(1);
    log('warn', `${this.line}: still running after ${age} s (--request-timeout ${ms / 1000}): ${this.#headSent ? 'response cut off' : 'answered 504'}, tsgi.abort fired`);
    // The request is over for its server from now on: a stop waits for it no longer.
    const inner = this.#inner as ResponseSink & Partial<Abandonable>;
    queueMicrotask(() => inner.abandon?.());
    if (!this.#headSent) {
      this.#headSent = true;
      this.status = 504;
      this.bytes = TIMEOUT_BODY.length;
      this.error = err;
      const headers: Header[] = [['Content-Type', 'text/plain'], ['Content-Length', String(TIMEOUT_BODY.length)]];
      try {
        const p = this.#inner.head('504 Gateway Timeout', headers, TIMEOUT_BODY, true);
        if (p) p.catch(() => { /* the connection is gone: the abort below still ends the request */ });
      } catch { /* as above */ }
      this.#finish();
      this.#abort.abort(err);
      return;
    }
    this.#abort.abort(err);
    this.abort(err);
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#tracker.finished(this);
  }
}
