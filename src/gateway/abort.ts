/**
 * The abort state of one request. The engine reads a plain flag; the
 * AbortSignal that apps see as `tsgi.abort` is made on first use (when
 * the environ is built).
 */
export class RequestAbort {
  /** True once the web server aborted the request or the client went away. */
  aborted = false;
  reason: unknown = undefined;
  #controller: AbortController | undefined;
  #waiters: (() => void)[] | undefined;

  /** The AbortSignal for `tsgi.abort`, made on first use. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  /** Abort the request (once; later calls do nothing). */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new Error('request aborted');
    this.#controller?.abort(this.reason);
    const waiters = this.#waiters;
    this.#waiters = undefined;
    if (waiters) for (const w of waiters) w();
  }

  /** Resolves when the request is aborted. */
  wait(): Promise<void> {
    if (this.aborted) return Promise.resolve();
    return new Promise((resolve) => (this.#waiters ??= []).push(resolve));
  }
}
