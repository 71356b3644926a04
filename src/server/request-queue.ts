/**
 * O7: the bounded wait for a request slot. A request that is ready to run
 * while the process already runs `maxRequests` apps waits here, first come
 * first served, until a slot frees or `queueTimeoutMs` passes; then it is
 * answered 503 without running. Every request waits the same time, so the
 * head of the queue always has the nearest deadline: one timer serves the
 * whole queue, armed for the head, which is what makes the 503 come close to
 * its deadline (a sweep on the coarse clock could be a second late).
 */
import type { App, Header } from '../contract/types.js';
import { refusalResponse } from '../gateway/intake.js';

/**
 * O7: the default queue timeout, ms. Long enough to absorb a burst (most
 * requests that find every slot busy get one within a few hundred ms), short
 * enough that a saturated process answers 503 well before a web server's own
 * upstream timeout (nginx: 60 s) turns the wait into a 504, so that a load
 * balancer can send the retry elsewhere.
 */
export const DEFAULT_QUEUE_TIMEOUT_MS = 5000;

/**
 * O7: the app that answers a request whose wait ran out: 503 with
 * Retry-After and a fixed text. It runs through the engine like any app, so
 * the access log, the metrics and the request hooks count the 503 as they
 * count any response; the application itself is never called.
 */
export function busyApp(queueTimeoutMs: number): App {
  const r = refusalResponse({ status: '503 Service Unavailable', reason: 'The server is busy; try again shortly.' });
  // A hint for clients and proxies that retry: about the time a slot took too long to free.
  const headers: Header[] = [...r.headers, ['Retry-After', String(Math.max(1, Math.ceil(queueTimeoutMs / 1000)))]];
  return (_environ, start) => {
    start(r.status, headers);
    return [r.body];
  };
}

/** The longest delay setTimeout takes as given. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A request waiting for a slot, as the queue sees it. */
export interface Waiter {
  /** A slot is free: run now, or drop the request if its client has left. */
  proceed(): void;
  /** The queue timeout passed (or the queue is full): answer 503 without running. */
  expire(waitedMs: number): void;
}

/** What the queue has done since the server started (for logs and tests). */
export interface QueueCounts {
  /** Requests that had to wait. */
  queued: number;
  /** Requests answered 503 at the queue timeout (or because the queue was full). */
  timedOut: number;
  /** Requests dropped unrun because their client left while they waited. */
  dropped: number;
}

/** The FIFO of requests waiting for a slot (O7). */
export class RequestQueue {
  readonly timeoutMs: number;
  readonly maxLength: number;
  readonly counts: QueueCounts = { queued: 0, timedOut: 0, dropped: 0 };
  #waiters: Waiter[] = [];
  #deadlines: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dispatching = false;
  readonly #slotFree: () => boolean;

  /** `slotFree` tells whether one more app may run now. */
  constructor(timeoutMs: number, maxLength: number, slotFree: () => boolean) {
    this.timeoutMs = timeoutMs;
    this.maxLength = maxLength;
    this.#slotFree = slotFree;
  }

  /** Requests waiting. */
  get length(): number {
    return this.#waiters.length;
  }

  /**
   * True when a request ready to run must wait: the queue is on, and no slot
   * is free or others wait already (first come, first served).
   */
  mustWait(): boolean {
    return this.timeoutMs > 0 && (this.#waiters.length > 0 || !this.#slotFree());
  }

  /** Adds `w` at the tail. A full queue answers it 503 at once (it is bounded too). */
  push(w: Waiter): void {
    this.counts.queued++;
    if (this.#waiters.length >= this.maxLength) {
      this.counts.timedOut++;
      w.expire(0);
      return;
    }
    this.#waiters.push(w);
    this.#deadlines.push(Date.now() + this.timeoutMs);
    if (this.#timer === undefined) this.#arm();
  }

  /** Takes `w` out (its client left); false when it was not waiting. */
  remove(w: Waiter): boolean {
    const i = this.#waiters.indexOf(w);
    if (i < 0) return false;
    this.#waiters.splice(i, 1);
    this.#deadlines.splice(i, 1);
    this.counts.dropped++;
    if (i === 0) this.#rearm();
    return true;
  }

  /**
   * A slot freed: start waiting requests while slots are free. Re-entry (an
   * app that finishes synchronously frees its slot inside `proceed`) is
   * folded into the running loop instead of recursing once per request.
   */
  next(): void {
    if (this.#dispatching || this.#waiters.length === 0) return;
    this.#dispatching = true;
    try {
      while (this.#waiters.length > 0 && this.#slotFree()) {
        const w = this.#waiters.shift()!;
        this.#deadlines.shift();
        w.proceed();
      }
    } finally {
      this.#dispatching = false;
      this.#rearm();
    }
  }

  #rearm(): void {
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined; }
    if (this.#waiters.length > 0) this.#arm();
  }

  #arm(): void {
    // Clamped to setTimeout's range (a longer delay would fire at once); the expiry re-arms.
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, this.#deadlines[0]! - Date.now()));
    this.#timer = setTimeout(this.#expire, wait);
    // Queued requests hold their connections open; the timer need not hold the process.
    this.#timer.unref();
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = Date.now();
    while (this.#waiters.length > 0 && this.#deadlines[0]! <= now) {
      const w = this.#waiters.shift()!;
      const deadline = this.#deadlines.shift()!;
      this.counts.timedOut++;
      w.expire(now - deadline + this.timeoutMs);
    }
    if (this.#waiters.length > 0) this.#arm();
  };
}
